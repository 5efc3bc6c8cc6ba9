"""Console tables: each algorithm's mean +- std over seeds beside the paper's value."""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

from . import references
from .runner import RunResult


def _mean_std(xs: Sequence[float]) -> tuple[float, float]:
    if not xs:
        return float("nan"), float("nan")
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def paper_dataset_of(res: RunResult) -> str | None:
    holds = None
    if res.spec.dataset == "imagefolder" and res.spec.data_root:
        from pathlib import Path

        from datasets.imagefolder import guess_paper_dataset

        holds = guess_paper_dataset(Path(res.spec.data_root))
    return references.paper_dataset(res.spec.dataset, holds)


def format_rows(cols: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned fixed-width text table: a header line and one line per row."""
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*cols)] + [fmt.format(*r) for r in rows]


def fewshot_tables(results: Sequence[RunResult]) -> str:
    """One table per (dataset, model, setting): mean test accuracy over the fixed episodes
    (with its 95% CI; over several seeds, the mean of the seeds and their std)."""
    groups: dict[tuple, list[RunResult]] = defaultdict(list)
    for r in results:
        groups[(r.spec.dataset, r.spec.model, r.spec.setting, r.spec.scale)].append(r)
    out = []
    for (dataset, model, setting, scale), rs in groups.items():
        paper_ds = paper_dataset_of(rs[0])
        head = f"{dataset} / {model} / {setting}  [scale: {scale}]"
        lines = [head, "-" * len(head)]
        notes = sorted({r.spec.scale_note for r in rs if r.spec.scale_note})
        lines += [f"  note: {n}" for n in notes]
        s0 = rs[0].spec
        lines.append(f"  {s0.test_episodes} fixed test episodes ({s0.queries} queries per class), the same for every algorithm")
        cols = ["algorithm", "seeds", "test acc % (95% CI)", "seed std", f"paper ({paper_ds or '-'})", "diff", "time/run s"]
        by_algo: dict[str, list[RunResult]] = defaultdict(list)
        for r in rs:
            by_algo[r.spec.algorithm].append(r)
        rows = []
        for algo, ars in by_algo.items():
            ok = [r for r in ars if r.status == "FINISHED"]
            failed = len(ars) - len(ok)
            accs = [100 * r.metrics["test_acc"] for r in ok]
            m, sd = _mean_std(accs)
            ci = statistics.fmean([100 * r.metrics["test_ci95"] for r in ok]) if ok else float("nan")
            ref = references.lookup("fewshot", paper_ds, model, algo, "accuracy", setting)
            row = [algo, f"{len(ok)}" + (f" ({failed} failed)" if failed else ""), f"{m:.2f} +- {ci:.2f}" if ok else "-",
                   f"{sd:.2f}" if len(ok) > 1 else "-"]
            if ref:
                spread = f" +- {ref.spread:.2f}" if ref.spread is not None else ""
                row += [f"{ref.value:.2f}{spread}", f"{m - ref.value:+.2f}" if ok else "-"]
            else:
                row += ["-", "-"]
            row.append(f"{statistics.fmean([r.wall_time for r in ars]):.1f}")
            rows.append(row)
        lines += format_rows(cols, rows)
        out.append("\n".join(lines))
    return "\n\n".join(out)


def tables(results: Sequence[RunResult]) -> str:
    if results and results[0].spec.episodic:
        return fewshot_tables(results)
    groups: dict[tuple, list[RunResult]] = defaultdict(list)
    for r in results:
        groups[(r.spec.suite, r.spec.dataset, r.spec.model, r.spec.scale)].append(r)
    out = []
    for (suite, dataset, model, scale), rs in groups.items():
        paper_ds = paper_dataset_of(rs[0])
        notes = sorted({r.spec.scale_note for r in rs if r.spec.scale_note})
        head = f"{dataset} / {model}  [scale: {scale}]"
        lines = [head, "-" * len(head)]
        if notes:
            lines += [f"  note: {n}" for n in notes]
        has5 = any("final_test_top5" in r.metrics for r in rs)
        cols = ["algorithm", "n", "test top-1 %"] + (["test top-5 %"] if has5 else []) + ["val top-1 %", f"paper ({paper_ds or '-'})", "diff", "time/run s"]
        rows = []
        by_algo: dict[str, list[RunResult]] = defaultdict(list)
        for r in rs:
            by_algo[r.spec.algorithm].append(r)
        for algo, ars in by_algo.items():
            ok = [r for r in ars if r.status == "FINISHED"]
            failed = len(ars) - len(ok)
            m1, s1 = _mean_std([100 * r.metrics["final_test_acc"] for r in ok])
            mv, sv = _mean_std([100 * r.metrics["final_val_acc"] for r in ok])
            ref = references.lookup(suite, paper_ds, model, algo, "top1")
            row = [algo, f"{len(ok)}" + (f" ({failed} failed)" if failed else ""), f"{m1:.2f} +- {s1:.2f}" if ok else "-"]
            if has5:
                m5, s5 = _mean_std([100 * r.metrics.get("final_test_top5", float("nan")) for r in ok])
                ref5 = references.lookup(suite, paper_ds, model, algo, "top5")
                row.append(f"{m5:.2f} +- {s5:.2f}" + (f" (paper {ref5.value:.1f})" if ref5 else ""))
            row.append(f"{mv:.2f} +- {sv:.2f}" if ok else "-")
            if ref:
                row += [f"{ref.value:.1f} +- {ref.spread:.2f}" if ref.spread is not None else f"{ref.value:.1f}", f"{m1 - ref.value:+.2f}" if ok else "-"]
            else:
                row += ["-", "-"]
            row.append(f"{statistics.fmean([r.wall_time for r in ars]):.1f}")
            rows.append(row)
        lines += format_rows(cols, rows)
        if scale != "paper" and paper_ds and any(references.lookup(suite, paper_ds, model, a, "top1") for a in by_algo):
            lines.append(f"  (paper values are the full {paper_ds} protocol; this run is {scale}-scale: compare differences, not levels)")
        out.append("\n".join(lines))
    return "\n\n".join(out)
