"""What each command does, in terms of plan -> run -> track -> report."""
from __future__ import annotations

import hashlib
import os
import shlex
import sys
from pathlib import Path

from .parser import EXIT_BAD_INPUT


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"benchmark: error: {message}", file=sys.stderr)
    return code


def parse_value(v: str):
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def _set_values(items: list[str]) -> dict:
    hp = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        hp[k.strip()] = parse_value(v.strip())
    return hp


def _shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
        if not 1 <= i <= n:
            raise ValueError
        return i, n
    except ValueError:
        raise ValueError(f"--shard expects I/N with 1 <= I <= N, got {text!r}") from None


def overrides_from(args):
    from ..plan import Overrides

    if args.data_root:
        args.data_root = os.path.abspath(os.path.expanduser(args.data_root))  # the same data, the same config key
    if getattr(args, "episodes_file", None):  # the manifest fixes the setting and the number of test episodes
        from datasets import manifest

        m = manifest.read(args.episodes_file)
        args.ways, args.shots, args.queries, args.test_episodes = [m["ways"]], [m["shots"]], m["queries"], m["count"]
    return Overrides(
        datasets=args.dataset, models=args.model, algorithms=args.algorithm, seeds=args.seeds,
        epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
        train_per_class=args.train_per_class, data_root=args.data_root, download=args.download,
        val_fraction=0.1 if args.val_fraction is None else args.val_fraction, keep_val_split=args.keep_val_split or args.command == "tune", hparams=_set_values(args.set), ways=args.ways, shots=args.shots, queries=args.queries,
        meta_iterations=args.meta_iterations, meta_batch=args.meta_batch, test_episodes=args.test_episodes,
        bn_eval=getattr(args, "bn_eval", None), precision=getattr(args, "precision", "fp32"),
        eval_batch=getattr(args, "eval_batch", None), stop_at_plateau=getattr(args, "stop_at_plateau", None),
        test_weights=getattr(args, "test_weights", None),
    )


def design_from(args):
    """The sequential design of --until-decided (None without it); ValueError for its flags alone."""
    if not getattr(args, "until_decided", False):
        if getattr(args, "max_seeds", None) is not None or getattr(args, "min_effect", None) is not None:
            raise ValueError("--max-seeds and --min-effect belong to --until-decided; add it, or drop them")
        return None
    from ..report.sequential import Design

    if getattr(args, "seeds", None):
        raise ValueError("--until-decided chooses the seeds (0, 1, ... up to --max-seeds); drop --seeds")
    return Design(args.max_seeds or 10, args.min_effect or 1.0)


def plan(args):
    """(specs, device, profile, shard, total, grid key) from run/tune flags; ValueError for
    bad input. The grid key names the whole grid (every shard of it)."""
    from ..plan import build_plan, precision
    from ..suites import get_suite
    from ..track.provenance import resolve_device
    from .parser import check_suite_flags

    check_suite_flags(args)
    profile = args.profile or get_suite(args.suite).default_profile
    if getattr(args, "resume", False) and getattr(args, "force", False):
        raise ValueError("--resume and --force contradict each other; use one")
    shard = _shard(getattr(args, "shard", None))
    specs = build_plan(args.suite, profile, overrides_from(args))
    if getattr(args, "episodes_file", None):
        import dataclasses

        from datasets import manifest

        if get_suite(args.suite).consumes != "episodes":
            raise ValueError("--episodes-file applies to the few-shot suite only")
        h = manifest.read(args.episodes_file)["content_hash"]
        specs = [dataclasses.replace(s, episodes_file=os.path.abspath(args.episodes_file), episodes_hash=h) for s in specs]
    device = resolve_device(args.device)
    precision.check_device(getattr(args, "precision", "fp32"), device)
    if not specs:
        raise ValueError("the selection is empty: no (dataset, model, algorithm, seed) to run")
    total = len(specs)
    grid_key = hashlib.sha256(" ".join(sorted(s.key() for s in specs)).encode()).hexdigest()[:16]
    if shard and not getattr(args, "until_decided", False):  # --until-decided slices each look's cells instead
        specs = [s for j, s in enumerate(specs) if j % shard[1] == shard[0] - 1]
        if not specs:
            raise ValueError(f"shard {shard[0]}/{shard[1]} of {total} runs is empty")
    return specs, device, profile, shard, total, grid_key


