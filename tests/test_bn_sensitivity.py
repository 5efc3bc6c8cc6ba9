"""scripts/bn_sensitivity.py: the sensitivity table paired with Table 1 by seed over the same episodes. Its interval,
p and t interval are the statistics of the seed-paired matrices (so a mispairing of seeds changes them), the runs paired
are the ones the tables count (the newest of a repeated configuration), each side's CPU is named, a mode whose runs
diverged is listed with its reasons, runs on other episodes or of two modes in one folder are refused, and the committed
page is what the committed raw results give."""
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.report import raw, stats

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bn_sensitivity", ROOT / "scripts" / "bn_sensitivity.py")
bn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bn)
EPISODES, SEEDS = 40, 4


def _run(run_id, algorithm, seed, mode, status="FINISHED", start=5, fingerprint="f1", error="", cpu="AMD EPYC"):
    return {"run_id": run_id, "suite": "fewshot", "status": status, "start_time": start, "config_key": f"{algorithm}{seed}{mode}",
            "dataset": "omniglot", "source": "", "model": "conv4", "algorithm": algorithm, "seed": seed,
            "setting": "5-way 1-shot", "bn_eval": mode, "profile": "p", "scale": "reduced", "scale_note": "",
            "paper_dataset": "", "source_run_id": "", "hardware": f"{cpu}, 1 threads",
            "episodes_fingerprint": fingerprint if status == "FINISHED" else "", "acc": np.nan, "error": error}


def _folder(path: Path, runs: list[dict], accs: dict[str, np.ndarray]) -> Path:
    """Raw results: the runs in a shuffled order, and each finished run's per-episode accuracies (its acc their mean)."""
    df = pd.DataFrame(runs).sample(frac=1, random_state=1)
    df["acc"] = [accs[r].mean() if r in accs else np.nan for r in df.run_id]
    episodes = pd.DataFrame([{"run_id": r, "episode": i, "acc": a} for r, x in accs.items() for i, a in enumerate(x)])
    raw.write(path, "fewshot", df, episodes.sample(frac=1, random_state=2))
    return path


@pytest.fixture
def folders(tmp_path):
    """protonet at 4 seeds in both modes with a large per-seed effect shared by both (so pairing by seed matters),
    seed 1 of the transductive side run twice (the older one superseded), and maml diverged in the inductive mode
    at seeds 0 and 1 with two reasons."""
    rng = np.random.default_rng(0)
    offset = {s: 10.0 * s for s in range(SEEDS)}
    acc = {f"t{s}": 50 + offset[s] + rng.normal(0, 8, EPISODES) for s in range(SEEDS)}
    acc |= {f"i{s}": acc[f"t{s}"] - 1.0 + rng.normal(0, 0.5, EPISODES) for s in range(SEEDS)}  # the same episodes, -1 pp
    acc["t1old"] = np.full(EPISODES, 5.0)
    table1 = _folder(tmp_path / "t1", [_run("t1old", "protonet", 1, "transductive", start=1)]
                     + [_run(f"t{s}", "protonet", s, "transductive") for s in range(SEEDS)]
                     + [_run(f"tm{s}", "maml", s, "transductive") for s in range(2)],
                     {**{k: v for k, v in acc.items() if k.startswith("t")}, "tm0": np.full(EPISODES, 90.0),
                      "tm1": np.full(EPISODES, 80.0)})
    why = {0: "diverged: at test", 1: "diverged: at the validation after meta-iteration 500"}
    other = _folder(tmp_path / "t1" / "ind", [_run(f"i{s}", "protonet", s, "inductive", cpu="Intel(R) Xeon(R) Processor")
                                              for s in range(SEEDS)]
                    + [_run(f"im{s}", "maml", s, "inductive", status="FAILED", error=why[s]) for s in range(2)],
                    {k: v for k, v in acc.items() if k.startswith("i")})
    return table1, other, acc


def test_the_statistics_are_those_of_the_seed_paired_matrices(folders):
    table1, other, acc = folders
    df, diverged = bn.pairs(table1, other)
    (row,) = df.itertuples()
    t = np.stack([acc[f"t{s}"] for s in range(SEEDS)])  # the newest run of seed 1, not t1old
    i = np.stack([acc[f"i{s}"] for s in range(SEEDS)])
    two, paired = stats.two_level(i, t), stats.paired(i.mean(1), t.mean(1))
    assert (row.algorithm, row.seeds, row.cpus) == ("protonet", "0 1 2 3", "AMD EPYC / Intel Xeon")
    assert (row.diff, row.diff_lo, row.diff_hi, row.p) == pytest.approx((two.diff, two.lo, two.hi, two.p))
    assert (row.t_lo, row.t_hi) == pytest.approx((paired.lo, paired.hi))
    assert row.base == pytest.approx(t.mean()) and row.other == pytest.approx(i.mean())
    assert row.verdict == "worse" and row.diff_hi < 0  # -1 pp on every seed: shown, since the seeds' offsets cancel
    mispaired = stats.two_level(i, t[::-1])  # what pairing by file order, not seed, would give: far wider
    assert mispaired.hi - mispaired.lo > 10 * (two.hi - two.lo)
    (line,) = diverged
    assert line.startswith("- 5-way 1-shot, maml: diverged in the inductive mode at seed(s) 0, 1 (transductive there: "
                           "85.00% at seed(s) 0 1).")
    assert "seed(s) 0: diverged: at test" in line and "seed(s) 1: diverged: at the validation after" in line


def test_the_page_names_the_confound_and_adds_the_control_where_present(folders, tmp_path):
    table1, other, acc = folders
    text = bn.render(table1, other, tmp_path / "none")
    assert "| 5-way 1-shot | protonet | 0 1 2 3 | AMD EPYC / Intel Xeon |" in text and "Not paired" in text
    assert "lower in 1 of the 1 cells" in text and "1 cell(s) diverged" in text and "## The CPU alone" not in text
    control = _folder(other / "ctl", [_run(f"c{s}", "protonet", s, "transductive", cpu="Intel(R) Xeon(R) Processor")
                                      for s in range(3)], {f"c{s}": acc[f"t{s}"] for s in range(3)})
    text = bn.render(table1, other, control)
    assert "## The CPU alone" in text and "| 5-way 1-shot | protonet | 0 1 2 | AMD EPYC / Intel Xeon | " in text
    assert "## The mode on one CPU" in text and "| 5-way 1-shot | protonet | 0 1 2 | Intel Xeon / Intel Xeon |" in text


def test_runs_on_other_episodes_or_two_modes_in_a_folder_are_refused(folders):
    table1, other, _ = folders
    runs, episodes = raw.read(other, "fewshot")
    runs.loc[runs.run_id == "i2", "episodes_fingerprint"] = "f2"
    raw.write(other, "fewshot", runs, episodes)
    with pytest.raises(SystemExit, match="not scored on the same test episodes"):
        bn.pairs(table1, other)
    runs.loc[runs.run_id == "i2", "bn_eval"] = "transductive"
    raw.write(other, "fewshot", runs, episodes)
    with pytest.raises(SystemExit, match="runs of 2 batch-norm modes"):
        bn.pairs(table1, other)


def test_the_committed_page_is_what_the_committed_raw_results_give(monkeypatch):
    committed = ROOT / bn.SENSITIVITY / "paired.md"
    if not committed.is_file():
        pytest.skip("no committed sensitivity page")
    monkeypatch.chdir(ROOT)
    assert bn.render() == committed.read_text()
