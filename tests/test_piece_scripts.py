"""The Omniglot reruns' piece scripts (scripts/table1_pieces.sh, table2_pieces.sh, table_piece.sh) decide which
model scores which cell of Table 2 and when: run with a stand-in `python` that records each command, they must
score every model in the session that trains it (a store does not outlive its machine), each shot count from the
models of the nearest trained shot count, and retrain a lost store's models only when asked."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, script: str, *args: str, **env: str) -> list[list[str]]:
    """The `python -m benchmark ...` commands the script ran, in order (each as its argument list after -m benchmark)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    # one write per command (O_APPEND): the scripts run two processes at once, whose lines must not interleave
    (bin_dir / "python").write_text('#!/usr/bin/env bash\nline=$(printf "%s\\x1f" "$@")\nprintf "%s\\n" "$line" >> "$CALLS"\n')
    (bin_dir / "python").chmod(0o755)
    calls.write_text("")
    (tmp_path / "store").mkdir(exist_ok=True)
    if "NEW_STORE" not in env:
        (tmp_path / "store" / "mlflow.db").touch()  # the store the pieces score (table2_pieces.sh exports from it)
    full = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), "STORE": str(tmp_path / "store"),
            "OUT": str(tmp_path / "t1"), "T2_OUT": str(tmp_path / "t2"), **env}
    for k in ("SHOTS", "ONLY", "BN", "RETRAIN", "T2", "SCORE", "COMPARE"):
        if k not in env:
            full.pop(k, None)
    subprocess.run(["bash", f"scripts/{script}", *args], cwd=ROOT, env=full, check=True, capture_output=True, timeout=60)
    lines = [line.rstrip("\x1f").split("\x1f") for line in calls.read_text().splitlines() if line]
    assert all(line[:2] == ["-m", "benchmark"] for line in lines)
    return [line[2:] for line in lines]


def _flag(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def _algorithms(cmd: list[str]) -> set[str]:
    i = cmd.index("--algorithm") + 1
    end = next((j for j in range(i, len(cmd)) if cmd[j].startswith("--")), len(cmd))
    return set(cmd[i:end])


def _scored(cmds) -> set[tuple[str, str, str, str]]:
    """(trained setting, ways, shots, algorithm) of every evaluate pass."""
    return {(_flag(c, "--trained-setting"), _flag(c, "--ways"), _flag(c, "--shots"), a)
            for c in cmds if c[0] == "evaluate" for a in _algorithms(c)}


ANY_WAY = {"transfer", "protonet", "baseline_pp"}
FIVE_WAY_ONLY = {"reptile", "mtl_reptile", "maml", "mtl_maml"}


@pytest.mark.parametrize("trained,shots", [("1", {"1"}), ("5", {"5", "15"})])
def test_score_passes_follow_the_nearest_shot_rule(tmp_path, trained, shots):
    cmds = _run(tmp_path, "table2_pieces.sh", "3", SCORE=trained)
    setting = f"5-way {trained}-shot"
    want = {(setting, "5", k, a) for k in shots for a in ANY_WAY | FIVE_WAY_ONLY}
    want |= {(setting, w, k, a) for w in ("20", "35") for k in shots for a in ANY_WAY}
    assert _scored(cmds) == want
    ev = [c for c in cmds if c[0] == "evaluate"]
    assert {_flag(c, "--seeds") for c in ev} == {"3"} and {_flag(c, "--weights") for c in ev} == {"best"}
    assert {_flag(c, "--queries") for c in ev} == {"5"} and {_flag(c, "--eval-experiment") for c in ev} == {"mtl-question"}
    assert all("--if-trained" in c for c in ev)  # a model this store lacks is scored where it was trained, not a failure
    assert not any(c[0] == "run" for c in cmds)  # SCORE trains nothing
    assert cmds[-1][0] == "leaderboard" and "--compare" in cmds[-1]  # the table is regenerated with each MTL vs its parent


def test_the_20way_models_are_trained_at_1_shot_and_scored_at_every_shot_count(tmp_path):
    """The cut of 2026-12-05 (leaderboards/README): the MAML pair is meta-trained at 20-way 1-shot only, and its
    20-way 1-, 5- and 15-shot cells are scored from those models right after they are trained."""
    cmds = _run(tmp_path, "table2_pieces.sh", "2")
    trains = [i for i, c in enumerate(cmds) if c[0] == "run"]
    assert [(_flag(cmds[i], "--ways"), _flag(cmds[i], "--shots")) for i in trains] == [("20", "1")]
    assert _scored(cmds[trains[0]:]) == {("20-way 1-shot", "20", k, a) for k in ("1", "5", "15") for a in ("maml", "mtl_maml")}
    assert all("--done-in" not in cmds[i] for i in trains)  # nothing committed beside the table yet
    (tmp_path / "t2" / "training-20way").mkdir(parents=True)
    (tmp_path / "t2" / "training-20way" / "fewshot-runs.csv.gz").write_bytes(b"")
    cmds = _run(tmp_path, "table2_pieces.sh", "2")  # a new store: committed training cells are skipped
    assert all(_flag(c, "--done-in").endswith("training-20way") for c in cmds if c[0] == "run")
    (tmp_path / "store" / "mlflow.db").unlink()  # no store yet: the 5-way passes find no model and nothing is exported
    cmds = _run(tmp_path, "table2_pieces.sh", "2", NEW_STORE="1")
    first_run = next(i for i, c in enumerate(cmds) if c[0] == "run")
    assert not any(c[0] == "leaderboard" for c in cmds[:first_run])
    with pytest.raises(subprocess.CalledProcessError) as e:  # SCORE right after training: no store is a wrong STORE
        _run(tmp_path, "table2_pieces.sh", "2", NEW_STORE="1", SCORE="1", STORE=str(tmp_path / "misspelt"))
    assert e.value.returncode == 2 and b"no store at" in e.value.stderr
    assert not (tmp_path / "misspelt").exists()  # a wrong STORE is not created


def _table1(tmp_path, **env):
    (tmp_path / "t1").mkdir(exist_ok=True)
    (tmp_path / "t1" / "fewshot-runs.csv.gz").write_bytes(b"")  # the table has committed cells
    return _run(tmp_path, "table1_pieces.sh", "4", **env)


def test_table1_pieces_score_their_models_for_table2_after_each_piece(tmp_path):
    cmds = _table1(tmp_path, SHOTS="5", ONLY="anyway")
    assert cmds[0][0] == "run" and _algorithms(cmds[0]) == ANY_WAY and _flag(cmds[0], "--shots") == "5"
    assert _flag(cmds[0], "--done-in") == str(tmp_path / "t1")  # cells the table has are skipped
    assert _flag(cmds[0], "--seeds") == "4"
    first_ev = next(i for i, c in enumerate(cmds) if c[0] == "evaluate")
    assert first_ev > 0 and {s for s, *_ in _scored(cmds)} == {"5-way 5-shot"}
    assert _scored(_table1(tmp_path, SHOTS="5", ONLY="anyway", T2="0")) == set()
    assert _scored(_table1(tmp_path, SHOTS="1", ONLY="sensitivity", BN="inductive")) == set()  # not Table 2's models


def test_retrain_trains_the_cells_the_table_has(tmp_path):
    run = next(c for c in _table1(tmp_path, SHOTS="1", ONLY="anyway", RETRAIN="1") if c[0] == "run")
    assert "--done-in" not in run and _algorithms(run) == ANY_WAY
