"""Optuna tuning: the only module that imports optuna.

One study per (suite, profile, dataset, model, algorithm[, setting]), seeded TPE, a
MedianPruner fed with the intermediate validation accuracy, persistent storage (an
RDB URL such as ``sqlite:///optuna.db`` or PostgreSQL, with heartbeats: a trial whose
worker has been silent for three heartbeats is failed when a worker next starts or
finishes a trial, its MLflow run is closed as KILLED, and the budget of finished trials
is filled by new ones) so that an interrupted study resumes and several workers can
share one study. The objective is validation accuracy, never test. Each
trial is an MLflow run nested under the study's run; the best parameters go to
``tuned/<study>.json``, which ``run --tuned`` applies.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import tempfile
import warnings
from pathlib import Path

import optuna

import algorithms

from ..plan import RunSpec
from ..run.data import DataCache
from ..run.runner import StopRun, execute
from ..track.stores import StoreError, check_uri, creation_lock

TUNED_DIR = "tuned"


def study_name(spec: RunSpec) -> str:
    short = spec.setting.replace("-way ", "w").replace("-shot", "s")
    return ".".join([spec.suite, spec.profile, spec.dataset, spec.model, spec.algorithm] + ([short] if short else []))


def suggest(trial: optuna.Trial, space: dict[str, tuple]) -> dict:
    params = {}
    for name, (kind, *args) in space.items():
        if kind == "log":
            params[name] = trial.suggest_float(name, args[0], args[1], log=True)
        elif kind == "float":
            params[name] = trial.suggest_float(name, args[0], args[1])
        elif kind == "int":
            params[name] = trial.suggest_int(name, args[0], args[1])
        elif kind == "cat":
            params[name] = trial.suggest_categorical(name, list(args[0]))
        else:
            raise ValueError(f"unknown search-space kind {kind!r} for {name}")
    return params


HEARTBEAT_S = 30


@contextlib.contextmanager
def _quiet():
    """Optuna calls heartbeats and some plots "experimental"; the warning is noise to users."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def check_storage(url: str) -> None:
    """One line (``StoreError``) for a storage that cannot work, before any trial."""
    if url.endswith(".log") or url.startswith("journal:"):
        folder = Path(url.removeprefix("journal:")).resolve().parent
        if not folder.is_dir():
            raise StoreError(f"--storage {url}: the folder {folder} does not exist; create it or name another file")
        return
    if not url.startswith(("sqlite:", "postgresql", "mysql")):
        raise StoreError(f"--storage {url}: use an RDB URL (sqlite:///optuna.db, postgresql://...) or a .log journal file")
    check_uri(url, "--storage")


def _storage(url: str, heartbeat: int = HEARTBEAT_S):
    check_storage(url)
    if url.endswith(".log") or url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    with _quiet(), creation_lock(url):  # two workers starting on a new store create its tables once
        return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat, grace_period=3 * heartbeat)


def _parent_run(tracker, name: str) -> str:
    runs = tracker.runs(filter_string=f"tags.`optuna.study` = '{name}' and tags.study_parent = '1'")
    if runs and tracker.reopen(runs[0].info.run_id):
        return runs[0].info.run_id
    return tracker.start(f"study:{name}", {}, {"optuna.study": name, "study_parent": "1"})


def _close_orphans(study: optuna.Study, tracker, name: str) -> int:
    """Fail the trials of workers that stopped without a word (SIGKILL, lost machine) and
    close their MLflow runs as KILLED, so no run stays RUNNING. Returns how many."""
    with _quiet():
        optuna.storages.fail_stale_trials(study)  # a no-op for storages without heartbeats
    failed = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))}
    if not failed:
        return 0
    runs = tracker.runs(filter_string=f"tags.`optuna.study` = '{name}' and tags.tuning = '1' and attributes.status = 'RUNNING'")
    closed = 0
    for r in runs:
        if int(r.data.tags.get("optuna.trial", -1)) in failed:
            tracker.set_tags(r.info.run_id, {"stopped": "its tuning worker stopped mid-trial; Optuna failed the trial as stale"})
            tracker.end(r.info.run_id, "KILLED")
            closed += 1
    return closed


