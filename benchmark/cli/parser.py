"""The command line: one small function per command's flags."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..suites import SUITES

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + error; we print one line
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _int_at_least(v: str, low: int) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {v!r}") from None
    if n < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {v!r}")
    return n


def nonneg_int(v: str) -> int:
    return _int_at_least(v, 0)


def pos_int(v: str) -> int:
    return _int_at_least(v, 1)


def pos_float(v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {v!r}") from None
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {v!r}")
    return x


def _design_flags(r: argparse.ArgumentParser) -> None:
    """The sequential design over seeds (run --until-decided; leaderboard reads a sequential grid's table with them)."""
    r.add_argument("--until-decided", action="store_true",
                   help="add seeds one at a time from 3 until every comparison with the baseline is decided (a group-"
                        "sequential design calibrated by simulation; family-wise 0.05) or --max-seeds is reached")
    r.add_argument("--max-seeds", type=_int_min(3), default=None, metavar="N", help="--until-decided: at most N seeds (default 10)")
    r.add_argument("--min-effect", type=pos_float, default=None, metavar="PP",
                   help="--until-decided: a comparison whose interval excludes every difference of PP percentage points or "
                        "more is decided (futility; default 1.0)")


def _int_min(low: int):
    def check(v: str) -> int:
        return _int_at_least(v, low)
    return check


def _blocking_file(path: Path) -> Path | None:
    """The file (not folder) that stands where ``path`` or one of its folders would go, if any."""
    for p in (path, *path.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def pair(v: str) -> tuple[str, str]:
    """``A:B``: algorithm A judged against algorithm B."""
    a, sep, b = v.partition(":")
    if not sep or not a or not b or ":" in b or a == b:
        raise argparse.ArgumentTypeError(f"expected two different algorithms as A:B (e.g. mtl_maml:maml), got {v!r}")
    return a, b


def out_folder(v: str) -> str:
    """A folder the command writes into (created if missing): not an existing file, nor under one."""
    if (f := _blocking_file(Path(v))) is not None:
        raise argparse.ArgumentTypeError(f"{v} is a file, not a folder; name a folder" if f == Path(v) else
                                         f"{v} would be a folder under the file {f}; name another path")
    return v


def out_file(v: str) -> str:
    """A file the command writes (its folder created if missing): not an existing folder, nor under a file."""
    if Path(v).is_dir():
        raise argparse.ArgumentTypeError(f"{v} is a folder; name a file, e.g. {Path(v) / 'episodes.json'}")
    if (f := _blocking_file(Path(v).parent)) is not None:
        raise argparse.ArgumentTypeError(f"{v} would be a file under the file {f}; name another path")
    return v


# Flags that belong to one suite (`run`, `tune`): given to the other, the command refuses them in one line.
# tests/test_cli.py walks the parser, so a new flag must be listed here or in SHARED.
SUITE_ONLY = {
    "epochs": "standard", "max_steps": "standard", "batch_size": "standard", "train_per_class": "standard",
    "val_fraction": "standard", "keep_val_split": "standard",
    "ways": "fewshot", "shots": "fewshot", "queries": "fewshot", "meta_iterations": "fewshot", "meta_batch": "fewshot",
    "test_episodes": "fewshot", "episodes_file": "fewshot", "bn_eval": "fewshot", "eval_batch": "fewshot",
    "stop_at_plateau": "fewshot", "test_weights": "fewshot",
}
SHARED = {
    "help", "suite", "profile", "dataset", "model", "algorithm", "seeds", "set", "precision", "done_in", "data_root", "download",
    "tracking_uri", "experiment", "device", "out", "no_progress", "workers", "executor", "ray_address", "task_cpus", "resume",
    "force", "shard", "until_decided", "max_seeds", "min_effect", "checkpoint_dir", "tuned", "keep_weights", "tuned_dir", "trials", "timeout", "storage", "sampler_seed",
    "worker", "heartbeat", "all_algorithms", "plugin",
}
SUITE_WORDS = {"standard": "standard", "fewshot": "few-shot"}


def check_suite_flags(args) -> None:
    """ValueError (one line) for a flag of the other suite."""
    for dest, owner in SUITE_ONLY.items():
        if getattr(args, dest, None) not in (None, False) and owner != args.suite and args.suite in SUITES:
            flag = "--" + dest.replace("_", "-")
            raise ValueError(f"{flag} applies to the {SUITE_WORDS[owner]} suite only (this is --suite {args.suite}); "
                             f"drop it, or use --suite {owner}")


def _grid_flags(r: argparse.ArgumentParser) -> None:
    """The selection and protocol flags that `run` and `tune` share."""
    r.add_argument("--suite", default="standard", help=" or ".join(SUITES))
    r.add_argument("--profile", default=None, help="the suite's profile (default quick); `list` shows them all")
    r.add_argument("--dataset", nargs="+", help="override the profile's dataset(s)")
    r.add_argument("--model", nargs="+", help="override the profile's model(s)")
    r.add_argument("--algorithm", nargs="+", help="override the profile's algorithm(s)")
    r.add_argument("--seeds", nargs="+", type=nonneg_int, help="seeds (default: the profile's)")
    r.add_argument("--epochs", type=nonneg_int, help="epochs per run (milestones scale with it)")
    r.add_argument("--max-steps", type=nonneg_int, help="stop each run after this many optimiser steps")
    r.add_argument("--batch-size", type=nonneg_int)
    r.add_argument("--train-per-class", type=nonneg_int, help="reduced scale: at most this many training images per class")
    r.add_argument("--val-fraction", type=float, help="validation share carved from the training data (default 0.1)")
    r.add_argument("--keep-val-split", action="store_true",
                   help="paper profiles: hold out --val-fraction for validation (default: train on the whole training set, "
                        "as the MLTP paper does; tune always holds it out)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="algorithm hyperparameter, e.g. --set eta=0.5")
    r.add_argument("--ways", nargs="+", type=nonneg_int, help="few-shot: N of N-way (several allowed)")
    r.add_argument("--shots", nargs="+", type=nonneg_int, help="few-shot: K of K-shot (several allowed)")
    r.add_argument("--queries", type=nonneg_int, help="few-shot: query images per class")
    r.add_argument("--meta-iterations", type=nonneg_int, help="few-shot: meta-training iterations")
    r.add_argument("--meta-batch", type=nonneg_int, help="few-shot: tasks per meta-iteration")
    r.add_argument("--test-episodes", type=nonneg_int, help="few-shot: fixed test episodes (default: the profile's)")
    r.add_argument("--episodes-file", help="few-shot: test on the exact episodes of a manifest (`episodes export`)")
    r.add_argument("--bn-eval", choices=["transductive", "inductive"],
                   help="few-shot: batch norm at test time; transductive (default): statistics of the batch being "
                        "classified (MAML's convention); inductive: running statistics kept during meta-training")
    r.add_argument("--stop-at-plateau", type=nonneg_int, metavar="MIN",
                   help="few-shot: stop at a validation point t >= MIN once the best validation accuracy at t exceeds the "
                        "best at 0.8 t by less than 0.5 pp (the tables' plateau criterion); --meta-iterations is the cap; "
                        "0: a fixed budget (default: the profile's)")
    r.add_argument("--test-weights", choices=("final", "best-val"),
                   help="few-shot: the weights scored on the test episodes: final (the last meta-iteration's) or best-val "
                        "(those of the validation point with the highest accuracy) (default: the profile's)")
    r.add_argument("--eval-batch", type=nonneg_int, metavar="N",
                   help="few-shot: score the fixed validation and test episodes N at a time as batched work (default 0: "
                        "blocks sized by memory; 1: one episode at a time, the reference loop); the predictions are the same")
    r.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="forward passes in fp32 (default), under bf16 autocast (CPU, CUDA; fp32 weights; first-order "
                        "algorithms) or fp16 autocast with a gradient scaler (CUDA; algorithms with one backward pass per step)")
    r.add_argument("--done-in", metavar="DIR", help="skip the cells that have a FINISHED run in DIR's raw results "
                   "(`leaderboard --export`): a table built in pieces across stores")
    r.add_argument("--data-root", help="dataset folder (or archive for imagefolder); default ./data")
    r.add_argument("--download", action="store_true", help="download the dataset if it is missing (needs a network)")
    r.add_argument("--tracking-uri", help="MLflow tracking URI (default sqlite:///mlflow.db)")
    r.add_argument("--experiment", help="MLflow experiment name (default: the suite name)")
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    r.add_argument("--out", default="results", type=out_folder, help="folder for comparison plots")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _executor_flags(r: argparse.ArgumentParser, what: str) -> None:
    r.add_argument("--workers", type=int, default=1,
                   help=f"{what} in N local processes (torch threads split: N x threads <= cores); default 1")
    r.add_argument("--executor", choices=["local", "ray"], default="local",
                   help=f'local (default: this machine, --workers) or ray: {what} as Ray tasks (pip install -e ".[ray]")')
    r.add_argument("--ray-address", help="the Ray cluster (HOST:PORT, ray://HOST:PORT or auto); default: a local cluster")
    r.add_argument("--task-cpus", type=int, default=1, help="--executor ray: CPUs (and torch threads) each Ray task reserves")


def _run_flags(r: argparse.ArgumentParser) -> None:
    _executor_flags(r, "run the grid's cells")
    r.add_argument("--resume", action="store_true", help="the default, spelled out: skip finished runs, continue interrupted ones")
    r.add_argument("--force", action="store_true", help="rerun every run from scratch (ignore finished runs and checkpoints)")
    r.add_argument("--shard", metavar="I/N", help="run only the I-th of N deterministic slices of the grid (1-based)")
    _design_flags(r)
    r.add_argument("--checkpoint-dir", default="checkpoints", type=out_folder, help="where per-run checkpoints live (default ./checkpoints)")
    r.add_argument("--tuned", action="store_true", help="use the best parameters of `tune` (tuned/<study>.json)")
    r.add_argument("--keep-weights", choices=["none", "best", "final", "both"], default="both",
                   help="trained weights kept as MLflow artifacts of each finished run (default both; `evaluate` scores them)")
    r.add_argument("--tuned-dir", default="tuned")


def _tune_flags(t: argparse.ArgumentParser) -> None:
    t.add_argument("--trials", type=nonneg_int, required=True, help="finished trials per study (equal for every algorithm)")
    t.add_argument("--timeout", type=float, help="seconds per study")
    t.add_argument("--storage", default="sqlite:///optuna.db", help="Optuna storage (RDB URL, or a .log journal file)")
    t.add_argument("--sampler-seed", type=int, default=0)
    t.add_argument("--worker", type=nonneg_int, default=0, help="this worker's number when several share one study")
    _executor_flags(t, "run each study's trials")
    t.add_argument("--heartbeat", type=nonneg_int, default=30,
                   help="seconds between a trial's heartbeats (RDB storages); a trial silent for 3 heartbeats is failed as stale")
    t.add_argument("--all-algorithms", action="store_true", help="equal-budget mode: every algorithm of the suite/profile")
    t.add_argument("--tuned-dir", default="tuned")


def _leaderboard_flags(lb: argparse.ArgumentParser) -> None:
    lb.add_argument("--suite", default="standard", choices=list(SUITES))
    lb.add_argument("--tracking-uri", help="MLflow tracking URI (default sqlite:///mlflow.db)")
    lb.add_argument("--experiment", help="MLflow experiment (default: the suite name)")
    lb.add_argument("--baseline", help="baseline algorithm for the significance test (default: the suite's: "
                    + ", ".join(f"{n}: {s.style.baseline}" for n, s in SUITES.items()) + ")")
    lb.add_argument("--out", default=str(Path("results") / "leaderboards"), type=out_folder,
                    help="output folder (default results/leaderboards; the committed tables are updated only by an explicit "
                         "--out leaderboards/...)")
    lb.add_argument("--reproduce", help="the command that produced the runs, written into the tables' header")
    lb.add_argument("--family", choices=("table", "setting"), default="table",
                    help="Holm's family: table (default: every comparison of a table across its settings, one question) "
                         "or setting (each setting's comparisons on their own)")
    lb.add_argument("--compare", nargs="+", default=[], type=pair, metavar="A:B",
                    help="planned comparisons besides the baseline's, e.g. mtl_maml:maml (each MTL against its parent), "
                         "judged alike in the same Holm family")
    _design_flags(lb)
    lb.add_argument("--from", dest="from_dir", metavar="DIR",
                    help="build from the raw results in DIR (<suite>-runs.csv.gz, <suite>-episodes.csv.gz) instead of MLflow")
    lb.add_argument("--export", metavar="DIR", type=out_folder, help="only write the store's raw results to DIR (no tables)")
    lb.add_argument("--merge", action="store_true",
                    help="with --export: keep the runs already in DIR that this store does not hold (a table built in pieces)")


def _perf_flags(f: argparse.ArgumentParser) -> None:
    f.add_argument("--suite", default="standard", choices=list(SUITES))
    f.add_argument("--model", default=None, help="standard: cnet2 (default); fewshot: conv4-64 (default), or any few-shot "
                   "backbone (resnet12, resnet10-fs, resnet18-fs, ...)")
    f.add_argument("--ways", type=nonneg_int, default=5, help="fewshot")
    f.add_argument("--shots", type=nonneg_int, default=1, help="fewshot")
    f.add_argument("--queries", type=nonneg_int, default=15, help="fewshot")
    f.add_argument("--meta-batch", type=nonneg_int, default=32, help="fewshot")
    f.add_argument("--batch-size", type=nonneg_int, default=128)
    f.add_argument("--image-size", type=nonneg_int, default=None,
                   help="standard: 32 (default); fewshot: 28 grey, Omniglot-shaped (default), else 3-channel images of this size")
    f.add_argument("--classes", type=nonneg_int, default=10)
    f.add_argument("--steps", type=nonneg_int, default=5, help="timed steps per algorithm per round")
    f.add_argument("--rounds", type=nonneg_int, default=3, help="interleaved rounds (the median is reported)")
    f.add_argument("--algorithm", nargs="+")
    f.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    f.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    f.add_argument("--workers", type=int, help="throughput of the suite's quick grid (short budget) with N workers vs sequential")
    f.add_argument("--store", type=int, nargs="+", metavar="N",
                   help="resume-check and leaderboard times on a synthetic store of N runs (e.g. --store 1000 5000)")
    f.add_argument("--eval", action="store_true",
                   help="fewshot: test episodes per second, the per-episode loop beside batched blocks (--eval-batch), "
                        "5-way 1/5-shot and 20-way 15-shot, both batch-norm modes")
    f.add_argument("--episodes", type=nonneg_int, default=600, help="fewshot --eval: episodes scored in blocks")
    f.add_argument("--loop-episodes", type=nonneg_int, default=50, help="fewshot --eval: episodes scored by the loop")
    f.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="standard: bf16 measures each first-order algorithm's step in fp32 and under bf16 autocast, side by side")


def _evaluate_flags(e: argparse.ArgumentParser) -> None:
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", nargs="+", metavar="RUN_ID", help="finished runs whose kept weights to score (or runs that "
                     "trained to the end and diverged only at test, tagged diverged_after_training)")
    src.add_argument("--experiment", help="every finished run of this MLflow experiment (with --algorithm: only those)")
    e.add_argument("--algorithm", nargs="+", help="with --experiment: only these algorithms")
    e.add_argument("--seeds", nargs="+", type=nonneg_int, help="with --experiment: only runs of these seeds")
    e.add_argument("--trained-setting", metavar="SETTING",
                   help="with --experiment: only runs trained at this few-shot setting, e.g. '5-way 1-shot'")
    e.add_argument("--weights", choices=["final", "best"], default="final", help="final (default) or best-validation weights")
    e.add_argument("--if-trained", action="store_true",
                   help="with --experiment: a store, or a selection, without a finished run is not an error: say so on one "
                        "line and exit 0 (scripted passes over stores that hold only some of the models)")
    e.add_argument("--tracking-uri", help="MLflow tracking URI of the source runs and of the new ones (default sqlite:///mlflow.db)")
    e.add_argument("--eval-experiment", help="experiment of the new runs (default: <suite>-evaluate)")
    e.add_argument("--dataset", help="score on this dataset (default: the source run's)")
    e.add_argument("--data-root", help="its folder or archive")
    e.add_argument("--ways", type=nonneg_int, help="few-shot: N of N-way")
    e.add_argument("--shots", type=nonneg_int, help="few-shot: K of K-shot")
    e.add_argument("--queries", type=nonneg_int, help="few-shot: queries per class")
    e.add_argument("--test-episodes", type=nonneg_int, help="few-shot: fixed test episodes")
    e.add_argument("--episodes-file", help="few-shot: the exact episodes of a manifest (`episodes export`)")
    e.add_argument("--eval-batch", type=nonneg_int, metavar="N",
                   help="few-shot: score the test episodes N at a time as batched work (default 0: "
                        "blocks sized by memory; 1: one episode at a time, the reference loop); the predictions are the same")
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a test-time hyperparameter of the source's algorithm, e.g. --set joint_batch=true or test_inner_steps=5")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def _episodes_flags(x: argparse.ArgumentParser) -> None:
    x.add_argument("action", choices=["export"])
    x.add_argument("--dataset", required=True, help="an episodic dataset (see `list`)")
    x.add_argument("--data-root", help="its folder")
    x.add_argument("--split", default="test", choices=["train", "val", "test"])
    x.add_argument("--ways", type=pos_int, default=5)
    x.add_argument("--shots", type=pos_int, default=1)
    x.add_argument("--queries", type=pos_int, default=15)
    x.add_argument("--count", type=pos_int, default=600, help="episodes")
    x.add_argument("--seed", type=nonneg_int, default=0, help="evaluation seed (0: the suite's default episodes)")
    x.add_argument("--out", required=True, type=out_file, help="the manifest file (.json)")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="benchmark", description="Comparative meta-learning benchmark suite")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run_p = sub.add_parser("run", help="run a suite's grid of (dataset, model, algorithm, seed)")
    _grid_flags(run_p)
    _run_flags(run_p)
    tune_p = sub.add_parser("tune", help="Optuna: tune each algorithm's hyperparameters on validation accuracy")
    _grid_flags(tune_p)
    _tune_flags(tune_p)
    ls = sub.add_parser("list", help="list algorithms, datasets, models, suites and profiles")
    ls.add_argument("--protocol", metavar="PROFILE",
                    help="every protocol element of a profile, with its deviations from the paper and their sources")
    ls.add_argument("--suite", choices=list(SUITES), help="with --protocol: the suite (default: every suite with that profile)")
    ui = sub.add_parser("ui", help="start the MLflow UI on the tracking store (127.0.0.1) and print its URL")
    ui.add_argument("--tracking-uri", help="MLflow tracking URI (default sqlite:///mlflow.db)")
    ui.add_argument("--port", type=nonneg_int, default=5000)
    ui.add_argument("--no-browser", action="store_true", help="print the deep links only (a browser opens the first "
                    "where a display exists)")
    _leaderboard_flags(sub.add_parser("leaderboard", help="tables with spread, significance and provenance from the MLflow runs"))
    _perf_flags(sub.add_parser("perf", help="cost benchmark: step time and peak memory relative to standard"))
    _evaluate_flags(sub.add_parser("evaluate", help="score the kept weights of finished runs again, into new linked runs"))
    _episodes_flags(sub.add_parser("episodes", help="export the exact test episodes as a shareable manifest"))
    check = sub.add_parser("check-algorithm", help="the built-ins' contract on one algorithm (yours with --plugin): "
                                                    "determinism, resume, state_dict, query order, divergence, training")
    check.add_argument("name", help="a registered algorithm (see `list`)")
    for command in sub.choices.values():
        command.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE.py",
                             help="load your own algorithms first: a .py file or a module that registers Algorithm "
                                  "subclasses with @algorithms.register(\"name\") (repeatable; installed packages' "
                                  "meta_benchmark.algorithms entry points load without it)")
    return p