def check_data(specs, cache) -> int | None:
    """Load every dataset before creating any MLflow run, so a missing dataset is one clear line."""
    import datasets

    try:
        cache.check(specs)
    except (datasets.DataError, ValueError) as e:
        return fail(str(e))
    return None


def cmd_list(args) -> int:
    if args.protocol:
        from ..report.protocol import record

        try:
            print(record(args.protocol, args.suite))
        except ValueError as e:
            return fail(str(e))
        return 0
    import algorithms
    import datasets

    from ..models import list_models
    from ..suites import SUITES

    print("algorithms:")
    for name in algorithms.available():
        cls = algorithms.get_class(name)
        doc = ((cls.__doc__ or "").strip().splitlines() or ["(no docstring)"])[0]
        print(f"  {name:<12} [{cls.consumes}] {doc}")
    print("datasets:")
    for name, desc in datasets.describe().items():
        print(f"  {name:<14} {desc}")
    print("models:")
    print("  " + ", ".join(list_models()))
    print("suites and profiles:")
    for sname, suite in SUITES.items():
        for prof, desc in suite.descriptions.items():
            default = " (default)" if prof == suite.default_profile else ""
            print(f"  --suite {sname} --profile {prof}{default}: {desc}")
    return 0


def cmd_tune(args) -> int:
    if args.all_algorithms and args.algorithm:
        return fail("--all-algorithms tunes every algorithm of the profile; drop --algorithm")
    if args.trials < 1:
        return fail(f"--trials must be >= 1, got {args.trials}")
    if args.heartbeat < 1:
        return fail(f"--heartbeat must be >= 1 second, got {args.heartbeat}")
    import datasets

    from ..tune.tuning import check_storage

    try:
        check_executor(args, ray_workers=True)
        check_storage(args.storage)
        specs, device, _, _, _, _ = plan(args)
    except (ValueError, datasets.DataError) as e:
        return fail(str(e))
    from ..run.data import DataCache

    if (code := check_data(specs, DataCache())) is not None:
        return code
    from ..track.tracking import Tracker
    from ..tune.tuning import study_name, tune

    studies = {}
    for s in specs:  # one study per configuration; trials use the first seed
        studies.setdefault(study_name(s), s)
    tracker = Tracker(args.tracking_uri, args.experiment or f"{args.suite}-tuning")
    print(f"tuning {len(studies)} studies x {args.trials} trials (equal budget) on {args.storage}; trials tracked in "
          f"{tracker.uri} (experiment {tracker.experiment!r})", flush=True)
    from ..run.errors import ExecutorError
    from ..run.runner import Terminated, install_signal_handlers

    install_signal_handlers()
    try:
        if args.workers > 1 or args.executor == "ray":
            from ..tune.parallel import tune_parallel

            print(f"{args.workers} {'Ray task' if args.executor == 'ray' else 'local'} worker(s) share each study "
                  f"(worker numbers {args.worker}..{args.worker + args.workers - 1})", flush=True)
            tune_parallel(list(studies.values()), args.workers, tracker, device, args.worker, args.executor, args.ray_address,
                          args.task_cpus, trials=args.trials, timeout=args.timeout, storage=args.storage,
                          seed=args.sampler_seed, tuned_dir=args.tuned_dir, heartbeat=args.heartbeat)
            return 0
        for s in studies.values():
            tune(s, tracker, device, args.trials, args.timeout, args.storage, args.sampler_seed, args.tuned_dir,
                 progress=not args.no_progress, worker=args.worker, heartbeat=args.heartbeat)
    except ExecutorError as e:
        return fail(str(e))
    except Terminated:
        return fail("terminated; the trial in progress is failed and its run marked KILLED, finished trials are kept", 143)
    except KeyboardInterrupt:
        return fail("interrupted; the trial in progress is failed and its run marked KILLED, finished trials are kept", 130)
    return 0


