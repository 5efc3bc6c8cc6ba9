"""Did a run reach its plateau? The stated criterion, applied to its validation curve.

A run has *plateaued* when the last ``TAIL`` (20%) of its training improved its best
validation accuracy by less than ``TOL`` (0.5) percentage points over the best before
that tail: ``gain = max(val in the tail) - max(val before it)``. A curve with fewer
than two validation points before the tail cannot be judged (NaN).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

TAIL = 0.2
TOL = 0.5  # percentage points
CRITERION = (f"the last {TAIL:.0%} of training improves the best validation accuracy by < {TOL} pp "
             "(`benchmark/report/plateau.py`)")


def tail_gain(steps: Sequence[float], values: Sequence[float], tail: float = TAIL) -> float:
    """Best validation value in the last ``tail`` of training minus the best before it (NaN if unjudgeable)."""
    pts = sorted(zip(steps, values))
    if len(pts) < 3:
        return math.nan
    end = pts[-1][0]
    cut = end - tail * end
    before = [v for s, v in pts if s <= cut]
    after = [v for s, v in pts if s > cut]
    if len(before) < 2 or not after:
        return math.nan
    return max(after) - max(before)


def plateaued(gain: float, tol: float = TOL) -> bool | None:
    """True / False by the criterion; None when the curve cannot be judged."""
    return None if gain is None or math.isnan(gain) else gain < tol


def summary(gains: Sequence[float], tol: float = TOL) -> str:
    """``k/n`` seeds that met the criterion, ``-`` when no curve could be judged."""
    judged = [g for g in gains if g is not None and not math.isnan(g)]
    return f"{sum(g < tol for g in judged)}/{len(gains)}" if judged else "-"
