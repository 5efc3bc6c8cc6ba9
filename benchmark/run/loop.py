"""The one training loop of both suites.

A suite's ``Session`` supplies the body: the rounds (an epoch of batches, or
``val_every`` meta-iterations of meta-batches), what an evaluation point adds to the
record (validation, test, the learning rate) and the final metrics. This loop owns the
rest, once: the steps, the running means of whatever the algorithm reports, the
algorithm's own ``metrics()``, the NaN stop (``DivergenceError`` naming the step and the
last finite loss), the progress bar, ``on_record`` at every evaluation point and a
checkpoint there from which ``resume`` continues exactly as if the run had not stopped.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

import algorithms
from algorithms.errors import DivergenceError  # the training loop's NaN stop, and scoring's non-finite logits

BOOKKEEPING = ("loss", "train_loss", "train_correct", "train_count")


class Session(Protocol):
    algorithm: algorithms.Algorithm
    generator: torch.Generator  # the run's data order
    total_steps: int
    unit: str  # the record key of a round: "epoch" | "iteration"
    bar_unit: str

    def where(self, rnd: int, step: int) -> str: ...
    def rounds(self, done: int) -> Iterator[tuple[int, Iterable[Any]]]: ...
    def end_round(self, round_time: float, position: Position) -> dict[str, float]: ...
    def finish(self, history: list[dict[str, float]], position: Position) -> dict[str, Any]: ...
    def stop(self, history: list[dict[str, float]]) -> bool: ...  # the session's own stopping rule (before its budget)
    def state(self) -> dict[str, Any]: ...
    def load_state(self, state: dict[str, Any]) -> None: ...


@dataclass
class Position:
    round: int = 0  # the last finished round (epoch, or meta-iteration at an evaluation point)
    step: int = 0  # optimiser steps (meta-iterations) taken
    train_time: float = 0.0  # seconds spent training, evaluation excluded
    last_finite: float = math.nan


def round_means(sums: dict[str, float], n: int) -> dict[str, float]:
    """Means over a round's steps: the objective, the training loss and accuracy, and every
    diagnostic the algorithm reported (it names them; the loop does not know them)."""
    n = max(n, 1)
    rec = {"train_loss": sums.get("train_loss", 0.0) / n, "objective": sums.get("loss", 0.0) / n}
    if "train_count" in sums:
        rec["train_acc"] = sums.get("train_correct", 0.0) / max(sums["train_count"], 1.0)
    rec |= {k: v / n for k, v in sums.items() if k not in BOOKKEEPING}
    return rec


def _train_round(session: Session, rnd: int, batches: Iterable[Any], pos: Position, bar) -> dict[str, float]:
    algo, total = session.algorithm, session.total_steps
    sums: dict[str, float] = {}
    n = 0
    for batch in batches:
        algo.progress(pos.step, total)
        stats = algo.train_step(batch)
        pos.step += 1
        n += 1
        if not math.isfinite(stats["loss"]):
            where = session.where(rnd, pos.step)
            raise DivergenceError(f"loss became {stats['loss']} at {where}; last finite loss {pos.last_finite:.4g}")
        pos.last_finite = stats["loss"]
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        bar.update(1)
        if pos.step >= total:
            break
    return round_means(sums, n)


def _restore(session: Session, resume: dict, best: dict) -> tuple[Position, list[dict[str, float]]]:
    session.algorithm.load_state_dict(resume["algorithm"])
    session.load_state(resume["session"])
    session.generator.set_state(resume["data_rng"])
    torch.set_rng_state(resume["torch_rng"])
    best.update(resume.get("best", {}))
    return Position(**resume["position"]), list(resume["history"])


def weights(algo: algorithms.Algorithm) -> dict[str, Any]:
    """The trained weights alone (model and the algorithm's own tensors), copied."""
    return {"model": copy.deepcopy(algo.model.state_dict()), "extra": {k: v.detach().clone() for k, v in algo.extra_state().items()}}


def load_weights(algo: algorithms.Algorithm, w: dict[str, Any]) -> None:
    """Put ``weights(algo)``'s copy back."""
    algo.model.load_state_dict(w["model"])
    extra = algo.extra_state()
    with torch.no_grad():
        for k, v in w["extra"].items():
            extra[k].copy_(v)


def train(
    session: Session, name: str, on_record: Callable[[int, dict[str, float]], None], progress: bool = True,
    resume: dict | None = None, on_checkpoint: Callable[[dict], None] | None = None, best: dict | None = None,
) -> dict[str, Any]:
    """Run ``session`` to the end of its budget, or until its stopping rule (``session.stop``) fires at an
    evaluation point; return its final metrics.

    ``on_record(round, record)`` is called at every evaluation point, then
    ``on_checkpoint(state)`` with everything ``resume=state`` needs. ``best`` (a dict)
    receives the weights of the evaluation point with the highest validation accuracy
    (``round``, ``val_acc``, ``weights``)."""
    algo = session.algorithm
    best = best if best is not None else {}
    pos, history = _restore(session, resume, best) if resume else (Position(), [])
    bar = tqdm(total=session.total_steps, initial=pos.step, desc=name, leave=False, disable=None if progress else True,
               unit=session.bar_unit)
    rule = getattr(session, "stop", lambda history: False)  # a session without a stopping rule trains to its budget
    stopped = bool(history) and rule(history)  # a run resumed after its stopping rule fired trains no further
    try:
        for rnd, batches in ([] if stopped else session.rounds(pos.round)):
            t0 = time.perf_counter()
            means = _train_round(session, rnd, batches, pos, bar)
            round_time = time.perf_counter() - t0
            pos.train_time += round_time
            pos.round = rnd
            try:
                scored = session.end_round(round_time, pos)
            except DivergenceError as e:  # at the last step's validation, training has ended: its weights are kept
                e.after_training, e.position = pos.step >= session.total_steps, pos
                raise
            rec = {session.unit: rnd, "step": pos.step, **means, **algo.metrics(), **scored}
            history.append(rec)
            if "val_acc" in rec and rec["val_acc"] > best.get("val_acc", -1.0):
                best.update(round=rnd, val_acc=rec["val_acc"], weights=weights(algo))
            on_record(rnd, rec)
            if on_checkpoint:
                on_checkpoint({
                    "algorithm": algo.state_dict(), "session": session.state(), "position": asdict(pos),
                    "data_rng": session.generator.get_state(), "torch_rng": torch.get_rng_state(), "history": list(history),
                    "best": dict(best),
                })
            bar.set_postfix(loss=f"{rec['train_loss']:.3f}", **({"val": f"{100 * rec['val_acc']:.1f}%"} if "val_acc" in rec else {}))
            if pos.step >= session.total_steps or rule(history):
                break
    finally:
        bar.close()
    if getattr(session, "test_weights", "final") == "best-val" and best.get("weights"):
        load_weights(algo, best["weights"])  # model selection by validation: the test scores the best point's weights
    try:
        return session.finish(history, pos)
    except DivergenceError as e:  # training ended: the runner keeps the weights of a run that diverged only at test
        e.after_training, e.position = True, pos
        raise