def _prepare_run(args):
    """Plan, apply tuned parameters, load the data; (plan tuple, cache) or an exit code."""
    import algorithms
    import datasets

    from ..run.data import DataCache

    try:
        planned = plan(args)
        specs = planned[0]
        if args.tuned:
            from ..tune.tuning import apply_tuned

            specs, missing = apply_tuned(specs, args.tuned_dir)
            if missing:
                return fail(f"no tuned parameters for study {missing[0]} in {args.tuned_dir}/ "
                            f"({len(missing)} missing); run `python -m benchmark tune` with the same selection first")
        if getattr(args, "done_in", None):
            specs = _not_done(specs, args.done_in, args.suite)
            if not specs:
                print(f"every cell already finished in {args.done_in}; nothing to run")
                return 0
    except (ValueError, algorithms.BadHyperparameterError, datasets.DataError) as e:
        return fail(str(e))
    cache = DataCache()
    if (code := check_data(specs, cache)) is not None:
        return code
    return (specs, *planned[1:]), cache


def _not_done(specs: list, folder: str, suite: str) -> list:
    """--done-in: the cells without a FINISHED run in a table's committed raw results."""
    from ..report import raw

    if not Path(folder).is_dir():
        raise ValueError(f"--done-in {folder}: no such folder (a table's raw results, written by `leaderboard --export`)")
    done = raw.finished_keys(folder, suite)
    left = [s for s in specs if s.key() not in done]
    if len(left) < len(specs):
        print(f"{len(specs) - len(left)} of {len(specs)} cells already finished in {folder} (--done-in), skipped", flush=True)
    return left


def _check_folders(**flags: str) -> None:
    for flag, path in flags.items():
        if path and Path(path).exists() and not Path(path).is_dir():
            raise ValueError(f"--{flag.replace('_', '-')} {path} is a file; name a folder")


def _workers(asked: int, cells: int) -> int:
    workers = min(asked, cells)
    if workers < asked:
        print(f"using {workers} worker(s): the grid has only {cells} cell(s)", flush=True)
    return workers


def check_executor(args, ray_workers: bool = False) -> None:
    """--workers / --executor / --ray-address / --task-cpus, checked before anything runs (ValueError: one line).
    ``ray_workers``: --workers also counts Ray tasks (tune's workers on one study)."""
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.task_cpus < 1:
        raise ValueError(f"--task-cpus must be >= 1, got {args.task_cpus}")
    if args.executor == "ray":
        if args.workers != 1 and not ray_workers:
            raise ValueError("--workers is the local executor's; with --executor ray the cluster runs as many tasks as "
                             "its CPUs allow (--task-cpus each)")
        from ..run.ray_cells import check

        check(args.ray_address)
    elif args.ray_address or args.task_cpus != 1:
        raise ValueError("--ray-address and --task-cpus need --executor ray")


def _execute(args, specs, tracker, device, workers: int, cache, options: dict):
    """The grid's cells here, in local worker processes, or as Ray tasks."""
    if args.executor == "ray":
        from ..run.ray_cells import run_ray

        return run_ray(specs, tracker, device, args.ray_address, args.task_cpus, **options)
    if workers > 1:
        from ..run.workers import run_parallel

        return run_parallel(specs, workers, tracker.uri, tracker.experiment, device, **options)
    from ..run.runner import run_grid

    return run_grid(specs, tracker, device, progress=not args.no_progress, cache=cache, **options)


def _pointer(suite: str, uri: str, parent: str, board) -> str:
    """Where to look next, and whether the grid's parent run carries a verdict table."""
    from ..suites import get_suite

    uri = shlex.quote(uri)
    carries = ("with the verdict table as its artifacts" if board is not None and not board.empty else
               f"no verdict table: the grid has no finished run of the baseline {get_suite(suite).style.baseline}")
    return (f"look at it: python -m benchmark ui --tracking-uri {uri}  (runs nested under {parent[:8]}, {carries}); "
            f"tables: python -m benchmark leaderboard --suite {suite} --tracking-uri {uri}")


