"""``perf --store N [N ...]``: what a growing MLflow store costs resume and leaderboards.

A throwaway SQLite store is filled with synthetic FINISHED few-shot runs (600 per-episode
accuracies each, in grids of 100 closed like ``run`` closes them, with their raw-results
files) up to each size, and at each size the three store reads the suite depends on are
timed, with the growth of the process's peak resident memory:

* the finished-cells check of an 8-cell grid (``run``'s resume);
* the same check for a grid of every cell in the store (a fully finished grid);
* the leaderboard's raw results (runs and per-episode accuracies).
"""
from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from ..report import raw
from ..report.leaderboard import close_grid
from ..track.tracking import Tracker
from .standard import _RssPeak

GRID = 100
EPISODES = 600
ALGOS = ["maml", "protonet", "transfer", "reptile"]


def _fill(tracker: Tracker, start: int, stop: int, rng: random.Random) -> list[str]:
    keys = []
    for g0 in range(start, stop, GRID):
        parent = tracker.start(f"grid:{g0}", {}, {"grid_parent": "1", "suite_grid": "fewshot", "grid_key": f"g{g0}"})
        grid_keys = set()
        for i in range(g0, min(g0 + GRID, stop)):
            key = f"{i:016x}"
            algo, seed = ALGOS[i % len(ALGOS)], (i // len(ALGOS)) % 5
            rid = tracker.start(f"synthetic-{algo}-s{seed}", {"hp.lr": "0.001", "meta_iterations": "100"}, {
                "suite": "fewshot", "config_key": key, "dataset": "glyphs", "model": "conv4-32", "algorithm": algo,
                "seed": str(seed), "setting": "5-way 1-shot", "profile": f"synthetic{i // (len(ALGOS) * 5)}", "scale": "quick",
                "test_episodes_fingerprint": "synthetic", "mlflow.parentRunId": parent, "hardware.cpu": "synthetic"})
            accs = [rng.choice([0.4, 0.6, 0.8, 1.0]) for _ in range(EPISODES)]
            tracker.log_metrics(rid, {"test_acc": sum(accs) / EPISODES, "test_ci95": 0.01, "train_time_s": 1.0,
                                      "wall_time_s": 1.0}, step=0)
            tracker.log_json(rid, accs, "test_episode_acc.json")
            tracker.end(rid, "FINISHED")
            keys.append(key)
            grid_keys.add(key)
        close_grid(tracker, parent, "fewshot", grid_keys, "FINISHED")
    return keys


def _timed(fn):
    """Result, seconds and peak resident-set growth in MB (sampled; tracemalloc would slow the ORM tenfold)."""
    import gc

    gc.collect()
    with _RssPeak() as mem:
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
    return out, dt, mem.delta_mb


def run_store_perf(sizes: list[int], echo=print) -> list[dict]:
    rows = []
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "store.db"
        tracker = Tracker(f"sqlite:///{db}", "fewshot")
        keys: list[str] = []
        for n in sorted(sizes):
            t0 = time.perf_counter()
            keys += _fill(tracker, len(keys), n, rng)
            echo(f"store filled to {n} runs ({time.perf_counter() - t0:.0f} s)")
            grid8 = set(rng.sample(keys, 8))
            found8, t8, m8 = _timed(lambda g=grid8: tracker.finished_by_key(g))
            found_all, t_all, m_all = _timed(lambda k=set(keys): tracker.finished_by_key(k))
            (runs, episodes), t_lb, m_lb = _timed(lambda: raw.from_tracker(tracker, "fewshot"))
            assert len(found8) == 8 and len(found_all) == len(keys) and len(runs) == len(keys)
            assert len(episodes) == len(keys) * EPISODES
            rows.append({"runs": n, "store_mb": db.stat().st_size / 2**20, "check8_s": t8, "check8_mb": m8,
                         "check_all_s": t_all, "check_all_mb": m_all, "leaderboard_s": t_lb, "leaderboard_mb": m_lb})
    return rows


def format_rows(rows: list[dict]) -> str:
    head = ("runs", "store MB", "8-cell resume check", "all-cells check", "leaderboard raw results")
    body = [(str(r["runs"]), f"{r['store_mb']:.0f}", f"{r['check8_s']:.2f} s, {r['check8_mb']:.1f} MB",
             f"{r['check_all_s']:.1f} s, {r['check_all_mb']:.0f} MB", f"{r['leaderboard_s']:.1f} s, {r['leaderboard_mb']:.0f} MB")
            for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(row, widths)) for row in [head, *body])
