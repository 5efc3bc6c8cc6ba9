"""``python -m benchmark evaluate``: score the kept weights of finished runs again (and, named with ``--run``, of
runs that trained to the end and diverged only at test: ``diverged_after_training``), on
another dataset, setting, number of episodes or exact episode manifest, into NEW MLflow
runs linked to their source (``source_run_id``); the source run is never modified.

A few-shot model adapts with its own test-time procedure (MAML's inner steps, ProtoNet's
prototypes, the transfer baselines' new head); a standard-suite model is scored on the
test split of any dataset with the same classes."""
from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass

import torch

import algorithms
from datasets import manifest

from ..models import create_model, set_batchnorm
from ..plan import RunSpec, precision
from ..suites import get_suite
from . import weights
from .data import DataCache
from .runner import RunResult, close_run, process_tags, run_tags


@dataclass
class Changes:
    """What differs from the source run (None: the source's)."""

    dataset: str | None = None
    data_root: str | None = None
    ways: int | None = None
    shots: int | None = None
    queries: int | None = None
    test_episodes: int | None = None
    episodes_file: str | None = None
    hparams: dict | None = None  # test-time hyperparameters (--set), e.g. joint_batch, test_inner_steps, finetune_lr
    eval_batch: int | None = None  # episodes scored at a time (0: by memory, 1: the reference loop)


FEWSHOT_ONLY = ("ways", "shots", "queries", "test_episodes", "episodes_file", "eval_batch")


def source_spec(tracker, run_id: str) -> RunSpec:
    try:
        run = tracker.client.get_run(run_id)
    except Exception:
        raise ValueError(f"unknown run id {run_id!r} in {tracker.uri}; list runs with `python -m benchmark ui`") from None
    trained = run.info.status == "FINISHED" or run.data.tags.get("diverged_after_training") == "1"  # kept its weights
    if not trained or "config_key" not in run.data.tags:
        raise ValueError(f"run {run_id} is {run.info.status.lower()}, not a finished training run: nothing to evaluate")
    config = tracker.load_json_artifact(run_id, "config.json")
    config["hparams"] = algorithms.make_hparams(config["algorithm"], **config["hparams"])
    fields = {f.name for f in dataclasses.fields(RunSpec)}
    return RunSpec(**{k: v for k, v in config.items() if k in fields})


def target_spec(src: RunSpec, c: Changes) -> RunSpec:
    suite = get_suite(src.suite)
    given = [f for f in FEWSHOT_ONLY if getattr(c, f) is not None]
    if given and suite.consumes != "episodes":
        raise ValueError(f"the source is a {src.suite}-suite run: --{given[0].replace('_', '-')} applies to few-shot runs only")
    changes = {k: v for k, v in dataclasses.asdict(c).items() if v is not None and k not in ("episodes_file", "hparams")}
    spec = dataclasses.replace(src, **changes, val_episodes=0)
    if c.hparams:
        known = src.hparams_dict()
        unknown = sorted(set(c.hparams) - set(known))
        if unknown:
            raise ValueError(f"--set {unknown[0]}: {src.algorithm} has no such hyperparameter; valid: {', '.join(sorted(known))}")
        try:
            spec = dataclasses.replace(spec, hparams=algorithms.make_hparams(src.algorithm, **{**known, **c.hparams}))
        except algorithms.BadHyperparameterError as e:
            raise ValueError(str(e)) from None
    if c.episodes_file:
        m = manifest.read(c.episodes_file)
        spec = dataclasses.replace(spec, dataset=c.dataset or m["dataset"], ways=m["ways"], shots=m["shots"],
                                   queries=m["queries"], test_episodes=m["count"], episodes_file=c.episodes_file,
                                   episodes_hash=m["content_hash"])
    return dataclasses.replace(spec, setting=f"{spec.ways}-way {spec.shots}-shot" if spec.ways else "")