def _looks(args, design, specs, tracker, device, cache, options: dict, grid: tuple) -> list:
    """--until-decided: the grid's cells one look at a time (run/until_decided.py); ``grid``: (parent run, the set of
    cells named on it so far, updated in place, shard)."""
    from ..report.leaderboard import record_cells
    from ..run import until_decided
    from ..suites import get_suite

    parent, keys, shard = grid

    def on_look(looked: set[str]) -> None:
        keys.update(looked)
        record_cells(tracker, parent, keys, shard)

    def execute(cells: list) -> list:
        return _execute(args, cells, tracker, device, _workers(args.workers, len(cells)), cache, options)

    results, _ = until_decided.run(specs, design, execute, tracker, args.suite, get_suite(args.suite).style.baseline,
                                   shard, on_look)
    return results


def cmd_run(args) -> int:
    import datasets

    try:
        _check_folders(out=args.out, checkpoint_dir=args.checkpoint_dir)
        check_executor(args)
        design = design_from(args)
    except ValueError as e:
        return fail(str(e))
    if design:
        args.seeds = list(range(design.max_seeds))  # the looks add them in this order
    prepared = _prepare_run(args)
    if isinstance(prepared, int):
        return prepared
    (specs, device, profile, shard, total, grid_key), cache = prepared
    workers = _workers(args.workers, len(specs))
    from ..report.leaderboard import close_grid, record_cells
    from ..run.errors import ExecutorError
    from ..run.runner import Terminated, install_signal_handlers, process_tags
    from ..track.provenance import hardware_summary
    from ..track.tracking import Tracker

    tracker = Tracker(args.tracking_uri, args.experiment or args.suite)
    print(f"suite {args.suite}, profile {profile}: {len(specs)} runs" + (f" (shard {shard[0]}/{shard[1]} of {total})" if shard else "")
          + f" on {hardware_summary(device)}; tracking {tracker.uri} (experiment {tracker.experiment!r})", flush=True)
    install_signal_handlers()
    parent = tracker.grid_parent(grid_key, f"grid:{args.suite}:{profile}", {"suite_grid": args.suite, "profile": profile, **process_tags()})
    keys = {s.key() for s in specs} if not design else set()
    record_cells(tracker, parent, keys, shard)
    status, board, covered = "KILLED", None, 0
    options = dict(checkpoint_dir=args.checkpoint_dir, force=args.force, keep_weights=args.keep_weights,
                   extra_tags={"mlflow.parentRunId": parent, "grid_key": grid_key})
    try:
        results = (_looks(args, design, specs, tracker, device, cache, options, (parent, keys, shard)) if design
                   else _execute(args, specs, tracker, device, workers, cache, options))
        status = "FINISHED" if any(r.status == "FINISHED" for r in results) else "FAILED"  # no finished cell: FAILED
    except Terminated:
        return fail("terminated; the run in progress is marked KILLED, finished runs are kept", 143)
    except KeyboardInterrupt:
        return fail("interrupted; the run in progress is marked KILLED, finished runs are kept", 130)
    except (datasets.DataError, ExecutorError) as e:  # ExecutorError: Ray could not connect
        status = "FAILED"
        return fail(str(e))
    finally:
        board, covered = close_grid(tracker, parent, args.suite, keys, status, design)
    return _report(args, results, (shard, total, covered), board, tracker.uri, parent)


