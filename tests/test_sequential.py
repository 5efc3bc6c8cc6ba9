"""Seeds until decided (benchmark/report/sequential.py, `run --until-decided`): the boundary keeps the false-positive
rate across the looks, under the calibration's model and under the committed tables' own variance components; the
power is the design's; and a quick grid runs end to end, resumes, and runs in two shards."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.report import sequential, stats

from .stores import mlflow_sqlite
from .test_stats import _null_tables, committed_rows

ROOT = Path(__file__).resolve().parents[1]


def _walk(d: np.ndarray, design: sequential.Design, comparisons: int = 1) -> sequential.Outcome:
    """One experiment's looks through the suite's own code path: seed differences (n,) or matrices (n, episodes)."""
    if d.ndim == 1:
        return sequential.analyse(lambda n: stats.paired(d[:n], np.zeros(n)), len(d), design, comparisons)
    return sequential.analyse(lambda n: stats.two_level(d[:n], np.zeros_like(d[:n])), len(d), design, comparisons)


def test_the_boundary_is_calibrated_and_stricter_with_more_looks():
    assert sequential.nominal_level((3,), 0.05) == 0.05
    levels = [sequential.Design(n, 1.0).nominal(1) for n in (4, 6, 10)]
    assert 0.05 > levels[0] > levels[1] > levels[2] > 0.05 / 8  # Pocock: between one look and Bonferroni over the looks
    assert sequential.Design(6, 1.0).nominal(4) < levels[1] / 3  # the family's m: Bonferroni over the comparisons


def test_the_false_positive_rate_stays_at_alpha_across_the_looks():
    """6,000 null experiments through `analyse` (paired t at each look, no futility stop, 3..8 seeds): rejecting
    at any look happens in at most 5.5% (without the calibration, 0.05 at every look: about 12%)."""
    rng = np.random.default_rng(0)
    design = sequential.Design(8, 1e-9)  # futility never stops a comparison: the worst case for the error rate
    d = rng.normal(0, 1.0, (6000, 8))
    rejected = np.mean([_walk(x, design).reason == "efficacy" for x in d])
    naive = np.mean([any(stats.paired(x[:n], np.zeros(n)).p < 0.05 for n in range(3, 9)) for x in d[:2000]])
    assert rejected <= 0.055 and naive > 0.09, (rejected, naive)


def test_the_false_positive_rate_at_the_committed_tables_components():
    """The two-level estimand (new seeds and new episodes) at each look, null experiments built from the committed
    Omniglot table's variance components (every row, 150 experiments each, up to 6 seeds): at most 5.5%."""
    rng = np.random.default_rng(1)
    design = sequential.Design(6, 1e-9)
    outcomes = [_walk(d, design).reason for row in committed_rows() for d in _null_tables(rng, row, 150, seeds=6)]
    assert np.mean([o == "efficacy" for o in outcomes]) <= 0.055


def test_the_power_and_the_seeds_used_are_the_design_s():
    """Against a true difference of 1.2 sd with futility at 0.5 sd: the share of experiments that stop for efficacy in
    the right direction, and the mean seeds used, through `analyse` match the design's own simulation."""
    design = sequential.Design(10, 0.5)
    want_power, want_seeds = sequential.design_power(1.2, 1.0, design, 1)
    rng = np.random.default_rng(2)
    outs = [_walk(x, design) for x in rng.normal(1.2, 1.0, (3000, 10))]
    power = np.mean([o.reason == "efficacy" and o.comparison.diff > 0 for o in outs])
    assert power == pytest.approx(want_power, abs=0.025) and 0.6 < power < 0.99
    assert np.mean([o.seeds for o in outs]) == pytest.approx(want_seeds, abs=0.15)
    assert np.mean([o.seeds for o in outs]) < 10  # it stops early where the answer is clear


def test_a_look_is_decided_by_its_repeated_interval():
    design = sequential.Design(5, 1.0)
    clear = _walk(np.array([3.0, 3.2, 2.9, 3.1, 3.0]), design)
    assert (clear.reason, clear.looks, clear.seeds, clear.verdict(1.0)) == ("efficacy", 1, 3, "better")
    null = _walk(np.array([0.01, -0.02, 0.015, 0.0, -0.01]), design)
    assert null.reason == "futility" and null.verdict(1.0) == "no difference >= 1 pp" and -1 < null.lo < null.hi < 1
    noisy = _walk(np.array([2.0, -1.5, 0.5, 3.0, -2.0]), design)
    assert noisy.reason == "max seeds" and noisy.seeds == 5 and noisy.lo < 0 < noisy.hi
    assert _walk(np.array([2.0, -1.5, 0.5, 3.0]), design).reason == "needs more seeds"
    assert _walk(np.array([1.0, 2.0]), design) is None  # below the first look


QUICK = ["--suite", "fewshot", "--algorithm", "transfer", "protonet", "--meta-iterations", "20",
         "--test-episodes", "40", "--until-decided", "--max-seeds", "5", "--min-effect", "1", "--no-progress"]


def _run(tmp_path: Path, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "benchmark", "run", *QUICK, "--tracking-uri", mlflow_sqlite(tmp_path / "m.db"),
           "--checkpoint-dir", str(tmp_path / "ck"), "--out", str(tmp_path / "res"), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_until_decided_runs_a_quick_grid_resumes_and_shards(tmp_path):
    """The looks end to end: the console and the parent run's table say why each row stopped; the same command again
    runs nothing new; two shards of a second store run the same looks together and agree on the same table."""
    p = _run(tmp_path, "--workers", "2")
    out = p.communicate(timeout=900)[0]
    assert p.returncode == 0, out
    assert "look 1 (3 seeds): 6 cell(s)" in out
    verdicts = re.findall(r"\((efficacy|futility|max seeds) at look (\d)", out)
    assert len(verdicts) == 1, out  # the comparison decided, each with its reason and look
    again = _run(tmp_path)
    out2 = again.communicate(timeout=900)[0]
    assert again.returncode == 0 and not re.search(r"\]: test \d", out2) and "already finished" in out2, out2
    assert re.findall(r"\((efficacy|futility|max seeds) at look (\d)", out2) == verdicts
    lb = tmp_path / "lb"
    from benchmark.cli import main

    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", mlflow_sqlite(tmp_path / "m.db"), "--out", str(lb),
                 "--until-decided", "--max-seeds", "5", "--min-effect", "1"]) == 0
    md = (lb / "fewshot.md").read_text()
    assert "**Design:** seeds until decided" in md and "| looks | stopped |" in md
    shards = tmp_path / "shards"
    shards.mkdir()
    procs = [_run(shards, "--shard", f"{i}/2") for i in (1, 2)]
    outs = [q.communicate(timeout=900)[0] for q in procs]
    assert [q.returncode for q in procs] == [0, 0], outs
    assert all("in this shard" in o for o in outs)
    for o in outs:  # each shard judged every cell of every look, so both print the whole grid's verdicts
        assert sorted(re.findall(r"\((efficacy|futility|max seeds) at look (\d)", o)) == sorted(verdicts), o
