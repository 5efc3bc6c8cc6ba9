"""Where a result came from: code version, hardware, software."""
from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def git_commit() -> str:
    """``<sha>`` of the project checkout, ``<sha>-dirty`` with uncommitted changes, ``unknown`` outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA device is available; use --device cpu or auto")
    return torch.device(name)


def hardware(device: torch.device) -> dict[str, str]:
    info = {
        "hardware.cpu": cpu_model(),
        "hardware.cpu_count": str(os.cpu_count()),
        "hardware.torch_threads": str(torch.get_num_threads()),
        "hardware.device": str(device),
        "hardware.platform": platform.platform(),
        "software.python": platform.python_version(),
        "software.torch": torch.__version__,
    }
    if device.type == "cuda":
        info["hardware.gpu"] = torch.cuda.get_device_name(device)
    return info


def hardware_summary(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {cpu_model()} x{os.cpu_count()}"
