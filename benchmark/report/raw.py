"""Raw results: one row per run and, for the few-shot suite, one row per run x test
episode, read from an MLflow store or from the csv.gz files committed beside a table.

A leaderboard is built from these two frames alone, so ``leaderboard --from DIR``
regenerates a committed table (and can re-test it another way) without the store.
"""
from __future__ import annotations

import json
import math
import tempfile
import zlib
from pathlib import Path

import pandas as pd

from ..suites import get_suite
from . import plateau

GROUP = ["dataset", "source", "model", "setting", "bn_eval", "profile", "scale"]
CELL = GROUP + ["algorithm", "seed"]  # one run per table cell


def _short_commit(c: str) -> str:
    return c[:12] + ("-dirty" if c.endswith("-dirty") else "")


def _source(tags: dict[str, str]) -> str:
    """The folder or archive name of an ``imagefolder`` run (its data); empty for named datasets."""
    if tags.get("dataset") != "imagefolder":
        return ""
    return Path(tags.get("data.source", "")).name or "?"


def _run_row(suite, r) -> dict:
    t, m, p = r.data.tags, r.data.metrics, r.data.params
    acc = m.get(suite.style.test_metric)
    classes = suite.classes(p, t)
    return {
        "run_id": r.info.run_id, "suite": suite.name, "status": r.info.status, "start_time": r.info.start_time,
        "config_key": t.get("config_key", r.info.run_id), "dataset": t.get("dataset"), "source": _source(t),
        "model": t.get("model"), "algorithm": t.get("algorithm"), "seed": int(t.get("seed", 0)),
        "setting": t.get("setting", ""), "protocol": int(t.get("protocol", 1)), "bn_eval": p.get("bn_eval") or "".join(suite.bn_modes[:1]), "profile": t.get("profile"), "scale": t.get("scale"),
        "scale_note": t.get("scale_note", ""), "commit": _short_commit(t.get("git_commit", "?")),
        "hardware": (t.get("hardware.gpu") or t.get("hardware.cpu", "?"))  # threads change results: shown, never mixed silently
        + (f", {t['hardware.torch_threads']} threads" if t.get("hardware.torch_threads") else ""),
        "paper_dataset": "" if t.get("data.paper_dataset") in (None, "None") else t["data.paper_dataset"],
        "data_source": t.get("data.source", ""), "episodes_fingerprint": t.get("test_episodes_fingerprint", ""),
        "chance": 100 / classes if classes else math.nan,
        "acc": 100 * acc if acc is not None else math.nan,
        "ci95": 100 * m["test_ci95"] if "test_ci95" in m else math.nan,
        "top5": 100 * m["final_test_top5"] if "final_test_top5" in m else math.nan,
        "train_time_s": m.get("train_time_s", math.nan), "wall_time_s": m.get("wall_time_s", math.nan),
        "iterations": m.get("meta_iterations_run", math.nan),  # few-shot: meta-iterations trained (fewer at a plateau stop)
        # the threads the model trained with (an evaluate run's source's): its training cost in core-hours
        "threads": next((int(t[k]) for k in ("source_threads", "hardware.torch_threads") if t.get(k, "").isdigit()), math.nan),
        # the machine's mean 1-minute load average while the run trained, and its cores: above them, it shared the machine
        "load": m.get("machine_load", math.nan),
        "cores": int(t["hardware.cpu_count"]) if t.get("hardware.cpu_count", "").isdigit() else math.nan,
        "plugins": t.get("plugins", ""),  # a researcher's own algorithm: its file hash or package version
        "source_run_id": t.get("source_run_id", ""),  # an evaluate run: the training run whose weights it scored
        "hparams": json.dumps({k[3:]: v for k, v in sorted(p.items()) if k.startswith("hp.")}),
        # why a FAILED run failed: its reason's one line, whole (a run that diverged after training ends it with the
        # evaluate command that scores its kept weights); capped only against a runaway exception message
        "error": t["error"].splitlines()[0][:1000] if t.get("error") else "",
    }


CURVE_COLUMNS = ["run_id", "step", "val_acc"]


