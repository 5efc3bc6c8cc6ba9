"""Cost benchmark (a command, not a timed test): step time of each algorithm relative to
``standard`` on the same model and batch, measured interleaved in one process, plus peak
memory. Rounds rotate the algorithm order so that machine drift hits every algorithm.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated``; on CPU, the peak resident set
size above the level just before the algorithm's steps, sampled every millisecond.
"""
from __future__ import annotations

import os
import statistics
import threading
import time

import torch

import algorithms

from ..models import create_model
from ..track.provenance import hardware_summary

TARGETS = {"standard": 1.0, "mltp_fo": 1.10, "mltp_fc": 2.2, "mltp_conv": 2.2, "mltp": 2.2}


class _RssPeak:
    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = 0
        self._stop = threading.Event()

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def __enter__(self):
        self.base = self.rss()
        self.peak = self.base
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _timed_step(algo, batch, steps: int, sync) -> float:
    """Seconds per training step over ``steps`` steps (synchronised on CUDA)."""
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        algo.train_step(batch)
    sync()
    return (time.perf_counter() - t0) / steps


def measure(names: list[str], model_name: str, batch: int, image_size: int, classes: int, steps: int, rounds: int, device: torch.device) -> list[dict]:
    torch.manual_seed(0)
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    algos = {}
    for n in names:
        torch.manual_seed(0)
        model = create_model(model_name, classes, 3, image_size).to(device)
        algos[n] = algorithms.create(n, model)
        for _ in range(2):  # warm-up (allocator, kernels)
            algos[n].train_step((x, y))
    times: dict[str, list[float]] = {n: [] for n in names}
    mem: dict[str, float] = {n: 0.0 for n in names}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
            with _RssPeak() as rss:
                times[n].append(_timed_step(algos[n], (x, y), steps, sync))
            peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20 if device.type == "cuda" else rss.delta_mb
            mem[n] = max(mem[n], peak)
    base_t = statistics.median(times[names[0]])
    rows = []
    for n in names:
        t = statistics.median(times[n])
        rows.append({"algorithm": n, "step_ms": 1000 * t, "ratio": t / base_t, "target": TARGETS.get(n), "peak_mb": mem[n]})
    return rows


def measure_precision(names: list[str], model_name: str, batch: int, image_size: int, classes: int, steps: int,
                      rounds: int, device: torch.device) -> list[dict]:
    """Step time of each (first-order) algorithm in fp32 and under bf16 autocast, interleaved in one run."""
    from ..plan import precision

    torch.manual_seed(0)
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    cases = [(n, p) for n in names for p in ("fp32", "bf16")]
    algos = {}
    for n, p in cases:
        torch.manual_seed(0)
        algos[n, p] = algorithms.create(n, create_model(model_name, classes, 3, image_size).to(device))
        with precision.autocast(p, device):
            for _ in range(2):
                algos[n, p].train_step((x, y))
    times: dict[tuple[str, str], list[float]] = {c: [] for c in cases}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for r in range(rounds):
        for c in cases[r % len(cases):] + cases[: r % len(cases)]:
            with precision.autocast(c[1], device):
                times[c].append(_timed_step(algos[c], (x, y), steps, sync))
    return [{"algorithm": n, "fp32_ms": 1000 * statistics.median(times[n, "fp32"]),
             "bf16_ms": 1000 * statistics.median(times[n, "bf16"]),
             "ratio": statistics.median(times[n, "bf16"]) / statistics.median(times[n, "fp32"])} for n in names]


def format_table(rows: list[dict], markdown: bool) -> str:
    head = ["algorithm", "step time (ms)", "x standard", "target", "peak memory (MB)", "meets target"]
    body = []
    baseline = rows[0]["algorithm"]  # measure() puts the baseline first
    for r in rows:
        tgt = r["target"]
        ok = "-" if tgt is None or r["algorithm"] == baseline else ("yes" if r["ratio"] <= tgt else f"no (+{100 * (r['ratio'] / tgt - 1):.0f}%)")
        body.append([r["algorithm"], f"{r['step_ms']:.0f}", f"{r['ratio']:.2f}", f"<= {tgt:.2f}" if tgt and r["algorithm"] != baseline else "-", f"{r['peak_mb']:.0f}", ok])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    w = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{x}}}" for x in w)
    return "\n".join([fmt.format(*head)] + [fmt.format(*b) for b in body])


def run_perf(args, device: torch.device) -> int:
    names = args.algorithm or list(TARGETS)
    args.model, args.image_size = args.model or "cnet2", args.image_size or 32
    if names[0] != "standard":
        names = ["standard"] + [n for n in names if n != "standard"]
    valid = algorithms.available("batches")
    for n in names:
        if n not in valid:
            raise ValueError(f"unknown algorithm {n!r} for perf --suite standard; valid: {', '.join(valid)}")
    if min(args.steps, args.rounds, args.batch_size) < 1:
        raise ValueError("--steps, --rounds and --batch-size must be >= 1")
    print(
        f"perf: {args.model}, batch {args.batch_size}x3x{args.image_size}x{args.image_size}, {args.classes} classes, "
        f"{args.rounds} rounds x {args.steps} steps, median per step; {hardware_summary(device)}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        flush=True,
    )
    if args.precision == "bf16":
        first = [n for n in names if not algorithms.get_class(n).second_order]
        rows = measure_precision(first, args.model, args.batch_size, args.image_size, args.classes, args.steps, args.rounds, device)
        print("\n".join(f"{r['algorithm']}: step {r['fp32_ms']:.0f} ms fp32, {r['bf16_ms']:.0f} ms bf16 autocast: "
                        f"{r['ratio']:.2f}x" for r in rows))
        print(f"(second-order algorithms run in fp32 only: {', '.join(n for n in names if n not in first) or 'none here'})")
        return 0
    rows = measure(names, args.model, args.batch_size, args.image_size, args.classes, args.steps, args.rounds, device)
    print(format_table(rows, args.markdown))
    return 0
