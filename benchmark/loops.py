"""Training loops: supervised epochs (standard suite) and meta-iterations (few-shot suite).

Both call ``on_record(dict)`` once per evaluation point (an epoch; every ``val_every``
meta-iterations), stop a diverging run with ``DivergenceError`` naming the step and the
last finite loss, and show a progress bar.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

import algorithms
from datasets import BatchLoader, EpisodeSampler, EpisodicData, FixedEpisodes, Preprocess, SupervisedData

from .config import RunSpec
from .models import create_model


class DivergenceError(RuntimeError):
    pass


def _check_finite(loss: float, where: str, last: float) -> None:
    if not math.isfinite(loss):
        raise DivergenceError(f"loss became {loss} at {where}; last finite loss {last:.4g}")


@torch.no_grad()
def evaluate(algo: algorithms.Algorithm, loader: BatchLoader, num_classes: int) -> dict[str, float]:
    """Top-1 (and top-5 where there are more than 10 classes) accuracy and mean loss."""
    algo.model.eval()
    correct1 = correct5 = 0
    loss = 0.0
    n = 0
    k = min(5, num_classes)
    for x, y in loader:
        logits = algo.predict(x)
        loss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
        top = logits.topk(k, dim=1).indices
        correct1 += (top[:, 0] == y).sum().item()
        correct5 += (top == y[:, None]).any(1).sum().item()
        n += len(y)
    algo.model.train()
    out = {"acc": correct1 / max(n, 1), "loss": loss / max(n, 1)}
    if num_classes > 10:
        out["top5"] = correct5 / max(n, 1)
    return out


def train_supervised(
    spec: RunSpec,
    data: SupervisedData,
    device: torch.device,
    on_record: Callable[[dict[str, float]], None],
    progress: bool = True,
    resume: dict | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
) -> list[dict[str, float]]:
    """Train one batch-consuming algorithm; returns the per-epoch history.

    ``on_checkpoint(state)`` is called after every epoch with everything needed to
    continue (``resume=state``) exactly as if the run had not stopped."""
    torch.manual_seed(spec.seed)
    model = create_model(spec.model, data.num_classes, data.in_channels, data.image_size).to(device)
    algo = algorithms.create(spec.algorithm, model, **spec.hparams)
    sched = torch.optim.lr_scheduler.MultiStepLR(algo.optimizer, milestones=spec.milestones, gamma=spec.lr_gamma)
    gen = torch.Generator().manual_seed(10_000 + spec.seed)
    pre: Preprocess = data.preprocess
    train = BatchLoader(data.train, spec.batch_size, pre, train=True, generator=gen, device=device)
    val = BatchLoader(data.val, 512, pre, train=False, device=device)
    test = BatchLoader(data.test, 512, pre, train=False, device=device)
    steps_per_epoch = len(train)
    total = spec.epochs * steps_per_epoch
    if spec.max_steps:
        total = min(total, spec.max_steps)
    history: list[dict[str, float]] = []
    step = 0
    last_finite = float("nan")
    start = 1
    if resume:
        algo.load_state_dict(resume["algorithm"])
        sched.last_epoch = resume["epoch"]
        gen.set_state(resume["data_rng"])
        torch.set_rng_state(resume["torch_rng"])
        history, step, last_finite, start = list(resume["history"]), resume["step"], resume["last_finite"], resume["epoch"] + 1
    bar = tqdm(total=total, initial=step, desc=spec.run_name, leave=False, disable=None if progress else True, unit="step")
    try:
        for epoch in range(start, spec.epochs + 1):
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            n_steps = 0
            for x, y in train:
                stats = algo.train_step((x, y))
                step += 1
                n_steps += 1
                _check_finite(stats["loss"], f"epoch {epoch}, step {step}", last_finite)
                last_finite = stats["loss"]
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                bar.update(1)
                if step >= total:
                    break
            lr = algo.optimizer.param_groups[0]["lr"]
            sched.step()
            train_time = time.perf_counter() - t0
            rec: dict[str, float] = {"epoch": epoch, "step": step, "lr": lr, "epoch_time": train_time}
            rec["train_loss"] = sums.get("train_loss", 0.0) / max(n_steps, 1)
            rec["objective"] = sums.get("loss", 0.0) / max(n_steps, 1)
            rec["train_acc"] = sums.get("train_correct", 0.0) / max(sums.get("train_count", 1.0), 1.0)
            for k in ("grad_agreement", "alpha_weighted_agreement", "loss_j"):
                if k in sums:
                    rec[k] = sums[k] / max(n_steps, 1)
            rec.update(algo.epoch_metrics())
            for split, loader in (("val", val), ("test", test)):
                ev = evaluate(algo, loader, data.num_classes)
                rec[f"{split}_acc"] = ev["acc"]
                rec[f"{split}_loss"] = ev["loss"]
                if "top5" in ev:
                    rec[f"{split}_top5"] = ev["top5"]
            history.append(rec)
            on_record(rec)
            if on_checkpoint:
                on_checkpoint({
                    "algorithm": algo.state_dict(), "epoch": epoch, "step": step, "last_finite": last_finite,
                    "data_rng": gen.get_state(), "torch_rng": torch.get_rng_state(), "history": list(history),
                })
            bar.set_postfix(loss=f"{rec['train_loss']:.3f}", val=f"{100 * rec['val_acc']:.1f}%")
            if step >= total:
                break
    finally:
        bar.close()
    return history




# ------------------------------------------------------------------------- few-shot
def evaluate_episodes(algo: algorithms.Algorithm, episodes: FixedEpisodes) -> dict[str, float]:
    """Mean query accuracy over fixed episodes with its 95% confidence interval
    (1.96 * std / sqrt(episodes))."""
    algo.model.eval()
    accs = [algo.evaluate(ep) for ep in episodes]
    algo.model.train()
    n = len(accs)
    std = statistics.pstdev(accs) if n > 1 else 0.0
    return {"acc": statistics.fmean(accs), "std": std, "ci95": 1.96 * std / math.sqrt(n), "episodes": n, "per_episode": accs}


def episodic_hparams(spec: RunSpec, data: EpisodicData) -> dict:
    """The run's hyperparameters with the data-dependent ones filled in (global head size)."""
    hp = dict(spec.hparams)
    if "train_classes" in hp and not hp["train_classes"]:
        hp["train_classes"] = data.splits["train"].num_classes
    return hp