def _report(args, results: list, cover: tuple, board, uri: str, parent: str) -> int:
    """The console's end of a run: the results' table, plots and verdicts, where to look, and the failed runs."""
    from ..report.console import comparison_plots, tables
    from ..report.leaderboard import verdict_lines

    shard, total, covered = cover
    print()
    print(tables(results))
    if shard:
        print(f"shard {shard[0]}/{shard[1]}: the table above holds this shard's {len(results)} of the grid's {total} runs; "
              f"the verdicts below and the parent run's table hold every finished cell so far ({covered} of {total}); "
              "the whole grid, once every shard has finished: the leaderboard command below")
    for line in comparison_plots(results, Path(args.out), f"-shard{shard[0]}of{shard[1]}" if shard else ""):
        print(line)
    for line in verdict_lines(board):
        print(line)
    print(_pointer(args.suite, uri, parent, board))
    failed = [r for r in results if r.status != "FINISHED"]
    if failed:
        print(f"\n{len(failed)} of {len(results)} runs failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r.spec.run_name}: {r.error}", file=sys.stderr)
        return 1
    return 0


def cmd_perf(args) -> int:
    from ..models import list_models
    from ..suites import get_suite
    from ..track.provenance import resolve_device

    if args.model is not None and args.model not in list_models():
        return fail(f"unknown model {args.model!r}; valid: {', '.join(list_models())}")
    if args.workers is not None and args.workers < 2:
        return fail(f"perf --workers compares N >= 2 workers with one process; got {args.workers}")
    if args.store and min(args.store) < 8:
        return fail(f"perf --store needs sizes >= 8 runs; got {min(args.store)}")
    try:
        if args.workers:
            from ..perf.grid import run_grid_perf

            run_grid_perf(args.suite, args.workers)
            return 0
        if args.store:
            from ..perf.store import format_rows, run_store_perf

            print(format_rows(run_store_perf(args.store)))
            return 0
        return get_suite(args.suite).perf(args, resolve_device(args.device))
    except RuntimeError as e:
        return fail(str(e))
    except ValueError as e:
        return fail(str(e))


def _open_links(args, url: str) -> None:
    """Print the deep links to the comparison; open the first where a browser can show it."""
    from ..track.tracking import default_uri
    from ..track.ui import links

    try:
        found = links(args.tracking_uri or default_uri(), url)
    except Exception as e:  # noqa: BLE001 - the UI still serves the store: say why there are no links, go on
        print(f"  no deep links ({type(e).__name__}: {str(e).splitlines()[0][:150] if str(e) else ''}); open {url}", flush=True)
        return
    for what, link in found:
        print(f"  {what}: {link}", flush=True)
    if not found:
        print("  no grid in this store yet: `python -m benchmark run` makes one", flush=True)
    elif not args.no_browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform == "darwin"):
        import webbrowser

        webbrowser.open(found[0][1])


def cmd_ui(args) -> int:
    from ..run.runner import install_signal_handlers
    from ..track.ui import start, stop

    if not 1 <= args.port <= 65535:
        return fail(f"--port must be in 1..65535, got {args.port}")
    try:
        proc, url = start(args.tracking_uri, args.port)
    except RuntimeError as e:
        return fail(str(e))
    install_signal_handlers()  # SIGTERM stops the server and its workers like Ctrl-C
    try:
        print(f"MLflow UI: {url}  (tracking store {args.tracking_uri or 'sqlite:///mlflow.db'}; Ctrl-C stops it)", flush=True)
        _open_links(args, url)
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
    return 0


def cmd_leaderboard(args, argv) -> int:
    from ..report.leaderboard import build, export

    command = "python -m benchmark " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.from_dir and args.export:
        return fail("--from reads raw results and --export writes them; use one")
    if args.merge and not args.export:
        return fail("--merge adds a store's runs to an --export folder; name it with --export DIR")
    if args.from_dir:
        source, where = Path(args.from_dir), args.from_dir
        if not source.is_dir():
            return fail(f"--from {args.from_dir}: no such folder")
    else:
        from ..track.stores import sqlite_path
        from ..track.tracking import Tracker, default_uri

        db = sqlite_path(args.tracking_uri or default_uri())
        if db is not None and not db.is_file():
            return fail(f"no tracking store at {db}; name the store with --tracking-uri (or build from files with --from)")
        source = Tracker(args.tracking_uri, args.experiment or args.suite)
        where = source.uri
        if args.export:
            try:
                runs, episodes, kept = export(source, args.suite, args.export, merge=args.merge)
            except ValueError as e:
                return fail(str(e))
            print(f"raw results of {where} -> {runs}, {episodes}"
                  + (f" (kept {kept} run(s) of other stores already there)" if args.merge else ""))
            return 0
    try:
        md, board, left_out = build(source, args.suite, args.out, args.baseline, command, args.reproduce,
                                    family=args.family, design=design_from(args), pairs=tuple(args.compare))
    except (ValueError, FileNotFoundError) as e:
        return fail(str(e))
    if left_out:
        print("left out " + ", ".join(f"{n} {k}" for k, n in sorted(left_out.items())) + " run(s)")
    print(f"{len(board)} rows from {where} -> {md}")
    return 0


