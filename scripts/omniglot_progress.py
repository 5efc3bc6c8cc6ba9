"""Where the Omniglot reruns (issue 28) stand, cell by cell, from the committed raw results beside the tables, and
what is left: each missing cell, its estimated cost (the mean measured cost of the same algorithm and setting at the
seeds that have it) and the piece command that makes it, in the plan's order (leaderboards/README):

  Table 1 (omniglot-alphabets/): 14 algorithms x 5-way 1/5-shot x seeds 0-4 (scripts/table1_pieces.sh's groups)
  Table 2 (omniglot-mtl/): the `evaluate` cells; each scored from the model trained at the nearest shot count
      (1 -> 1, 5 and 15 -> 5) at 5-way; the MAML pair's 20-way cells from its 20-way 1-shot models (the plan's cut,
      leaderboards/README); a cell scored from another model is listed as one to replace
  the MAML pair's 20-way training runs (omniglot-mtl/training-20way/), 1-shot
  the batch-norm sensitivity table (omniglot-alphabets/bn-inductive/), seeds 0-2

    python scripts/omniglot_progress.py   # -> leaderboards/omniglot-progress.md (regenerate_tables.py runs it too)

A cell whose run diverged (FAILED, "diverged: ...") has no accuracy: it is shown as such and is not missing. Its
run's cost does not estimate the others' (most stopped early; one that trained to the end and diverged only at its
last scoring, tagged ``diverged_after_training``, is left out too: its cost would do, but none is committed).
"""
import math
import os
import re
import sys
from pathlib import Path

import pandas as pd

ROOT_DIR = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT_DIR), str(ROOT_DIR / "scripts")]
from omniglot_plan import MAML_PAIR, T1_SETTINGS, TRAINED_20, groups, table2_settings  # noqa: E402

from benchmark.report import raw  # noqa: E402  (the tables' own rule for which run a cell counts)

SEEDS = range(5)
SENSITIVITY_SEEDS = range(3)
STEPS = {"1-shot": 1, "embedding": 2, "maml": 3, "reptile": 3, "20-way": 4, "sensitivity": 5}  # the plan's steps


def model_setting(algorithm: str, setting: str) -> str:
    """The training setting a Table 2 cell is scored from: the nearest trained shot count at 5-way; the MAML pair's
    20-way cells from its 20-way 1-shot models, the only 20-way setting it is meta-trained at (TRAINED_20)."""
    way, shots = (int(x) for x in re.findall(r"\d+", setting))
    if way == 20 and algorithm in MAML_PAIR:
        return TRAINED_20[0]
    return f"5-way {1 if shots == 1 else 5}-shot"


def cells(folder: Path) -> pd.DataFrame:
    """The cells a table counts (newest FINISHED run per cell), with each run's cost in core-hours: for a trained run
    its training (the leaderboard's core-h), for an evaluate run its evaluation; a diverged cell (``raw.diverged``)
    is a row without accuracy (acc NaN, ``diverged`` True)."""
    if not raw.paths(folder, "fewshot")[0].is_file():
        return pd.DataFrame(columns=["algorithm", "setting", "seed", "acc", "core_h", "trained_on", "diverged"])
    runs = raw.read(folder, "fewshot")[0]
    df = pd.concat([raw.finished(runs)[0].assign(diverged=False), raw.diverged(runs).assign(diverged=True, acc=math.nan)],
                   ignore_index=True)
    df["core_h"] = raw.core_hours(df.assign(threads=df.threads.fillna(1)), own=True)
    df["trained_on"] = df.scale_note.str.extract(r"trained on \S+ (\d+-way \d+-shot)", expand=False).fillna("")
    return df


def _at(d: pd.DataFrame, algorithm: str, setting: str, seed: int | None = None) -> pd.DataFrame:
    """A folder's counted runs of one algorithm and setting (at one seed)."""
    rows = d[(d.algorithm == algorithm) & (d.setting == setting)]
    return rows if seed is None else rows[rows.seed == seed]


def _cost(done: pd.DataFrame, algorithm: str, setting: str, *fallback: pd.DataFrame) -> float:
    for d in (done, *fallback):
        same = _at(d, algorithm, setting)
        same = same[~same.diverged.astype(bool)]  # a diverged run (most stopped early): its cost is not the cell's
        if len(same):
            return float(same.core_h.mean())
    return math.nan


