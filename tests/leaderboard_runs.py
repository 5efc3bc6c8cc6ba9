"""A small fixed set of MLflow runs for both suites (no training): the input of the
leaderboard regression tests. Numbers come from a seeded generator, so the tables built
from them never change unless the leaderboard code does."""
from __future__ import annotations

import random

START = 1_750_000_000_000  # fixed start times (ms): the tables' dates never change

STANDARD = [  # (dataset, source path, profile, scale, scale note, model, base accuracy)
    ("digits", "embedded", "quick", "quick", "embedded data, short schedule", "cnet1", 0.95),
    ("imagefolder", "/data/cifar10-jpeg.tar.gz", "paper", "reduced", "2 of 150 epochs (milestones scaled)", "cnet2", 0.40),
]
STANDARD_GAIN = {"standard": 0.0, "mltp": 0.02, "mltp_fo": 0.01}
FEWSHOT_GAIN = {"transfer": 0.0, "protonet": 0.1, "maml": 0.05}


def _run(tracker, i: int, tags: dict, metrics: dict, episodes: list[float] | None = None, params: dict | None = None) -> None:
    run = tracker.client.create_run(tracker.experiment_id, start_time=START + 1000 * i, tags=tags)
    rid = run.info.run_id
    for k, v in (params or {}).items():
        tracker.client.log_param(rid, k, v)
    tracker.log_metrics(rid, metrics, step=0)
    if episodes is not None:
        tracker.log_json(rid, episodes, "test_episode_acc.json")
    tracker.end(rid, tags.pop("_status", "FINISHED"))


def _common(suite, dataset, profile, scale, note, model, algorithm, seed, key) -> dict:
    return {"suite": suite, "dataset": dataset, "profile": profile, "scale": scale, "scale_note": note, "model": model,
            "algorithm": algorithm, "seed": str(seed), "config_key": key, "git_commit": "0123456789abcdef",
            "hardware.cpu": "Test CPU"}


def populate_standard(tracker) -> None:
    rng = random.Random(0)
    i = 0
    for dataset, source, profile, scale, note, model, base in STANDARD:
        for algorithm, gain in STANDARD_GAIN.items():
            for seed in range(3):
                tags = _common("standard", dataset, profile, scale, note, model, algorithm, seed, f"s{i}")
                tags |= {"setting": "", "data.source": source, "data.num_classes": "10",
                         "data.paper_dataset": "cifar10" if dataset == "imagefolder" else "None"}
                acc = base + gain + rng.gauss(0, 0.01)
                metrics = {"final_test_acc": acc, "final_val_acc": acc + 0.01, "train_time_s": 10.0 * (1 + gain * 50),
                           "wall_time_s": 12.0}
                _run(tracker, i, tags, metrics)
                i += 1
    tags = _common("standard", "digits", "quick", "quick", "", "cnet1", "standard", 9, "failed")
    _run(tracker, i, tags | {"_status": "FAILED"}, {})


def populate_fewshot(tracker) -> None:
    rng = random.Random(1)
    i = 0
    for algorithm, gain in FEWSHOT_GAIN.items():
        for seed in range(3):
            tags = _common("fewshot", "glyphs", "quick", "quick", "embedded data", "conv4-32", algorithm, seed, f"f{i}")
            tags |= {"setting": "5-way 1-shot", "data.source": "embedded", "data.paper_dataset": "None",
                     "test_episodes_fingerprint": "0f1e2d3c"}
            episodes = [min(1.0, max(0.0, 0.6 + gain + rng.gauss(0, 0.1))) for _ in range(12)]
            mean = sum(episodes) / len(episodes)
            metrics = {"test_acc": mean, "test_ci95": 0.05, "train_time_s": 5.0 + 5 * gain, "wall_time_s": 6.0}
            _run(tracker, i, tags, metrics, episodes, params={"ways": "5", "hp.lr": "0.001"})
            i += 1
