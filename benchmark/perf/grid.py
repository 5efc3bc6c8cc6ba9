"""``perf --workers N``: a small grid's throughput with N local workers vs one process,
side by side in one command (each on a fresh store, data loading included, the same cells).

The grid is the suite's quick profile on a short budget (few-shot: the 14 algorithms,
40 meta-iterations, 50 test episodes; standard: the 5 algorithms, 20 steps), 1 seed; the
sequential run uses every core's threads, as ``run`` does without ``--workers``.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time

WARMUP = {  # one cheap cell first, so neither timed grid pays for decoding and caching the data
    "fewshot": ["--suite", "fewshot", "--seeds", "0", "--meta-iterations", "1", "--test-episodes", "1", "--algorithm", "protonet"],
    "standard": ["--suite", "standard", "--seeds", "0", "--epochs", "1", "--max-steps", "1", "--algorithm", "standard"],
}
GRIDS = {
    "fewshot": ["--suite", "fewshot", "--seeds", "0", "--meta-iterations", "40", "--test-episodes", "50"],
    "standard": ["--suite", "standard", "--seeds", "0", "--epochs", "1", "--max-steps", "20"],
}


def _timed_grid(suite: str, extra: list[str], grid: dict[str, list[str]] = GRIDS) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "benchmark", "run", *grid[suite], "--no-progress", "--tracking-uri",
               f"sqlite:///{d}/m.db", "--checkpoint-dir", f"{d}/ck", "--out", f"{d}/out", *extra]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"perf grid failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
        cells = sum(1 for line in out.stdout.splitlines() if line.startswith("["))
        return dt, cells


def run_grid_perf(suite: str, workers: int, echo=print) -> dict:
    echo(f"perf --workers: the {suite} quick grid on a short budget ({' '.join(GRIDS[suite][2:])}), sequential vs "
         f"{workers} workers, one after the other, after a warm-up cell (the data cache); run it on an otherwise idle machine")
    _timed_grid(suite, [], WARMUP)
    seq, cells = _timed_grid(suite, [])
    par, _ = _timed_grid(suite, ["--workers", str(workers)])
    row = {"cells": cells, "sequential_s": seq, "workers_s": par, "speedup": seq / par}
    echo(f"{cells} cells: sequential {seq:.1f} s ({60 * cells / seq:.1f} cells/min), {workers} workers {par:.1f} s "
         f"({60 * cells / par:.1f} cells/min): {row['speedup']:.2f}x the sequential throughput")
    return row