class NoSources(ValueError):
    """No finished run matches evaluate's selection (with --if-trained: nothing to score, not an error)."""


def _no_sources(args) -> NoSources:
    which = [f"for {' '.join(args.algorithm)}" if args.algorithm else "",
             f"seeds {' '.join(sorted(str(s) for s in args.seeds))}" if args.seeds else "",
             f"trained at {args.trained_setting}" if args.trained_setting else ""]
    return NoSources(f"no finished runs in experiment {args.experiment!r}" + "".join(f" {w}" for w in which if w))


def _selection_error(args) -> str | None:
    """A bad --algorithm or --trained-setting, said before any run is selected (with --if-trained a misspelling would
    otherwise read as a store without the models)."""
    import re

    import algorithms

    for name in args.algorithm or []:
        try:
            algorithms.get_class(name)
        except algorithms.UnknownAlgorithmError as e:
            return str(e).strip("'\"")
    if args.trained_setting and not re.fullmatch(r"\d+-way \d+-shot", args.trained_setting):
        return f"--trained-setting expects 'N-way K-shot', e.g. '5-way 1-shot', not {args.trained_setting!r}"
    return None


def _source_tracker(args):
    """The source runs' tracker; with --experiment, one the store has (never created by looking: a missing one is
    an empty selection)."""
    from ..track.tracking import Tracker, has_experiment

    if args.experiment and not has_experiment(args.tracking_uri, args.experiment):
        raise _no_sources(args)
    return Tracker(args.tracking_uri, args.experiment or "standard")


def _sources(tracker, args) -> list[str]:
    if args.run:
        return args.run
    seeds = {str(s) for s in args.seeds} if args.seeds else None
    runs = [r for r in tracker.runs(args.experiment, "attributes.status = 'FINISHED'") if "config_key" in r.data.tags
            and (not args.algorithm or r.data.tags.get("algorithm") in args.algorithm)
            and (seeds is None or r.data.tags.get("seed") in seeds)
            and (not args.trained_setting or r.data.tags.get("setting") == args.trained_setting)]
    newest: dict[str, object] = {}  # one source per configuration: the newest, as the tables keep it
    for r in sorted(runs, key=lambda r: r.info.start_time):
        newest[r.data.tags["config_key"]] = r
    runs = list(newest.values())
    if not runs:
        raise _no_sources(args)
    return [r.info.run_id for r in sorted(runs, key=lambda r: (r.data.tags.get("algorithm", ""), r.data.tags.get("seed", "")))]


def _nothing(why: str) -> int:
    """--if-trained: a selection this store has no model for is scored elsewhere (a piece's pass over a store that
    holds only some of a seed's models): one line, exit 0."""
    print(f"nothing to score here: {why} (--if-trained)")
    return 0