def episode_sets(spec: RunSpec, data: EpisodicData, device: torch.device) -> dict[str, FixedEpisodes]:
    """The fixed validation and test episodes (the same for every algorithm and seed)."""
    out = {}
    for split, count in (("val", spec.val_episodes), ("test", spec.test_episodes)):
        if count and split in data.splits:
            s = EpisodeSampler(data.splits[split], spec.ways, spec.shots, spec.queries, data.preprocess, device)
            out[split] = s.fixed(count, spec.dataset, split, spec.eval_seed)
    return out


def train_episodic(
    spec: RunSpec,
    data: EpisodicData,
    device: torch.device,
    on_record: Callable[[dict[str, float]], None],
    progress: bool = True,
    resume: dict | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
) -> dict[str, float]:
    """Meta-train for ``spec.meta_iterations`` iterations of ``spec.meta_batch`` tasks;
    evaluate on the fixed validation episodes every ``val_every`` iterations (and
    checkpoint there) and on the fixed test episodes at the end. Returns the final metrics."""
    torch.manual_seed(spec.seed)
    model = create_model(spec.model, spec.ways, data.in_channels, data.image_size).to(device)
    algo = algorithms.create(spec.algorithm, model, **episodic_hparams(spec, data))
    train = EpisodeSampler(data.splits["train"], spec.ways, spec.shots, spec.queries, data.preprocess, device)
    sets = episode_sets(spec, data, device)
    gen = torch.Generator().manual_seed(20_000 + spec.seed)
    iters = spec.meta_iterations if getattr(algo, "needs_training", True) else 0
    every = max(1, spec.val_every or iters or 1)
    last = float("nan")
    sums: dict[str, float] = {}
    n_since = 0
    t_train = 0.0
    start = 1
    history: list[dict[str, float]] = []
    if resume:
        algo.load_state_dict(resume["algorithm"])
        gen.set_state(resume["data_rng"])
        torch.set_rng_state(resume["torch_rng"])
        start, t_train, last, history = resume["iteration"] + 1, resume["train_time_s"], resume["last_finite"], list(resume["history"])
    bar = tqdm(total=iters, initial=start - 1, desc=spec.run_name, leave=False, disable=None if progress else True, unit="it")
    try:
        for it in range(start, iters + 1):
            t0 = time.perf_counter()
            tasks = [train.sample(gen) for _ in range(spec.meta_batch)]
            stats = algo.train_step(tasks)
            t_train += time.perf_counter() - t0
            _check_finite(stats["loss"], f"meta-iteration {it}", last)
            last = stats["loss"]
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n_since += 1
            bar.update(1)
            if it % every == 0 or it == iters:
                rec: dict[str, float] = {"iteration": it, "train_time_s": t_train}
                rec["train_loss"] = sums.get("train_loss", 0.0) / n_since
                if "train_count" in sums:
                    rec["train_acc"] = sums["train_correct"] / max(sums["train_count"], 1.0)
                for k in ("supervised_loss", "supervised_acc"):
                    if k in sums:
                        rec[k] = sums[k] / n_since
                if "val" in sets:
                    ev = evaluate_episodes(algo, sets["val"])
                    rec["val_acc"], rec["val_ci95"] = ev["acc"], ev["ci95"]
                    bar.set_postfix(loss=f"{rec['train_loss']:.3f}", val=f"{100 * ev['acc']:.1f}%")
                on_record(rec)
                history.append(rec)
                sums, n_since = {}, 0
                if on_checkpoint:
                    on_checkpoint({
                        "algorithm": algo.state_dict(), "iteration": it, "train_time_s": t_train, "last_finite": last,
                        "data_rng": gen.get_state(), "torch_rng": torch.get_rng_state(), "history": list(history),
                    })
    finally:
        bar.close()
    t0 = time.perf_counter()
    final: dict[str, float] = {"meta_iterations_run": iters, "train_time_s": t_train}
    if "val" in sets:
        ev = evaluate_episodes(algo, sets["val"])
        final |= {"final_val_acc": ev["acc"], "final_val_ci95": ev["ci95"]}
    ev = evaluate_episodes(algo, sets["test"])
    final |= {"test_acc": ev["acc"], "test_ci95": ev["ci95"], "test_std": ev["std"], "test_episodes": ev["episodes"]}
    final["eval_time_s"] = time.perf_counter() - t0
    final["test_episodes_fingerprint"] = sets["test"].fingerprint()  # type: ignore[assignment]
    final["test_episode_acc"] = ev["per_episode"]  # type: ignore[assignment]  (for paired tests on the same episodes)
    return final