def curves_from_tracker(tracker, runs: pd.DataFrame) -> pd.DataFrame:
    """The validation curve (percent) of every FINISHED run, the plateau evidence: from the
    grids' raw-results files where they have it, else one metric-history request per run. An
    `evaluate` run has the curve of the training run whose weights it scored (the model's plateau)."""
    need = set(runs[runs.status == "FINISHED"].run_id) if len(runs) else set()
    suite = runs.suite.iloc[0] if len(runs) else ""
    with tempfile.TemporaryDirectory() as d:
        frames = _from_grids(tracker, runs.attrs.get("grids", []), f"{suite}-curves.csv.gz", need, Path(d))
    source = dict(zip(runs.run_id, runs.source_run_id)) if "source_run_id" in runs else {}
    rows = [{"run_id": rid, "step": s, "val_acc": 100 * v} for rid in sorted(need)
            for s, v in tracker.metric_history(source.get(rid) or rid, "val_acc")]
    out = pd.concat([*frames, pd.DataFrame(rows, columns=CURVE_COLUMNS)], ignore_index=True)
    return out.sort_values(["run_id", "step"]).reset_index(drop=True)[CURVE_COLUMNS]


def with_tail_gain(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """``val_tail_gain``: each run's validation improvement over the last part of training (plateau.py)."""
    if runs.empty:
        return runs
    by_run = {rid: c for rid, c in curves.groupby("run_id")}
    gains = [plateau.tail_gain(list(by_run[r].step), list(by_run[r].val_acc)) if r in by_run else math.nan for r in runs.run_id]
    return runs.assign(val_tail_gain=gains)


def curves_path(folder: str | Path, suite: str) -> Path:
    return Path(folder) / f"{suite}-curves.csv.gz"


def write_curves(folder: str | Path, suite: str, curves: pd.DataFrame) -> Path:
    path = curves_path(folder, suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    curves.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
    return path


def read_curves(folder: str | Path, suite: str) -> pd.DataFrame:
    path = curves_path(folder, suite)
    return pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=CURVE_COLUMNS)


EPISODE_COLUMNS = ["run_id", "episode", "acc"]


def _from_grids(tracker, grids: list[str], name: str, need: set[str], folder: Path) -> list[pd.DataFrame]:
    """Rows of the ``need`` runs from their grids' raw-results file ``name`` (one download per
    grid, not one per run; ``grids``: parent run ids, newest first); found ids leave ``need``."""
    frames = []
    for gid in grids:
        if not need:
            break
        try:
            e = pd.read_csv(tracker.download(gid, name, folder / gid))
        except Exception:  # a grid that closed without a summary: its runs' own records instead
            continue
        e = e[e.run_id.isin(need)]
        frames.append(e)
        need -= set(e.run_id)
    return frames


def from_tracker(tracker, suite_name: str, keys: set[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run of the suite in the store (any status; with ``keys`` only those configurations)
    and the FINISHED runs' per-episode accuracies: from the grids' raw-results files where a
    grid has them, else from the run's own ``test_episode_acc.json``."""
    suite = get_suite(suite_name)
    candidates = tracker.runs() if keys is None else [r for rs in tracker.runs_by_key(keys).values() for r in rs]
    rows, parents, need = [], [], set()
    for r in candidates:  # the tracker's own experiment (--experiment), not the one named like the suite
        t = r.data.tags
        if t.get("grid_parent") == "1":
            if t.get("suite_grid", suite_name) == suite_name:  # another suite's grids hold none of these runs
                parents.append(r)
            continue
        if t.get("suite", suite_name) != suite_name or t.get("tuning") == "1":
            continue
        rows.append(_run_row(suite, r))
        if r.info.status == "FINISHED" and "test_episodes_fingerprint" in t:
            need.add(r.info.run_id)
    grids = [p.info.run_id for p in sorted(parents, key=lambda r: r.info.start_time, reverse=True)]
    with tempfile.TemporaryDirectory() as d:
        frames = _from_grids(tracker, grids, f"{suite_name}-episodes.csv.gz", need, Path(d))
    for rid in sorted(need):
        try:
            accs = tracker.load_json_artifact(rid, "test_episode_acc.json")
        except Exception:
            continue
        frames.append(pd.DataFrame({"run_id": rid, "episode": range(len(accs)), "acc": [100 * a for a in accs]}))
    runs = pd.DataFrame(rows)
    if len(runs):
        runs = runs.sort_values(CELL + ["start_time"]).reset_index(drop=True)
    episodes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EPISODE_COLUMNS)
    if len(episodes) and len(runs):  # the runs' order, then the episode's: the same file however it was gathered
        order = {rid: i for i, rid in enumerate(runs.run_id)}
        episodes = episodes.assign(_o=episodes.run_id.map(order)).sort_values(["_o", "episode"]).drop(columns="_o")
    runs.attrs["grids"] = grids  # where curves_from_tracker finds the curves too
    return runs, episodes[EPISODE_COLUMNS].reset_index(drop=True)


def paths(folder: str | Path, suite: str) -> tuple[Path, Path]:
    folder = Path(folder)
    return folder / f"{suite}-runs.csv.gz", folder / f"{suite}-episodes.csv.gz"


def write(folder: str | Path, suite: str, runs: pd.DataFrame, episodes: pd.DataFrame) -> tuple[Path, Path]:
    """Byte-stable gzip (no timestamp in the header): regenerating unchanged results changes no file."""
    pr, pe = paths(folder, suite)
    pr.parent.mkdir(parents=True, exist_ok=True)
    gz = {"method": "gzip", "mtime": 0}
    runs.to_csv(pr, index=False, compression=gz)
    if len(episodes) or get_suite(suite).style.paired_by == "episodes":
        episodes.to_csv(pe, index=False, compression=gz)
    else:  # a suite without test episodes (standard) gets no empty file, and loses a stale one
        pe.unlink(missing_ok=True)
    return pr, pe


def read(folder: str | Path, suite: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    pr, pe = paths(folder, suite)
    if not pr.is_file():
        raise FileNotFoundError(f"no raw results {pr.name} in {folder}; make them with `leaderboard --export {folder}`")
    try:
        runs = pd.read_csv(pr, keep_default_na=False, na_values=[""],
                           dtype={"setting": str, "source": str, "scale_note": str, "paper_dataset": str,
                                  "episodes_fingerprint": str, "bn_eval": str, "source_run_id": str,
                                  "error": str})
        episodes = pd.read_csv(pe) if pe.is_file() else pd.DataFrame(columns=["run_id", "episode", "acc"])
    except (OSError, EOFError, zlib.error, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"raw results in {folder} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                         "restore them from git or export them again with `leaderboard --export`") from None
    other = sorted(set(runs["suite"].astype(str)) - {suite}) if "suite" in runs else []
    if other:  # a standard table must never list few-shot runs, nor the reverse
        raise ValueError(f"raw results in {folder} ({pr.name}) hold runs of the {', '.join(other)} suite, not only {suite}; "
                         "keep each suite's raw results in their own files")
    if "protocol" not in runs:  # raw results written before the suites had protocol versions: version 1
        runs["protocol"] = 1
    if "bn_eval" not in runs:  # raw results written before --bn-eval: the suite's one mode then
        runs["bn_eval"] = "".join(get_suite(suite).bn_modes[:1])
    for c in ("source_run_id", "error"):  # raw results written before evaluate runs named their source, or failures their reason
        if c not in runs:
            runs[c] = ""
    for c in ("setting", "source", "scale_note", "paper_dataset", "episodes_fingerprint", "bn_eval", "source_run_id", "error"):
        runs[c] = runs[c].fillna("")
    return runs, episodes


def core_hours(runs: pd.DataFrame, own: bool = False) -> pd.Series:
    """Each run's cost in core-hours: its wall time x its torch threads, and at least its training time, which a
    resumed run accumulates over its processes (runs resumed before the checkpoint kept their wall time recorded the
    last process's alone). An `evaluate` run (one with a source_run_id) records its model's training time: its cost
    is that training's, or with ``own`` its evaluation's alone (what scoring the cell took)."""
    seconds = runs[["wall_time_s", "train_time_s"]].max(axis=1)
    if own and "source_run_id" in runs:
        seconds = runs.wall_time_s.where(runs.source_run_id.fillna("").astype(str).str.len() > 0, seconds)
    return seconds * runs.threads / 3600


def ended(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that have ended (any status but RUNNING): what raw results may hold. A RUNNING row is
    either still going (written by its export once it ends) or was left by a store lost mid-run."""
    return runs[runs.status != "RUNNING"].reset_index(drop=True) if len(runs) else runs


def merged(folder: str | Path, suite: str, runs: pd.DataFrame, episodes: pd.DataFrame,
           curves: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """This store's results with the runs already in ``folder`` that the store does not hold
    (pieces of a table run on other machines or in stores since lost); the count kept."""
    if not paths(folder, suite)[0].is_file():
        return runs, episodes, curves, 0
    old_runs, old_episodes = read(folder, suite)
    old_runs = ended(old_runs)
    if runs.empty:  # a store without runs of this suite: the folder's ended runs stay as they are
        runs = old_runs.iloc[:0]
    keep = set(old_runs.run_id) - set(runs.run_id)
    old_curves = read_curves(folder, suite)

    def both(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
        old = old[old.run_id.isin(keep)]
        return new if old.empty else pd.concat([old, new], ignore_index=True)

    out_runs = both(runs, old_runs).sort_values(CELL + ["start_time"]).reset_index(drop=True)
    return out_runs, both(episodes, old_episodes), both(curves, old_curves), len(keep)


def finished_keys(folder: str | Path, suite: str) -> set[str]:
    """Configuration keys of the FINISHED, tested runs in ``folder``'s raw results (none without them)."""
    if not paths(folder, suite)[0].is_file():
        return set()
    runs = read(folder, suite)[0]
    done = runs[(runs.status == "FINISHED") & runs.acc.notna()]
    return set(done.config_key)


def diverged(runs: pd.DataFrame) -> pd.DataFrame:
    """The table cells whose newest ended run diverged (FAILED with a "diverged: ..." error: its loss or its query
    logits became non-finite) and that have no finished run: cells with no accuracy to report, which a table names
    instead of leaving them out unseen. One row per cell, its newest run; a cell rerun since (a newer run KILLED or
    FAILED otherwise) is not listed, so the rerun is not hidden."""
    if runs.empty or "error" not in runs:
        return runs.iloc[:0]
    have = {tuple(k) for k in finished(runs)[0][CELL].astype(str).values}
    newest = ended(runs).sort_values("start_time").drop_duplicates(CELL, keep="last")
    bad = newest[(newest.status == "FAILED") & newest.error.fillna("").astype(str).str.startswith("diverged")]
    bad = bad.loc[[tuple(k) not in have for k in bad[CELL].astype(str).values]]  # .loc: an empty mask selects no row
    return bad.sort_values(CELL).reset_index(drop=True)


def finished(runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """FINISHED runs with a test result, the newest per configuration; counts of the rest."""
    left_out: dict[str, int] = {}
    if runs.empty:
        return runs, left_out
    for status, n in runs[runs.status != "FINISHED"].status.value_counts().items():
        left_out[status] = int(n)
    df = runs[runs.status == "FINISHED"]
    if (missing := int(df.acc.isna().sum())):
        left_out["FINISHED without test metrics"] = missing
        df = df[df.acc.notna()]
    before = len(df)
    df = df.sort_values("start_time", ascending=False).drop_duplicates("config_key")
    if before > len(df):
        left_out["superseded (older run of the same configuration)"] = before - len(df)
    # one run per table cell: runs of another configuration of the same cell (another data path, other
    # hyperparameters, pieces merged from several stores) would otherwise count one seed twice
    before = len(df)
    df = df.drop_duplicates(CELL).sort_values(CELL)
    if before > len(df):
        left_out["superseded (older run of the same table cell, another configuration)"] = before - len(df)
    return df.reset_index(drop=True), left_out