def _build(meta: dict, state: dict, spec: RunSpec, data, device):
    if (meta["in_channels"], meta["image_size"]) != (data.in_channels, data.image_size):
        raise ValueError(f"the weights take {meta['in_channels']}x{meta['image_size']}x{meta['image_size']} images; "
                         f"{spec.dataset} has {data.in_channels}x{data.image_size}x{data.image_size}")
    outputs = meta["outputs"] or get_suite(spec.suite).outputs(spec, data)
    model = set_batchnorm(create_model(meta["model"], outputs, meta["in_channels"], meta["image_size"]), spec.bn_eval).to(device)
    algo = algorithms.build(meta["algorithm"], model, spec.hparams, train_classes=meta["train_classes"])
    try:
        model.load_state_dict(state["model"])
        with torch.no_grad():
            for k, v in algo.extra_state().items():
                v.copy_(state["extra"][k])
    except (RuntimeError, KeyError) as e:
        raise ValueError(f"the weights do not match {meta['model']} / {meta['algorithm']} ({str(e).splitlines()[0][:120]})") from None
    return algo


def _key(run_id: str, which: str, spec: RunSpec) -> str:
    return hashlib.sha256(f"{run_id}|{which}|{spec.key()}".encode()).hexdigest()[:16]


def scored(src_tracker, eval_tracker, run_id: str, which: str, c: Changes) -> str | None:
    """The finished evaluation run that already scored these weights with these changes (an interrupted pass of
    several runs, rerun, skips what it finished), or None."""
    key = _key(run_id, which, target_spec(source_spec(src_tracker, run_id), c))
    done = eval_tracker.runs(filter_string=f"tags.config_key = '{key}' and attributes.status = 'FINISHED'")
    return done[0].info.run_id if done else None


def evaluate_run(src_tracker, eval_tracker, run_id: str, which: str, c: Changes, device, cache: DataCache) -> RunResult:
    """Score one run's weights into a new run of ``eval_tracker``; bad input raises ValueError
    before any run is created."""
    src = source_spec(src_tracker, run_id)
    spec = target_spec(src, c)
    meta, state = weights.load(src_tracker, run_id, which)
    suite = get_suite(spec.suite)
    data = cache.get(spec)
    suite.check(spec, data)
    algo = _build(meta, state, spec, data, device)
    t0 = time.perf_counter()
    with precision.autocast(spec.precision, device):  # the source run's arithmetic
        metrics = suite.score(spec, data, algo, device)
    key = _key(run_id, which, spec)
    note = f"{which} weights of run {run_id[:8]} (trained on {src.dataset} {src.setting}".rstrip() + f"), evaluated on {spec.dataset}"
    if c.hparams:
        note += " with " + ", ".join(f"{k}={v}" for k, v in sorted(c.hparams.items()))
    scale = src.scale if (spec.dataset, spec.data_root) == (src.dataset, src.data_root) else "cross-domain"
    spec = dataclasses.replace(spec, scale=scale, scale_note="; ".join(x for x in (src.scale_note, note) if x))
    trained_with = src_tracker.client.get_run(run_id).data.tags.get("hardware.torch_threads", "")
    tags = run_tags(spec, device, {"source_run_id": run_id, "weights": which, "evaluation": "1", **process_tags(),
                                   "source_threads": trained_with})  # the training's threads: its cost in core-hours
    tags["config_key"] = key
    rid = eval_tracker.start(f"eval-{spec.run_name}", {**spec.flat_params(), "source_run_id": run_id, "weights": which}, tags)
    eval_tracker.set_tags(rid, suite.data_tags(spec, data))
    result = RunResult(spec=spec, status="FINISHED", metrics=metrics, run_id=rid, keep_weights="none")
    source_metrics = src_tracker.client.get_run(run_id).data.metrics
    result.metrics["train_time_s"] = source_metrics.get("train_time_s", float("nan"))  # the source's cost, for relative cost
    if "meta_iterations_run" in source_metrics:  # what the scored model trained (fewer at a plateau stop)
        result.metrics["meta_iterations_run"] = source_metrics["meta_iterations_run"]
    result.metrics["eval_time_s"] = time.perf_counter() - t0
    close_run(eval_tracker, result, t0)
    return result