def _save_plots(study: optuna.Study, tracker, parent: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    with tempfile.TemporaryDirectory() as d:
        for name, fn in (("optimization_history", ovm.plot_optimization_history),
                         ("param_importances", ovm.plot_param_importances),
                         ("parallel_coordinate", ovm.plot_parallel_coordinate)):
            try:
                with _quiet():
                    warnings.simplefilter("ignore", UserWarning)  # e.g. a parameter every trial shares: a flat axis
                    ax = fn(study)
                fig = ax.figure if hasattr(ax, "figure") else ax.flatten()[0].figure
                fig.set_size_inches(8, 5)
                fig.tight_layout()
                fig.savefig(Path(d) / f"{name}.png", dpi=80)
                plt.close(fig)
                tracker.log_artifact(parent, Path(d) / f"{name}.png")
            except Exception as e:  # e.g. importances need two finished trials
                logging.getLogger(__name__).info("no %s plot: %s", name, e)


def _objective(spec: RunSpec, tracker, device, space: dict, parent: str, name: str, progress: bool):
    """The trial: the spec with the suggested hyperparameters, scored by its final
    validation accuracy; pruned by the MedianPruner at evaluation points."""
    cache = DataCache()

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        s = dataclasses.replace(spec, hparams=algorithms.make_hparams(spec.algorithm, **{**spec.hparams_dict(), **params}))

        def report(rnd: int, rec: dict) -> None:
            if "val_acc" not in rec:
                return
            trial.report(rec["val_acc"], rnd)
            if trial.should_prune():
                raise StopRun(f"pruned by the MedianPruner at step {rnd}")

        tags = {"mlflow.parentRunId": parent, "optuna.study": name, "optuna.trial": str(trial.number), "tuning": "1"}
        try:
            res = execute(s, tracker, device, cache, progress=progress, on_progress=report, extra_tags=tags)
        except StopRun:
            raise optuna.TrialPruned() from None
        if res.status != "FINISHED":
            raise RuntimeError(res.error or res.status)
        value = res.metrics.get("final_val_acc")
        if value is None:
            raise RuntimeError("the run reported no validation accuracy (a split without validation classes cannot be tuned)")
        return float(value)

    return objective


def _summarise(study: optuna.Study, name: str, storage: str, tuned_dir: str | Path, tracker, parent: str) -> tuple[dict, Path]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = study.get_trials(deepcopy=False, states=states)
    summary = {"study": name, "storage": storage, "trials": len(finished), "direction": "maximize",
               "objective": "final validation accuracy"}
    try:
        best = study.best_trial
        summary |= {"best_value": best.value, "best_trial": best.number, "params": best.params}
    except ValueError:
        summary |= {"params": {}}
    out = Path(tuned_dir) / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, sort_keys=True))
    tracker.log_artifact(parent, out)
    _save_plots(study, tracker, parent)
    tracker.log_metrics(parent, {"best_val_acc": summary.get("best_value", float("nan")), "trials": len(finished)}, step=0)
    tracker.end(parent, "FINISHED")
    return summary, out


def tune(spec: RunSpec, tracker, device, trials: int, timeout: float | None, storage: str, seed: int,
         tuned_dir: str | Path = TUNED_DIR, progress: bool = False, echo=print, worker: int = 0,
         heartbeat: int = HEARTBEAT_S) -> dict:
    """Run (or continue) the study for ``spec``'s configuration until it has ``trials``
    finished (complete or pruned) trials or ``timeout`` seconds pass.

    The TPE sampler is seeded with ``seed``, the worker number and the number of trials
    the study already has, so a resumed study or a second worker proposes new points
    instead of replaying the first ones."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is a FAILED MLflow run with its error, not a log traceback
    name = study_name(spec)
    space = algorithms.get_class(spec.algorithm).Hparams.SEARCH_SPACE
    study = optuna.create_study(
        study_name=name, storage=_storage(storage, heartbeat), direction="maximize", load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    study.sampler = optuna.samplers.TPESampler(seed=seed + 100_003 * worker + len(study.trials))
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=states))
    parent = _parent_run(tracker, name)
    if closed := _close_orphans(study, tracker, name):
        echo(f"study {name}: {closed} trial(s) of a stopped worker failed as stale and their MLflow runs closed as KILLED")
    if done < trials:
        try:
            with _quiet():  # optuna 3.6 calls its own fail_stale_trials inside optimize "experimental"
                study.optimize(_objective(spec, tracker, device, space, parent, name, progress), n_trials=None,
                               timeout=timeout, catch=(RuntimeError,),
                               callbacks=[optuna.study.MaxTrialsCallback(trials, states=states)])
        except BaseException:  # Ctrl-C, SIGTERM: Optuna has failed the trial, execute() closed its run KILLED
            tracker.set_tags(parent, {"stopped": "interrupted"})
            tracker.end(parent, "KILLED")
            raise
    summary, out = _summarise(study, name, storage, tuned_dir, tracker, parent)
    echo(f"study {name}: {summary['trials']} finished trials (was {done}); best validation accuracy "
         f"{100 * summary.get('best_value', float('nan')):.2f}% with {summary['params']} -> {out}")
    return summary


def apply_tuned(specs: list[RunSpec], tuned_dir: str | Path = TUNED_DIR) -> tuple[list[RunSpec], list[str]]:
    """Specs with their study's best parameters applied; and the studies that were missing."""
    out, missing = [], []
    for s in specs:
        path = Path(tuned_dir) / f"{study_name(s)}.json"
        if not path.is_file():
            missing.append(study_name(s))
            out.append(s)
            continue
        try:
            best = json.loads(path.read_text()).get("params", {})
            if not isinstance(best, dict):
                raise ValueError("'params' is not an object")
            hp = algorithms.make_hparams(s.algorithm, **{**s.hparams_dict(), **best})
        except (ValueError, TypeError, AttributeError) as e:  # json errors and BadHyperparameterError are ValueErrors
            raise ValueError(f"{path} is not a usable tuning result ({e}); rerun `tune` or delete the file") from None
        note = f"tuned hyperparameters from study {study_name(s)}"
        out.append(dataclasses.replace(s, hparams=hp, scale_note="; ".join(x for x in (s.scale_note, note) if x)))
    return out, sorted(set(missing))
