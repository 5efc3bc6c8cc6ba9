"""``perf --suite fewshot --eval``: test episodes scored per second, the per-episode loop (``--eval-batch 1``)
beside the default batched blocks, in one run, for every algorithm and batch-norm mode.

The data has the shape of omniglot-alphabets' test split (64 characters x 20 drawers, 28x28; synthetic
pixels, so no download); the model and every algorithm's hyperparameters are that profile's. Settings:
its 5-way 1-shot and 5-shot with 15 queries, and 20-way 15-shot with 5 queries. The loop's rate is
measured on the first ``--loop-episodes`` episodes (a loop's rate does not depend on how many there
are), the blocks' on all ``--episodes`` (features computed once per image pay off over many episodes).

``limit``: the cost of the forward passes alone, which no embedding method can beat: inductive, one pass
over the images the episodes use (each once); transductive, each episode's support set and queries as
batches of their own.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

import algorithms
from algorithms.base import EpisodicAlgorithm
from datasets import EpisodeSampler, FixedEpisodes

from ..models import create_model, set_batchnorm
from ..suites.scoring import episode_accuracies
from ..track.provenance import hardware_summary
from .fewshot import synthetic_omniglot

SETTINGS = ((5, 1, 15), (5, 5, 15), (20, 15, 5))  # (ways, shots, queries)
TEST_CLASSES, PER_CLASS = 64, 20  # omniglot-alphabets' test split: Balinese and Korean, 20 drawers each


@dataclass
class EvalRow:
    setting: str
    mode: str
    algorithm: str
    loop: float  # episodes / s
    block: float | None  # None: the algorithm keeps the loop (no batched path)

    @property
    def speedup(self) -> float | None:
        return self.block / self.loop if self.block else None


def _subset(fixed: FixedEpisodes, n: int) -> FixedEpisodes:
    return FixedEpisodes(fixed.sampler, fixed.indices[:n], fixed.seed)


def _rate(algo, episodes: FixedEpisodes, eval_batch: int, sync) -> float:
    sync()
    t = time.perf_counter()
    episode_accuracies(algo, episodes, eval_batch)
    sync()
    return len(episodes) / (time.perf_counter() - t)


def _build(name: str, model_name: str, mode: str, ways: int, shots: int, device: torch.device, hparams_for):
    torch.manual_seed(0)
    model = set_batchnorm(create_model(model_name, ways, 1, 28), mode).to(device)
    return algorithms.create(name, model, train_classes=1000, **hparams_for(name, ways, shots))


def limit_rate(model_name: str, mode: str, episodes: FixedEpisodes, device: torch.device, sync) -> float:
    """Episodes per second of the forward passes alone (see the module's docstring)."""
    model = set_batchnorm(create_model(model_name, episodes.sampler.ways, 1, 28), mode).to(device).eval()
    (block, _), = episodes.blocks(len(episodes))  # the images, preprocessed once, outside the clock
    sync()
    t = time.perf_counter()
    with torch.no_grad():
        if mode == "inductive":
            for i in range(0, len(block.images), algorithms.batched.CHUNK):
                model.embed(block.images[i: i + algorithms.batched.CHUNK])
        else:
            for support, query in zip(block.support, block.query):
                model.embed(block.images[support])
                model.embed(block.images[query])
    sync()
    return len(episodes) / (time.perf_counter() - t)


def measure_eval(args, device: torch.device, hparams_for) -> tuple[list[EvalRow], dict[tuple[str, str], float]]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    split = synthetic_omniglot(TEST_CLASSES, PER_CLASS)
    names = args.algorithm or algorithms.available("episodes")
    rows, limits = [], {}
    for ways, shots, queries in SETTINGS:
        setting = f"{ways}-way {shots}-shot"
        episodes = EpisodeSampler(split, ways, shots, queries, device=device).fixed(args.episodes, "perf", "test")
        few = _subset(episodes, min(args.loop_episodes, args.episodes))
        for mode in ("transductive", "inductive"):
            limits[(setting, mode)] = limit_rate(args.model, mode, episodes, device, sync)
            for name in names:
                if mode not in algorithms.get_class(name).bn_modes:
                    continue
                algo = _build(name, args.model, mode, ways, shots, device, hparams_for)  # an N-way head for the MAML family
                batched = type(algo).query_logits_block is not EpisodicAlgorithm.query_logits_block
                _rate(algo, _subset(episodes, 2), 0 if batched else 1, sync)  # warm-up
                loop = _rate(algo, few, 1, sync)
                block = _rate(algo, episodes, 0, sync) if batched else None
                rows.append(EvalRow(setting, mode, name, loop, block))
                print(f"  {setting} {mode} {name}: loop {loop:.1f}/s" + (f", blocks {block:.1f}/s" if block else ", loop kept"),
                      flush=True)
    return rows, limits


def _table(rows: list[EvalRow], limits: dict, markdown: bool) -> str:
    head = ["setting", "BN", "algorithm", "loop (ep/s)", "blocks (ep/s)", "speed-up", "limit (ep/s)", "of limit"]
    body = []
    for r in rows:
        lim = limits[(r.setting, r.mode)]
        best = r.block or r.loop
        body.append([r.setting, r.mode, r.algorithm, f"{r.loop:.1f}", f"{r.block:.1f}" if r.block else "loop kept",
                     f"{r.speedup:.1f}x" if r.speedup else "-", f"{lim:.0f}", f"{lim / best:.1f}x"])
    if markdown:
        return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(b) + " |" for b in body])
    w = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    return "\n".join("  ".join(f"{c:<{w[i]}}" for i, c in enumerate(line)) for line in [head, *body])


def table_totals(rows: list[EvalRow], episodes: int, setting: str = "5-way 1-shot", mode: str = "transductive") -> tuple[float, float]:
    """Seconds to score ``episodes`` test episodes with every algorithm of one table: (loop, default)."""
    sel = [r for r in rows if r.setting == setting and r.mode == mode]
    return sum(episodes / r.loop for r in sel), sum(episodes / (r.block or r.loop) for r in sel)


def run_eval_perf(args, device: torch.device, hparams_for) -> int:
    """``hparams_for(algorithm, ways, shots)``: the profile's hyperparameters (the suite passes omniglot-alphabets')."""
    args.model = args.model if args.model.startswith("conv4") else "conv4-64-strided"
    for n in args.algorithm or []:
        if n not in algorithms.available("episodes"):
            raise ValueError(f"unknown algorithm {n!r} for perf --suite fewshot; valid: {', '.join(algorithms.available('episodes'))}")
    if args.episodes < 1 or args.loop_episodes < 1:
        raise ValueError(f"--episodes and --loop-episodes must be >= 1, got {args.episodes} and {args.loop_episodes}")
    print(f"perf fewshot --eval: {args.model}, omniglot-alphabets' hyperparameters, synthetic {TEST_CLASSES} classes x "
          f"{PER_CLASS} images 28x28; {args.episodes} episodes in blocks (--eval-batch 0), the loop on the first "
          f"{min(args.loop_episodes, args.episodes)}; {hardware_summary(device)}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    rows, limits = measure_eval(args, device, hparams_for)
    print(_table(rows, limits, args.markdown))
    loop, default = table_totals(rows, 600)
    if loop:
        print(f"a 14-algorithm 5-way 1-shot table's evaluation (600 episodes each, transductive): loop {loop:.0f} s, "
              f"default {default:.0f} s ({loop / default:.2f}x lower)")
    emb = [r.speedup for r in rows if r.speedup]
    if emb:
        print(f"batched algorithms: median speed-up {statistics.median(emb):.1f}x over the loop")
    return 0