def cmd_evaluate(args) -> int:
    from ..run.data import DataCache
    from ..run.evaluate import Changes, evaluate_run, scored, source_spec
    from ..suites import get_suite
    from ..track.provenance import resolve_device
    from ..track.stores import sqlite_path
    from ..track.tracking import Tracker, default_uri

    db = sqlite_path(args.tracking_uri or default_uri())
    given = [f for f, v in (("--algorithm", args.algorithm), ("--seeds", args.seeds), ("--trained-setting", args.trained_setting),
                            ("--if-trained", args.if_trained or None)) if v is not None]
    if given and not args.experiment:
        return fail(f"{given[0]} selects runs of --experiment; with --run name the runs themselves")
    if bad := _selection_error(args):
        return fail(bad)
    if db is not None and not db.is_file():
        if args.if_trained:
            return _nothing(f"no tracking store at {db}")
        return fail(f"no tracking store at {db}; name the store of the source runs with --tracking-uri")
    data_root = os.path.abspath(os.path.expanduser(args.data_root)) if args.data_root else None
    import algorithms
    import datasets

    try:
        changes = Changes(args.dataset, data_root, args.ways, args.shots, args.queries, args.test_episodes, args.episodes_file,
                          _set_values(args.set) or None, args.eval_batch)
        try:
            src = _source_tracker(args)
            ids = _sources(src, args)
        except NoSources as e:
            return _nothing(str(e)) if args.if_trained else fail(str(e))
        suite = source_spec(src, ids[0]).suite
        dest = Tracker(args.tracking_uri, args.eval_experiment or f"{suite}-evaluate")
        device, cache = resolve_device(args.device), DataCache()
        from ..run import weights

        for rid in ids:  # every source is usable before the first new run is created
            source_spec(src, rid)
            weights.check(src, rid, args.weights)
        diverged = 0
        for rid in ids:
            if done := scored(src, dest, rid, args.weights, changes):
                print(f"{rid[:8]}: already scored with these settings -> run {done[:8]} in {dest.experiment!r}")
                continue
            try:
                res = evaluate_run(src, dest, rid, args.weights, changes, device, cache)
            except algorithms.DivergenceError as e:  # no run was created for it; the other sources are still scored
                diverged += fail(f"{rid[:8]}: diverged: {e}", code=1)
                continue
            print(f"{rid[:8]} {res.spec.algorithm} seed {res.spec.seed}: {get_suite(suite).headline(res.metrics)} "
                  f"-> run {res.run_id[:8]} in {dest.experiment!r}", flush=True)
    except (ValueError, datasets.DataError) as e:
        return fail(str(e))
    return 1 if diverged else 0  # as a grid with a FAILED run: not bad input


def cmd_episodes(args) -> int:
    import json

    import datasets
    from datasets import EpisodeSampler, manifest

    try:
        data = datasets.get_episodic(args.dataset, root=os.path.abspath(args.data_root) if args.data_root else None)
        split = data.splits[args.split]
        fixed = EpisodeSampler(split, args.ways, args.shots, args.queries, data.preprocess).fixed(
            args.count, args.dataset, args.split, args.seed)
    except (datasets.DataError, ValueError, KeyError) as e:
        return fail(str(e))
    m = manifest.export(fixed, args.dataset, args.split)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(m, indent=1, sort_keys=True))
    print(f"{args.count} {args.ways}-way {args.shots}-shot {args.queries}-query episodes of {args.dataset} ({args.split}) "
          f"-> {args.out}; fingerprint {m['fingerprint']}, content hash {m['content_hash'][:16]}")
    return 0


def cmd_check_algorithm(args) -> int:
    """Each check one line; exit 0 when none failed, 1 when one did, 2 for an unknown name."""
    import algorithms

    from ..conformance import check_algorithm

    try:
        cls = algorithms.get_class(args.name)
    except algorithms.UnknownAlgorithmError as e:
        return fail(str(e))
    print(f"check-algorithm {args.name} ({cls.__module__}.{cls.__name__}, consumes {cls.consumes}): the quick profile's "
          "embedded data, a few iterations", flush=True)
    results = check_algorithm(args.name)
    for r in results:
        print(r.line(), flush=True)
    failed = [r for r in results if r.passed is False]
    passed = sum(r.passed is True for r in results)
    print(f"{len(results)} checks: {passed} passed, {len(results) - passed - len(failed)} not applicable, {len(failed)} failed")
    return 1 if failed else 0
