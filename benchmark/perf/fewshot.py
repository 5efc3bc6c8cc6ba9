"""Few-shot throughput benchmark: meta-training tasks per second of every few-shot
algorithm that trains, on Omniglot-shaped tasks (28x28, 5-way 1-shot 15-query),
Conv-4-64, meta-batch 32, and its test-time cost (episodes scored per second: adaptation
and prediction); episodes sampled per second. Interleaved rounds, medians. ANIL's
throughput is reported relative to MAML's.

Where learn2learn is importable, its MAML clone/adapt loop runs side by side on the same
model and tasks, and the meta-gradients are compared (``l2l_reference``).
"""
from __future__ import annotations

import statistics
import time

import torch

import algorithms
from datasets import ClassSplit, EpisodeSampler

from ..models import create_model
from ..track.provenance import hardware_summary

NAMES = ["maml", "fomaml", "anil", "metasgd", "reptile", "protonet", "matching_net", "transfer", "baseline_pp",
         "linear_probe"]
TRAIN_CLASSES = 200  # the synthetic split's classes: the pre-training head of transfer and its kin


def synthetic_omniglot(classes: int = 200, per_class: int = 20, size: int = 28, seed: int = 0, channels: int = 1) -> ClassSplit:
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(classes * per_class, channels, size, size, generator=g) * 255).to(torch.uint8)
    labels = torch.arange(classes).repeat_interleave(per_class)
    return ClassSplit(images, labels, [str(c) for c in range(classes)])


def _test_rate(algo, tasks: list) -> float:
    """Episodes scored per second at test time (adaptation to the support set, query prediction)."""
    algo.model.eval()
    algo.evaluate(tasks[0])
    t = time.perf_counter()
    for task in tasks:
        algo.evaluate(task)
    algo.model.train()
    return len(tasks) / (time.perf_counter() - t)


def measure(args, device: torch.device) -> tuple[list[dict], float, dict | None]:
    size = args.image_size or 28
    channels = 1 if size == 28 else 3  # Omniglot-shaped grey glyphs, or colour images (miniImageNet: 84)
    split = synthetic_omniglot(size=size, channels=channels)
    sampler = EpisodeSampler(split, args.ways, args.shots, args.queries, device=device)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    n_ep = 2000
    for _ in range(n_ep):
        sampler.sample(g)
    episodes_per_s = n_ep / (time.perf_counter() - t0)
    tasks = [sampler.sample(g) for _ in range(args.meta_batch)]
    names = args.algorithm or NAMES
    algos = {}
    for n in names:
        torch.manual_seed(0)
        model = create_model(args.model, args.ways, channels, size).to(device)
        algos[n] = algorithms.create(n, model, train_classes=TRAIN_CLASSES)
        algos[n].train_step(tasks)  # warm-up
    times: dict[str, list[float]] = {n: [] for n in names}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            sync()
            t = time.perf_counter()
            for _ in range(args.steps):
                algos[n].train_step(tasks)
            sync()
            times[n].append((time.perf_counter() - t) / args.steps)
    rows = [{"algorithm": n, "step_s": statistics.median(times[n]), "tasks_per_s": args.meta_batch / statistics.median(times[n]),
             "test_episodes_per_s": _test_rate(algos[n], tasks[:8])} for n in names]
    l2l = None
    if not args.model.startswith("conv4") or size != 28:  # learn2learn's reference is its Omniglot Conv-4
        return rows, episodes_per_s, l2l
    try:
        from .l2l_reference import compare_with_learn2learn
    except ImportError:
        pass
    else:
        l2l = compare_with_learn2learn(args.model, tasks, args.rounds, args.steps, device)
    return rows, episodes_per_s, l2l


def run_fewshot_perf(args, device: torch.device) -> int:
    from ..models import create_model as _create

    args.model = args.model or "conv4-64"
    if not all(hasattr(_create(args.model, 5, 3, 32), a) for a in ("embed", "head", "feature_dim")):
        raise ValueError(f"--model {args.model} is not a few-shot backbone (no embed/head); use conv4-64, conv4-32, "
                         "conv4-64-strided, resnet12, resnet12-dropblock, resnet10-fs or resnet18-fs")
    for n in args.algorithm or []:
        if n not in algorithms.available("episodes"):
            raise ValueError(f"unknown algorithm {n!r} for perf --suite fewshot; valid: {', '.join(algorithms.available('episodes'))}")
    print(
        f"perf fewshot: {args.model}, {args.ways}-way {args.shots}-shot {args.queries}-query {args.image_size or 28}x"
        f"{args.image_size or 28} tasks, meta-batch "
        f"{args.meta_batch}, {args.rounds} rounds x {args.steps} steps, median; {hardware_summary(device)}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        flush=True,
    )
    rows, eps, l2l = measure(args, device)
    head = ["algorithm", "meta-iteration (s)", "tasks / s", "test episodes / s"]
    body = [[r["algorithm"], f"{r['step_s']:.3f}", f"{r['tasks_per_s']:.3g}", f"{r['test_episodes_per_s']:.3g}"] for r in rows]
    if l2l:
        body.append(["learn2learn MAML", f"{l2l['step_s']:.3f}", f"{args.meta_batch / l2l['step_s']:.1f}", "-"])
    if args.markdown:
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        print("\n".join("| " + " | ".join(b) + " |" for b in body))
    else:
        w = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        print("  ".join(f"{h:<{w[i]}}" for i, h in enumerate(head)))
        print("\n".join("  ".join(f"{c:<{w[i]}}" for i, c in enumerate(b)) for b in body))
    print(f"episode sampling: {eps:.0f} episodes / s")
    by = {r["algorithm"]: r for r in rows}
    if "anil" in by and "maml" in by:
        print(f"anil vs maml: {by['anil']['tasks_per_s'] / by['maml']['tasks_per_s']:.2f}x the meta-training tasks / s")
    if l2l:
        maml = next(r for r in rows if r["algorithm"] == "maml")
        print(f"maml vs learn2learn: {l2l['step_s'] / maml['step_s']:.2f}x throughput; max relative gradient difference {l2l['max_rel_diff']:.2e}")
    else:
        print("learn2learn is not installed here: no side-by-side comparison (see tox -e parity)")
    return 0