def _grid(done: pd.DataFrame, rows: list[tuple[str, str]], seeds) -> list[str]:
    """One row per (algorithm, setting), one column per seed: the test accuracy, or a dot where the cell is missing;
    a dagger where a Table 2 cell was scored from another model than the plan's; "diverged" where its run diverged."""
    out = ["| algorithm | setting | " + " | ".join(f"seed {s}" for s in seeds) + " |",
           "|---|---|" + "---|" * len(seeds)]
    for algorithm, setting in rows:
        got = _at(done, algorithm, setting).set_index("seed")
        marks = []
        for s in seeds:
            if s not in got.index:
                marks.append("·")
                continue
            r = got.loc[s]
            if r.diverged:
                marks.append("diverged")
                continue
            wrong = bool(r.trained_on) and r.trained_on != model_setting(algorithm, setting)
            marks.append(f"{r.acc:.2f}" + (" †" if wrong else ""))
        out.append(f"| {algorithm} | {setting} | " + " | ".join(marks) + " |")
    return out


def missing(root: Path = ROOT_DIR / "leaderboards") -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Every folder's counted cells, and every planned cell that is missing (or scored from the wrong model), with
    its piece, the plan's step and its estimated cost."""
    t1, t2 = root / "omniglot-alphabets", root / "omniglot-mtl"
    done = {"t1": cells(t1), "t2": cells(t2), "t20": cells(t2 / "training-20way"), "bn": cells(t1 / "bn-inductive")}
    g, todo = groups(), []

    def need(table, algorithm, setting, seed, piece, step, *fallback):
        d = done[table]
        hit = _at(d, algorithm, setting, seed)
        wrong = table == "t2" and len(hit) and hit.trained_on.iloc[0] not in ("", model_setting(algorithm, setting))
        if len(hit) == 0 or wrong:
            todo.append({"table": table, "algorithm": algorithm, "setting": setting, "seed": seed, "piece": piece,
                         "step": step, "replace": bool(wrong), "core_h": _cost(d, algorithm, setting, *fallback)})

    for seed in SEEDS:
        for name in ("embedding", "maml", "reptile"):
            for setting in T1_SETTINGS:
                shots = setting.split()[1].split("-")[0]
                step = STEPS["1-shot"] if shots == "1" else STEPS[name]
                for a in g[name]:
                    need("t1", a, setting, seed, f"SHOTS={shots} ONLY={name} scripts/table1_pieces.sh {seed}", step)
        for a in MAML_PAIR:
            for setting in TRAINED_20:
                need("t20", a, setting, seed, f"scripts/table2_pieces.sh {seed}", STEPS["20-way"])
        for a in g["table2"]:
            for setting in table2_settings(a):
                need("t2", a, setting, seed, _scoring_piece(done, a, setting, seed), STEPS["20-way"])
    for seed in SENSITIVITY_SEEDS:
        for setting in T1_SETTINGS:
            for a in g["sensitivity"]:
                need("bn", a, setting, seed, f"BN=inductive ONLY=sensitivity OUT=leaderboards/omniglot-alphabets/"
                     f"bn-inductive scripts/table1_pieces.sh {seed}", STEPS["sensitivity"], done["t1"])
    cols = ["table", "algorithm", "setting", "seed", "piece", "step", "replace", "core_h"]
    return done, pd.DataFrame(todo, columns=cols)


def _scoring_piece(done: dict[str, pd.DataFrame], algorithm: str, setting: str, seed: int) -> str:
    """What scores a missing Table 2 cell: the hook of the piece that trains its model, when the model is not committed
    yet (empty: that piece is listed already); when it is, a scoring pass on the store that trained it, which lives
    only as long as its machine (else that piece again with RETRAIN=1)."""
    trained = model_setting(algorithm, setting)
    d = done["t20" if trained.startswith("20-way") else "t1"]
    if not len(_at(d, algorithm, trained, seed)):
        return ""
    shots = trained.split()[1].split("-")[0]
    if trained.startswith("20-way"):
        return f"scripts/table2_pieces.sh {seed} (on the store that trained the {trained} model)"
    return f"SCORE={shots} scripts/table2_pieces.sh {seed} (on the store that trained the {trained} model)"


