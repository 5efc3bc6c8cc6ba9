"""Console tables and comparison plots after a grid: each algorithm's result over seeds
beside the paper's value. The suite supplies its result columns and plot."""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from ..suites import get_suite
from . import references


def paper_dataset_of(res) -> str | None:
    holds = None
    if res.spec.dataset == "imagefolder" and res.spec.data_root:
        from datasets.imagefolder import guess_paper_dataset

        holds = guess_paper_dataset(Path(res.spec.data_root))
    return references.paper_dataset(res.spec.dataset, holds)


def format_rows(cols: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned fixed-width text table: a header line and one line per row."""
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*cols)] + [fmt.format(*r) for r in rows]


def _group_key(r) -> tuple:
    return (r.spec.suite, r.spec.dataset, r.spec.model, r.spec.setting, r.spec.scale)


def _table(rs: Sequence) -> str:
    suite = get_suite(rs[0].spec.suite)
    s0 = rs[0].spec
    paper_ds = paper_dataset_of(rs[0])
    head = " / ".join(x for x in (s0.dataset, s0.model, s0.setting) if x) + f"  [scale: {s0.scale}]"
    lines = [head, "-" * len(head)]
    lines += [f"  note: {n}" for n in sorted({r.spec.scale_note for r in rs if r.spec.scale_note})]
    lines += suite.table_preamble(rs)
    by_algo: dict[str, list] = defaultdict(list)
    for r in rs:
        by_algo[r.spec.algorithm].append(r)
    cols, rows, any_ref = [], [], False
    for algo, ars in by_algo.items():
        ok = [r for r in ars if r.status == "FINISHED"]
        failed = len(ars) - len(ok)
        values = suite.value_columns(rs, ok, paper_ds)
        ref = suite.reference(paper_ds, s0.model, algo, s0.setting, bn_eval=s0.bn_eval, profile=s0.profile)
        any_ref |= ref is not None
        mean = statistics.fmean([100 * r.metrics[suite.style.test_metric] for r in ok]) if ok else None
        paper = "-"
        if ref:
            paper = f"{ref.value:.2f}" + (f" +- {ref.spread:.2f}" if ref.spread is not None else "")
        cols = ["algorithm", suite.style.count_header, *values, f"paper ({paper_ds or '-'})", "diff", "time/run s"]
        rows.append([algo, f"{len(ok)}" + (f" ({failed} failed)" if failed else ""), *values.values(), paper,
                     f"{mean - ref.value:+.2f}" if ref and mean is not None else "-",
                     f"{statistics.fmean([r.wall_time for r in ars]):.1f}"])
    lines += format_rows(cols, rows)
    if s0.scale != "paper" and any_ref:
        lines.append(f"  (paper values are the full {paper_ds} protocol; this run is {s0.scale}-scale: compare differences, not levels)")
    return "\n".join(lines)


def tables(results: Sequence) -> str:
    """One table per (suite, dataset, model, setting, scale)."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in results:
        groups[_group_key(r)].append(r)
    return "\n\n".join(_table(rs) for rs in groups.values())


def comparison_plots(results: Sequence, out: Path, suffix: str = "") -> list[str]:
    """One figure per (suite, profile, dataset, model, setting) of finished runs; returns
    the console lines naming them. ``suffix`` (a shard's, e.g. ``-shard1of2``) keeps two shards' figures apart."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in results:
        if r.status == "FINISHED":
            groups[(r.spec.suite, r.spec.profile, r.spec.dataset, r.spec.model, r.spec.setting)].append(r)
    lines = []
    for (suite_name, profile, ds, model, setting), rs in groups.items():
        suite = get_suite(suite_name)
        name = "-".join([suite_name, profile, ds, model] + ([setting.replace(" ", "")] if setting else [])) + suffix + ".png"
        title = " / ".join(x for x in (ds, model, setting) if x) + f" ({profile})"
        path = suite.comparison_plot(rs, title, out / name)
        lines.append(f"{suite.style.curve_label}: {path}")
    return lines
