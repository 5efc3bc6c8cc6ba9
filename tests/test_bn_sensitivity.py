"""scripts/bn_sensitivity.py: the sensitivity table paired with Table 1 by seed over the same episodes. The paired
difference is the one an independent computation gives, the runs paired are the ones the tables count (the newest of a
repeated configuration), a mode whose runs all failed is listed with its reason, runs on other episodes are refused,
and the committed page is what the committed raw results give."""
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.report import raw

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bn_sensitivity", ROOT / "scripts" / "bn_sensitivity.py")
bn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bn)
EPISODES = 40


def _run(run_id, algorithm, seed, mode, status="FINISHED", start=0, fingerprint="f1", error=""):
    return {"run_id": run_id, "suite": "fewshot", "status": status, "start_time": start, "config_key": f"{algorithm}{seed}{mode}",
            "dataset": "omniglot", "source": "", "model": "conv4", "algorithm": algorithm, "seed": seed,
            "setting": "5-way 1-shot", "bn_eval": mode, "profile": "p", "scale": "reduced", "scale_note": "",
            "paper_dataset": "", "source_run_id": "",
            "episodes_fingerprint": fingerprint if status == "FINISHED" else "", "acc": np.nan, "error": error}


def _folder(path: Path, runs: list[dict], accs: dict[str, np.ndarray]) -> Path:
    """Raw results: the runs, and each finished run's per-episode accuracies (its acc their mean)."""
    df = pd.DataFrame(runs)
    df["acc"] = [accs[r].mean() if r in accs else np.nan for r in df.run_id]
    episodes = pd.DataFrame([{"run_id": r, "episode": i, "acc": a} for r, x in accs.items() for i, a in enumerate(x)])
    raw.write(path, "fewshot", df, episodes)
    return path


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    acc = {f"{m}{s}": rng.uniform(60, 100, EPISODES) for m in ("t", "i") for s in range(3)}
    acc["t1old"] = rng.uniform(0, 10, EPISODES)  # an older run of seed 1's configuration: superseded
    table1 = _folder(tmp_path / "t1", [_run("t1old", "protonet", 1, "transductive", start=1)]
                     + [_run(f"t{s}", "protonet", s, "transductive", start=5) for s in range(3)]
                     + [_run(f"tm{s}", "maml", s, "transductive", start=5) for s in range(3)],
                     {**{k: v for k, v in acc.items() if k.startswith("t")},
                      **{f"tm{s}": np.full(EPISODES, 90.0) for s in range(3)}})
    other = _folder(tmp_path / "t1" / "ind", [_run(f"i{s}", "protonet", s, "inductive") for s in range(3)]
                    + [_run(f"im{s}", "maml", s, "inductive", status="FAILED", error=f"diverged at seed {s}")
                       for s in range(3)], {k: v for k, v in acc.items() if k.startswith("i")})
    return table1, other, acc


def test_the_paired_difference_is_the_mean_of_the_seeds_differences(folders):
    table1, other, acc = folders
    df, failed = bn.pairs(table1, other)
    (row,) = df.itertuples()
    want = np.mean([acc[f"i{s}"].mean() - acc[f"t{s}"].mean() for s in range(3)])  # the newest run of seed 1, not t1old
    assert row.algorithm == "protonet" and row.seeds == "0 1 2" and row.diff == pytest.approx(want)
    assert row.transductive == pytest.approx(np.mean([acc[f"t{s}"].mean() for s in range(3)]))
    assert row.diff_lo < row.diff < row.diff_hi and row.verdict in ("better", "worse", "no evidence")
    assert len(failed) == 1 and "maml: FAILED in the inductive mode at seed(s) 0, 1, 2" in failed[0]
    assert "transductive at those seeds: 90.00%" in failed[0] and "diverged at seed 0" in failed[0]


def test_the_page_says_what_each_cell_shows(folders):
    table1, other, _ = folders
    text = bn.write(table1, other).read_text()
    assert "| 5-way 1-shot | protonet | 0 1 2 |" in text and "Not paired" in text
    assert "lower in" in text and "of 1 cells" in text


def test_runs_on_other_episodes_are_not_paired(folders):
    table1, other, _ = folders
    runs, episodes = raw.read(other, "fewshot")
    runs.loc[runs.run_id == "i2", "episodes_fingerprint"] = "f2"
    raw.write(other, "fewshot", runs, episodes)
    with pytest.raises(SystemExit, match="not scored on the same test episodes"):
        bn.pairs(table1, other)


def test_the_committed_page_is_what_the_committed_raw_results_give(tmp_path, monkeypatch):
    committed = ROOT / bn.SENSITIVITY / "paired.md"
    if not committed.is_file():
        pytest.skip("no committed sensitivity page")
    monkeypatch.chdir(ROOT)
    text = committed.read_text()
    df, failed = bn.pairs(bn.TABLE1, bn.SENSITIVITY)
    assert bn._reading(df) in text
    for _, r in df.iterrows():
        assert f"| {r.setting} | {r.algorithm} | {r.seeds} | {r.transductive:.2f} | {r.inductive:.2f} | {r['diff']:+.2f}" in text
    for line in failed:
        assert line in text
