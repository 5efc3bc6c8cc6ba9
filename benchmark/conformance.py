"""``python -m benchmark check-algorithm NAME [--plugin FILE.py]``: the contract every built-in passes, run on a
user's algorithm in the spirit of scikit-learn's ``check_estimator``; each check one line, pass or fail with the reason.

On the quick profile's embedded data with a tiny budget (a few iterations or steps, a few test episodes), so it
takes seconds on a CPU. The checks:

- ``interface``: an ``Algorithm`` subclass with a known ``consumes``, typed ``Hparams`` whose defaults validate and
  whose ``SEARCH_SPACE`` names only its own fields;
- ``deterministic``: the same seed gives the same metrics;
- ``resume``: a run stopped at a checkpoint and resumed equals the uninterrupted run;
- ``state_dict``: a snapshot loaded into a fresh instance predicts as the original;
- ``query order`` (few-shot): permuting an episode's queries permutes its predictions;
- ``divergence``: a step that produces NaN stops the run as divergence;
- ``trains``: training changes the parameters the algorithm trains (skipped for one that trains nothing);
- ``device``: trained on the CPU, its state moved to a GPU predicts as on the CPU (skipped where there is no GPU),
  compared in exact float32 (``exact_float32``).

That training sees only training classes is the harness's promise, not the method's (the samplers draw from the
training split alone; ``tests/test_conformance.py::test_the_harness_trains_on_training_classes_only``).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

import algorithms
from algorithms.base import Algorithm

from .plan import Overrides, build_plan
from .run.data import DataCache
from .run.loop import DivergenceError, train
from .suites import get_suite


@dataclass
class Result:
    check: str
    passed: bool | None  # None: not applicable
    reason: str = ""

    def line(self) -> str:
        mark = "PASS" if self.passed else "skip" if self.passed is None else "FAIL"
        return f"  {mark}  {self.check}" + (f": {self.reason}" if self.reason else "")


def _spec(name: str):
    cls = algorithms.get_class(name)
    if cls.consumes == "episodes":
        o = Overrides(algorithms=[name], seeds=[0], meta_iterations=4, test_episodes=2)
        spec = build_plan("fewshot", "quick", o)[0]
        return dataclasses.replace(spec, val_every=2, val_episodes=1)
    o = Overrides(algorithms=[name], seeds=[0], epochs=2, max_steps=4, train_per_class=5)
    return build_plan("standard", "quick", o)[0]


class _Harness:
    def __init__(self, name: str) -> None:
        self.spec = _spec(name)
        self.suite = get_suite(self.spec.suite)
        self.data = DataCache().get(self.spec)
        self.device = torch.device("cpu")

    def session(self):
        return self.suite.session(self.spec, self.data, self.device)

    def run(self, session=None, **kw) -> dict:
        return train(session or self.session(), "check", lambda rnd, rec: None, progress=False, **kw)


def _outcome(out: dict) -> dict:
    return {k: v for k, v in out.items() if k.startswith(("test_", "final_")) and "time" not in k}


def check_interface(name: str, h: _Harness | None = None) -> Result:
    cls = algorithms.get_class(name)
    if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
        return Result("interface", False, f"{cls!r} is not an algorithms.base.Algorithm subclass")
    if cls.consumes not in ("batches", "episodes"):
        return Result("interface", False, f"consumes={cls.consumes!r}; valid: batches, episodes")
    if not dataclasses.is_dataclass(cls.Hparams):
        return Result("interface", False, "Hparams is not a dataclass")
    algorithms.make_hparams(name)  # the defaults must validate (raises BadHyperparameterError otherwise)
    fields = {f.name for f in dataclasses.fields(cls.Hparams)}
    extra = sorted(set(getattr(cls.Hparams, "SEARCH_SPACE", {})) - fields)
    if extra:
        return Result("interface", False, f"SEARCH_SPACE names {', '.join(extra)}, not fields of {cls.Hparams.__name__}")
    return Result("interface", True)


def check_deterministic(name: str, h: _Harness) -> Result:
    a, b = _outcome(h.run()), _outcome(h.run())
    differ = sorted(k for k in a if a[k] != b.get(k))
    return Result("deterministic", not differ, f"the same seed gave different {', '.join(differ)}" if differ else "")


def check_resume(name: str, h: _Harness) -> Result:
    states: list[dict] = []
    whole = _outcome(h.run(on_checkpoint=states.append))
    if len(states) < 2:
        return Result("resume", None, "fewer than two checkpoints in the check's budget")
    resumed = _outcome(h.run(resume=states[0]))
    differ = sorted(k for k in whole if whole[k] != resumed.get(k))
    return Result("resume", not differ, f"resumed from the first checkpoint, {', '.join(differ)} differ" if differ else "")


def _predict(session, h: _Harness) -> torch.Tensor:
    algo = session.algorithm
    algo.model.eval()
    torch.manual_seed(0)  # test-time adaptation may draw random mini-batches of the support set (Reptile)
    try:
        if algo.consumes == "episodes":
            task, _ = next(iter(session.sets["test"].labelled()))
            return algo.query_logits(task)
        shape = (8, h.data.in_channels, h.data.image_size, h.data.image_size)
        return algo.model(torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(h.device))
    finally:
        algo.model.train()


def check_state_dict(name: str, h: _Harness) -> Result:
    trained = h.session()
    h.run(trained)
    fresh = h.session()
    fresh.algorithm.load_state_dict(trained.algorithm.state_dict())
    with torch.no_grad():
        same = torch.allclose(_predict(trained, h), _predict(fresh, h), atol=1e-5)
    return Result("state_dict", same, "" if same else "a fresh instance loaded with state_dict() predicts differently")


def check_query_order(name: str, h: _Harness) -> Result:
    session = h.session()
    algo = session.algorithm
    if algo.consumes != "episodes":
        return Result("query order", None, "not a few-shot algorithm")
    task, _ = next(iter(session.sets["test"].labelled()))
    perm = torch.randperm(task.query_x.shape[0], generator=torch.Generator().manual_seed(0))
    shuffled = type(task)(task.support_x, task.support_y, task.query_x[perm])
    algo.model.eval()
    torch.manual_seed(0)
    base = algo.query_logits(task)
    torch.manual_seed(0)
    again = algo.query_logits(shuffled)
    algo.model.train()
    same = torch.allclose(base[perm], again, atol=1e-4, rtol=1e-4)
    return Result("query order", same, "" if same else "permuting the queries changed their predictions")


def check_divergence(name: str, h: _Harness) -> Result:
    session = h.session()
    if not getattr(session.algorithm, "trains", True):
        return Result("divergence", None, "trains nothing")
    with torch.no_grad():
        for p in session.algorithm.model.parameters():
            p.fill_(math.nan)
    try:
        h.run(session)
    except algorithms.NonFiniteOutputsError as e:  # scoring's stop would hide a train_step that reports a finite
        # loss from NaN weights: only the loop's stop on the step's loss passes
        return Result("divergence", False, f"the step's 'loss' stayed finite with NaN weights; only scoring caught it ({e})")
    except DivergenceError as e:
        return Result("divergence", True, str(e).split(";")[0])
    return Result("divergence", False, "NaN weights trained without a DivergenceError (the loop checks the step's 'loss')")


def check_trains(name: str, h: _Harness) -> Result:
    session = h.session()
    algo = session.algorithm
    if not getattr(algo, "trains", True):
        return Result("trains", None, "trains nothing (its hparams say so)")
    before = {k: v.detach().clone() for k, v in algo.model.state_dict().items() if v.is_floating_point()}
    h.run(session)
    after = algo.model.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
    return Result("trains", bool(changed), "" if changed else "no model parameter changed in training")


def check_device(name: str, h: _Harness) -> Result:
    if not torch.cuda.is_available():
        return Result("device", None, "no GPU here (it runs where there is one)")
    return moved_to(name, h, torch.device("cuda"))


@contextmanager
def exact_float32() -> Iterator[None]:
    """CUDA convolutions in plain float32, not TF32 (PyTorch's default for cuDNN: 10 mantissa bits), while inside.

    The device check asks whether the state moved, not how much TF32 rounds: on an H200 (2026-12-04,
    ``tests/test_cuda.py``) the algorithms that take gradient steps at test time (finetune, fomaml, mtl_maml, reptile,
    mtl_reptile) differed from the CPU by 0.005-0.03 in their logits with TF32 on; compared in float32 here."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def moved_to(name: str, h: _Harness, device: torch.device) -> Result:
    """Trained on ``h``'s device, its state moved to ``device`` in a fresh instance: the same predictions."""
    trained = h.session()
    h.run(trained)
    gpu = _Harness(name)
    gpu.device = device
    moved = gpu.session()
    moved.algorithm.load_state_dict({k: v.to(gpu.device) if torch.is_tensor(v) else v
                                     for k, v in trained.algorithm.state_dict().items()})
    with torch.no_grad(), exact_float32():
        cpu, cuda = _predict(trained, h), _predict(moved, gpu).cpu()
    same = torch.allclose(cpu, cuda, atol=1e-3, rtol=1e-3)
    worst = (cpu - cuda).abs().max().item()
    return Result("device", same, "" if same else f"on {device} its predictions differ from {h.device}'s by up to {worst:.3g}")


CHECKS: list[Callable[[str, _Harness], Result]] = [
    check_interface, check_deterministic, check_resume, check_state_dict, check_query_order, check_divergence,
    check_trains, check_device,
]


def check_algorithm(name: str) -> list[Result]:
    """Every check on ``name``; an exception inside a check is that check's failure, with its reason."""
    interface = check_interface(name)
    if not interface.passed:
        return [interface]
    h = _Harness(name)
    results = [interface]
    for check in CHECKS[1:]:
        label = check.__name__.removeprefix("check_").replace("_", " ")
        try:
            results.append(check(name, h))
        except Exception as e:  # noqa: BLE001 - the reason is the report
            results.append(Result(label, False, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"))
    return results