def _phase(seed: int, step: int) -> int:
    """The plan's order: every seed's steps 1, 2 and 4 (and step 3 at seeds 0-2) seed by seed; then step 3 at seeds
    3-4, if the budget allows (the seed cut, taken last); then the sensitivity table."""
    return 2 if step == STEPS["sensitivity"] else 1 if step == STEPS["maml"] and seed >= 3 else 0


def _pieces(todo: pd.DataFrame) -> list[str]:
    """The pieces still to run, seed by seed in the plan's order, with their estimated core-hours."""
    if todo.empty:
        return ["Nothing is left: every planned cell is committed."]
    listed = todo[todo.piece != ""]  # a Table 2 cell without a piece is scored by its model's piece
    out = ["| seed | step | piece | cells | est. core-h |", "|---|---|---|---|---|"]
    order = sorted(listed.groupby(["seed", "step", "piece"]), key=lambda kv: (_phase(*kv[0][:2]), kv[0]))
    for (seed, step, piece), d in order:
        cost, unknown = d.core_h.sum(), int(d.core_h.isna().sum())
        est = f"{cost:.1f}" * (unknown < len(d)) + " + " * (0 < unknown < len(d)) + f"{unknown} unmeasured" * bool(unknown)
        out.append(f"| {seed} | {step} | `{piece}` | {len(d)} | {est} |")
    scored = todo[todo.table == "t2"]
    if len(scored):
        est = scored.core_h.sum(min_count=1)
        out += ["", f"Table 2 cells still to score: {len(scored)} ({int(scored['replace'].sum())} of them to replace, "
                f"scored from another model than the plan's), about {0 if math.isnan(est) else est:.1f} core-hours "
                "of evaluation; those whose model is not committed yet are scored by the hook of the piece that "
                "trains it (`table1_pieces.sh`, `table2_pieces.sh`)."]
    return out


def write(out: Path = ROOT_DIR / "leaderboards" / "omniglot-progress.md", root: Path = ROOT_DIR / "leaderboards") -> Path:
    done, todo = missing(root)
    g = groups()
    t1_rows = [(a, s) for s in T1_SETTINGS for a in g["embedding"] + g["maml"] + g["reptile"]]
    t2_rows = [(a, s) for a in g["table2"] for s in table2_settings(a)]
    known = todo.core_h.sum(min_count=1)
    lines = ["# Omniglot reruns: where they stand (issue 28)", "",
             "Generated by `python scripts/omniglot_progress.py` from the raw results committed beside the tables "
             "(`omniglot-alphabets/`, `omniglot-mtl/`, `omniglot-mtl/training-20way/`, `omniglot-alphabets/bn-inductive/`); "
             "do not edit by hand. Each cell is the test accuracy (%) of the run the table counts; `·`: not committed "
             "yet; `diverged`: its run diverged (FAILED; no accuracy, and not to rerun); `†`: scored from another model than the plan's (replaced when that model is trained). Costs are "
             "estimates: the mean measured core-hours of the same algorithm and setting at the seeds that have it.", "",
             f"**Left:** {len(todo)} cell(s), about {0 if math.isnan(known) else known:.0f} core-hours where measured"
             + (f" ({int(todo.core_h.isna().sum())} cell(s) unmeasured)" if todo.core_h.isna().any() else "") + ".", "",
             "## Pieces left, in the plan's order", "", *_pieces(todo), "",
             "## Table 1 (`omniglot-alphabets/`)", "", *_grid(done["t1"], t1_rows, SEEDS), "",
             "## Table 2 (`omniglot-mtl/`)", "", *_grid(done["t2"], t2_rows, SEEDS), "",
             "## The MAML pair's 20-way training (`omniglot-mtl/training-20way/`)", "",
             *_grid(done["t20"], [(a, s) for a in MAML_PAIR for s in TRAINED_20], SEEDS), "",
             "## Batch-norm sensitivity, inductive (`omniglot-alphabets/bn-inductive/`)", "",
             *_grid(done["bn"], [(a, s) for s in T1_SETTINGS for a in g["sensitivity"]], SENSITIVITY_SEEDS), ""]
    out.write_text("\n".join(lines))
    return out


if __name__ == "__main__":
    os.chdir(ROOT_DIR)
    print(write())
