"""``python -m benchmark {run,list,perf}``.

Every user-facing failure is one line on stderr and a non-zero exit: 2 for bad input
(unknown names, bad flag values, missing data), 1 when runs failed, 130 when interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + error; we print one line
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"benchmark: error: {message}", file=sys.stderr)
    return code


def _parse_value(v: str):
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def _nonneg_int(v: str) -> int:
    try:
        i = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {v!r}") from None
    return i


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="benchmark", description="Comparative meta-learning benchmark suite")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run_p = sub.add_parser("run", help="run a suite's grid of (dataset, model, algorithm, seed)")
    t = sub.add_parser("tune", help="Optuna: tune each algorithm's hyperparameters on validation accuracy")
    t.add_argument("--trials", type=_nonneg_int, required=True, help="finished trials per study (equal for every algorithm)")
    t.add_argument("--timeout", type=float, help="seconds per study")
    t.add_argument("--storage", default="sqlite:///optuna.db", help="Optuna storage (RDB URL, or a .log journal file)")
    t.add_argument("--sampler-seed", type=int, default=0)
    t.add_argument("--worker", type=_nonneg_int, default=0, help="this worker's number when several share one study")
    t.add_argument("--heartbeat", type=_nonneg_int, default=30,
                   help="seconds between a trial's heartbeats (RDB storages); a trial silent for 3 heartbeats is failed as stale")
    t.add_argument("--all-algorithms", action="store_true", help="equal-budget mode: every algorithm of the suite/profile")
    t.add_argument("--tuned-dir", default="tuned")
    t.add_argument("--no-progress", action="store_true", help="hide progress bars")
    for r in (run_p, t):
        r.add_argument("--suite", default="standard", help="standard or fewshot")
        r.add_argument("--profile", default=None, help="quick (default) or paper; see `list`")
        r.add_argument("--dataset", nargs="+", help="override the profile's dataset(s)")
        r.add_argument("--model", nargs="+", help="override the profile's model(s)")
        r.add_argument("--algorithm", nargs="+", help="override the profile's algorithm(s)")
        r.add_argument("--seeds", nargs="+", type=_nonneg_int, help="seeds (default 0 1 2)")
        r.add_argument("--epochs", type=_nonneg_int, help="epochs per run (milestones scale with it)")
        r.add_argument("--max-steps", type=_nonneg_int, help="stop each run after this many optimiser steps")
        r.add_argument("--batch-size", type=_nonneg_int)
        r.add_argument("--train-per-class", type=_nonneg_int, help="reduced scale: at most this many training images per class")
        r.add_argument("--val-fraction", type=float, default=0.1, help="validation share carved from the training data")
        r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="algorithm hyperparameter, e.g. --set eta=0.5")
        r.add_argument("--ways", nargs="+", type=_nonneg_int, help="few-shot: N of N-way (several allowed)")
        r.add_argument("--shots", nargs="+", type=_nonneg_int, help="few-shot: K of K-shot (several allowed)")
        r.add_argument("--queries", type=_nonneg_int, help="few-shot: query images per class")
        r.add_argument("--meta-iterations", type=_nonneg_int, help="few-shot: meta-training iterations")
        r.add_argument("--meta-batch", type=_nonneg_int, help="few-shot: tasks per meta-iteration")
        r.add_argument("--test-episodes", type=_nonneg_int, help="few-shot: fixed test episodes (default 600)")
        r.add_argument("--data-root", help="dataset folder (or archive for imagefolder); default ./data")
        r.add_argument("--download", action="store_true", help="download the dataset if it is missing (needs a network)")
        r.add_argument("--tracking-uri", help="MLflow tracking URI (default sqlite:///mlflow.db)")
        r.add_argument("--experiment", help="MLflow experiment name (default: the suite name)")
        r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        r.add_argument("--out", default="results", help="folder for comparison plots")
    r = run_p
    r.add_argument("--resume", action="store_true", help="the default, spelled out: skip finished runs, continue interrupted ones")
    r.add_argument("--force", action="store_true", help="rerun every run from scratch (ignore finished runs and checkpoints)")
    r.add_argument("--shard", metavar="I/N", help="run only the I-th of N deterministic slices of the grid (1-based)")
    r.add_argument("--checkpoint-dir", default="checkpoints", help="where per-run checkpoints live (default ./checkpoints)")
    r.add_argument("--tuned", action="store_true", help="use the best parameters of `tune` (tuned/<study>.json)")
    r.add_argument("--tuned-dir", default="tuned")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")

    sub.add_parser("list", help="list algorithms, datasets, models, suites and profiles")

    ui = sub.add_parser("ui", help="start the MLflow UI on the tracking store (127.0.0.1) and print its URL")
    ui.add_argument("--tracking-uri", help="MLflow tracking URI (default sqlite:///mlflow.db)")
    ui.add_argument("--port", type=_nonneg_int, default=5000)

    lb = sub.add_parser("leaderboard", help="tables with spread, significance and provenance from the MLflow runs")
    lb.add_argument("--suite", default="standard", choices=["standard", "fewshot"])
    lb.add_argument("--tracking-uri", help="MLflow tracking URI (default sqlite:///mlflow.db)")
    lb.add_argument("--experiment", help="MLflow experiment (default: the suite name)")
    lb.add_argument("--baseline", help="baseline algorithm for the significance test (standard: standard; fewshot: transfer)")
    lb.add_argument("--out", default="leaderboards", help="output folder (default leaderboards/)")
    lb.add_argument("--reproduce", help="the command that produced the runs, written into the tables' header")

    f = sub.add_parser("perf", help="cost benchmark: step time and peak memory relative to standard")
    f.add_argument("--suite", default="standard", help="standard or fewshot")
    f.add_argument("--model", default="cnet2", help="standard: cnet2; fewshot: conv4-64")
    f.add_argument("--ways", type=_nonneg_int, default=5, help="fewshot")
    f.add_argument("--shots", type=_nonneg_int, default=1, help="fewshot")
    f.add_argument("--queries", type=_nonneg_int, default=15, help="fewshot")
    f.add_argument("--meta-batch", type=_nonneg_int, default=32, help="fewshot")
    f.add_argument("--batch-size", type=_nonneg_int, default=128)
    f.add_argument("--image-size", type=_nonneg_int, default=32)
    f.add_argument("--classes", type=_nonneg_int, default=10)
    f.add_argument("--steps", type=_nonneg_int, default=5, help="timed steps per algorithm per round")
    f.add_argument("--rounds", type=_nonneg_int, default=3, help="interleaved rounds (the median is reported)")
    f.add_argument("--algorithm", nargs="+")
    f.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    f.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    return p


def cmd_list() -> int:
    import algorithms
    import datasets

    from .models import list_models
    from .suites import SUITES

    print("algorithms:")
    for name in algorithms.available():
        cls = algorithms.get_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"  {name:<12} [{cls.consumes}] {doc}")
    print("datasets:")
    for name, desc in datasets.describe().items():
        print(f"  {name:<14} {desc}")
    print("models:")
    print("  " + ", ".join(list_models()))
    print("suites and profiles:")
    for sname, mod in SUITES.items():
        for prof, desc in mod.DESCRIPTIONS.items():
            default = " (default)" if prof == mod.DEFAULT_PROFILE else ""
            print(f"  --suite {sname} --profile {prof}{default}: {desc}")
    return 0


def _plan(args):
    """(specs, device, profile, shard, total) from run/tune flags, or an int exit code."""
    from .plan import Overrides, PlanError, build_plan
    from .provenance import resolve_device
    from .suites import get_suite

    try:
        suite = get_suite(args.suite)
    except ValueError as e:
        return _fail(str(e))
    profile = args.profile or suite.DEFAULT_PROFILE
    hp = {}
    for item in args.set:
        if "=" not in item:
            return _fail(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        hp[k.strip()] = _parse_value(v.strip())
    if getattr(args, "resume", False) and getattr(args, "force", False):
        return _fail("--resume and --force contradict each other; use one")
    shard = None
    if getattr(args, "shard", None):
        try:
            i, n = (int(v) for v in args.shard.split("/"))
            if not 1 <= i <= n:
                raise ValueError
            shard = (i, n)
        except ValueError:
            return _fail(f"--shard expects I/N with 1 <= I <= N, got {args.shard!r}")
    if args.data_root:
        args.data_root = os.path.abspath(os.path.expanduser(args.data_root))  # the same data, the same config key
    o = Overrides(
        datasets=args.dataset, models=args.model, algorithms=args.algorithm, seeds=args.seeds,
        epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
        train_per_class=args.train_per_class, data_root=args.data_root, download=args.download,
        val_fraction=args.val_fraction, hparams=hp, ways=args.ways, shots=args.shots, queries=args.queries,
        meta_iterations=args.meta_iterations, meta_batch=args.meta_batch, test_episodes=args.test_episodes,
    )
    try:
        specs = build_plan(args.suite, profile, o)
        device = resolve_device(args.device)
    except (PlanError, ValueError) as e:
        return _fail(str(e))
    if not specs:
        return _fail("the selection is empty: no (dataset, model, algorithm, seed) to run")
    total = len(specs)
    if shard:
        specs = [s for j, s in enumerate(specs) if j % shard[1] == shard[0] - 1]
        if not specs:
            return _fail(f"shard {shard[0]}/{shard[1]} of {total} runs is empty")
    return specs, device, profile, shard, total


def _check_data(specs, cache) -> int | None:
    """Load every dataset before creating any MLflow run, so a missing dataset is one clear line."""
    import datasets

    try:
        for s in {(s.dataset, s.data_root, s.val_fraction): s for s in specs}.values():
            cache.get(s)
        if specs[0].episodic:
            _check_episodes(specs, cache)
    except (datasets.DataError, ValueError) as e:
        return _fail(str(e))
    return None


def cmd_tune(args) -> int:
    planned = _plan(args)
    if isinstance(planned, int):
        return planned
    specs, device, profile, _, _ = planned
    if args.all_algorithms and args.algorithm:
        return _fail("--all-algorithms tunes every algorithm of the profile; drop --algorithm")
    if args.trials < 1:
        return _fail(f"--trials must be >= 1, got {args.trials}")
    if args.heartbeat < 1:
        return _fail(f"--heartbeat must be >= 1 second, got {args.heartbeat}")
    from .runner import DataCache

    if (code := _check_data(specs, DataCache())) is not None:
        return code
    from .tracking import Tracker
    from .tuning import study_name, tune

    studies = {}
    for s in specs:  # one study per configuration; trials use the first seed
        studies.setdefault(study_name(s), s)
    tracker = Tracker(args.tracking_uri, args.experiment or f"{args.suite}-tuning")
    print(f"tuning {len(studies)} studies x {args.trials} trials (equal budget) on {args.storage}; trials tracked in "
          f"{tracker.uri} (experiment {tracker.experiment!r})", flush=True)
    for s in studies.values():
        tune(s, tracker, device, args.trials, args.timeout, args.storage, args.sampler_seed, args.tuned_dir,
             progress=not args.no_progress, worker=args.worker, heartbeat=args.heartbeat)
    return 0


def cmd_run(args) -> int:
    import datasets

    planned = _plan(args)
    if isinstance(planned, int):
        return planned
    specs, device, profile, shard, total = planned
    from .provenance import hardware_summary

    if args.tuned:
        from .tuning import apply_tuned

        specs, missing = apply_tuned(specs, args.tuned_dir)
        if missing:
            return _fail(f"no tuned parameters for study {missing[0]} in {args.tuned_dir}/ "
                         f"({len(missing)} missing); run `python -m benchmark tune` with the same selection first")

    from .runner import DataCache, Terminated, install_signal_handlers, run_grid

    cache = DataCache()
    if (code := _check_data(specs, cache)) is not None:
        return code

    from .tracking import Tracker

    tracker = Tracker(args.tracking_uri, args.experiment or args.suite)
    print(
        f"suite {args.suite}, profile {profile}: {len(specs)} runs"
        + (f" (shard {shard[0]}/{shard[1]} of {total})" if shard else "")
        + f" on {hardware_summary(device)}; "
        f"tracking {tracker.uri} (experiment {tracker.experiment!r})",
        flush=True,
    )
    install_signal_handlers()
    from .report import tables

    try:
        results = run_grid(specs, tracker, device, progress=not args.no_progress, cache=cache,
                           checkpoint_dir=args.checkpoint_dir, force=args.force)
    except KeyboardInterrupt:
        return _fail("interrupted; the run in progress is marked KILLED, finished runs are kept", 130)
    except Terminated:
        return _fail("terminated; the run in progress is marked KILLED, finished runs are kept", 143)
    except datasets.DataError as e:
        return _fail(str(e))
    print()
    print(tables(results))
    _comparison_plots(results, Path(args.out))
    failed = [r for r in results if r.status != "FINISHED"]
    if failed:
        print(f"\n{len(failed)} of {len(results)} runs failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r.spec.run_name}: {r.error}", file=sys.stderr)
        return 1
    return 0


def _check_episodes(specs, cache) -> None:
    """Every setting fits every split (enough classes and images per class), before any run."""
    from datasets import EpisodeSampler

    for s in {(s.dataset, s.ways, s.shots, s.queries): s for s in specs}.values():
        data = cache.get(s)
        for name, split in data.splits.items():
            try:
                EpisodeSampler(split, s.ways, s.shots, s.queries)
            except ValueError as e:
                raise ValueError(f"{s.dataset} {name} split: {e}; lower --ways/--shots/--queries") from None


def _comparison_plots(results, out: Path) -> None:
    from .plots import comparison_bars, comparison_curves

    if results and results[0].spec.episodic:
        groups = defaultdict(lambda: defaultdict(list))
        for r in results:
            if r.status == "FINISHED":
                groups[(r.spec.profile, r.spec.dataset, r.spec.model, r.spec.setting)][r.spec.algorithm].append(
                    (r.metrics["test_acc"], r.metrics["test_ci95"]))
        for (profile, ds, model, setting), vals in groups.items():
            name = f"fewshot-{profile}-{ds}-{model}-{setting.replace(' ', '')}.png"
            path = comparison_bars(vals, f"{ds} / {model} / {setting} ({profile})", out / name)
            print(f"comparison plot: {path}")
        return
    groups = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.status == "FINISHED":
            groups[(r.spec.suite, r.spec.profile, r.spec.dataset, r.spec.model)][r.spec.algorithm].append(
                [h["test_acc"] for h in r.history]
            )
    for (suite, profile, ds, model), curves in groups.items():
        path = comparison_curves(curves, f"{ds} / {model} ({profile})", out / f"{suite}-{profile}-{ds}-{model}.png")
        print(f"training curves: {path}")


def cmd_perf(args) -> int:
    from .perf import run_perf
    from .provenance import resolve_device

    try:
        device = resolve_device(args.device)
        return run_perf(args, device)
    except ValueError as e:
        return _fail(str(e))


def cmd_ui(args) -> int:
    from .ui import start, stop

    try:
        proc, url = start(args.tracking_uri, args.port)
    except RuntimeError as e:
        return _fail(f"{e}; try another --port")
    print(f"MLflow UI: {url}  (tracking store {args.tracking_uri or 'sqlite:///mlflow.db'}; Ctrl-C stops it)", flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
    return 0


def cmd_leaderboard(args, argv) -> int:
    import shlex

    from .leaderboard import build
    from .tracking import Tracker

    tracker = Tracker(args.tracking_uri, args.experiment or args.suite)
    command = "python -m benchmark " + shlex.join(argv if argv is not None else sys.argv[1:])
    md, board, left_out = build(tracker, args.suite, args.out, args.baseline, command, args.reproduce)
    if left_out:
        print("left out " + ", ".join(f"{n} {k}" for k, n in sorted(left_out.items())) + " run(s)")
    print(f"{len(board)} rows from {tracker.uri} -> {md}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.command == "list":
        return cmd_list()
    if args.command == "run":
        return cmd_run(args)
    if args.command == "perf":
        return cmd_perf(args)
    if args.command == "ui":
        return cmd_ui(args)
    if args.command == "tune":
        return cmd_tune(args)
    if args.command == "leaderboard":
        return cmd_leaderboard(args, argv)
    return _fail(f"unknown command {args.command}")
