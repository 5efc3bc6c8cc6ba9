"""Seeds until decided: a group-sequential design over training seeds (``run --until-decided``).

Every comparison with the baseline is looked at after 3 seeds and after each seed added, up to ``max_seeds``. At each
look its t statistic (the same estimand, standard error and degrees of freedom as a fixed table: ``stats``) is held to
one nominal level, Pocock's constant boundary on the p scale. That level is calibrated by simulation, not by a normal
approximation: with 2-9 degrees of freedom the t statistics at successive looks are far from normal. It is the
``alpha / m`` quantile of the smallest p over the looks of null experiments (Bonferroni over the family's ``m``
comparisons), so the chance that a true null is rejected at any look stays at ``alpha / m``.

At the looks the repeated confidence interval (Jennison and Turnbull; the 1 - nominal interval, simultaneous over the
looks) decides a comparison:
* efficacy: it excludes 0 (the nominal p is below the boundary): better or worse;
* futility: it lies within (-min_effect, +min_effect): no difference of min_effect or more;
* otherwise it needs another seed, until ``max_seeds``: undecided.
A comparison stops getting seeds once decided; the grid stops when every comparison is decided or at ``max_seeds``.

The null model of the calibration is the two-level statistic itself: normal seed means and a test-episode mean shared
by every look, at the worst of a range of shares of the episodes' variance (a small share makes the Satterthwaite
degrees of freedom too many, the p of a look too small); tests/test_sequential.py checks the false-positive rate
through the suite's own code at the committed tables' variance components.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from . import stats

FIRST = 3  # seeds at the first look: below it nothing is tested (stats.MIN_SEEDS)
DRAWS = 200_000  # null experiments per share of the calibration (Monte Carlo error on a 0.05/13 level: about 4% of it)


@dataclass(frozen=True)
class Design:
    max_seeds: int
    min_effect: float  # percentage points: smaller differences are not worth more seeds
    alpha: float = stats.ALPHA

    def __post_init__(self):
        if self.max_seeds < FIRST:
            raise ValueError(f"--max-seeds must be >= {FIRST} (the first look), got {self.max_seeds}")
        if not self.min_effect > 0:
            raise ValueError(f"--min-effect must be > 0 percentage points, got {self.min_effect}")

    @property
    def looks(self) -> tuple[int, ...]:
        return tuple(range(FIRST, self.max_seeds + 1))

    def nominal(self, comparisons: int) -> float:
        """The nominal two-sided level each look is held to, for a family of ``comparisons``."""
        return nominal_level(self.looks, self.alpha / max(1, comparisons))

    def describe(self) -> str:
        return (f"seeds until decided: looks at {FIRST}..{self.max_seeds} seeds, Pocock boundary calibrated by simulation "
                f"to a family-wise {self.alpha:g} (Bonferroni over the comparisons), futility within +-{self.min_effect:g} pp")


RATIOS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)  # the test episodes' variance / one seed's, searched


def _null_min_p(looks: tuple[int, ...], draws: int, ratio: float, seed: int = 0) -> np.ndarray:
    """The smallest two-sided p over the looks of ``draws`` null experiments of the suite's statistic: seed means with
    variance 1 (one seed's share: ``Spread.u``) plus a test-episode mean with variance ``ratio`` shared by every look
    (the same episodes at every look; ``Spread.w``, known: it rests on hundreds of episodes), tested with the
    Welch-Satterthwaite degrees of freedom as ``stats`` does. ``ratio`` 0 is the paired t."""
    rng = np.random.default_rng(seed)
    out = np.ones(draws)
    for lo in range(0, draws, 50_000):  # in blocks: memory stays small at 20 looks
        d = rng.standard_normal((min(50_000, draws - lo), looks[-1]))
        shared = rng.standard_normal(len(d)) * math.sqrt(ratio)
        csum, csq = np.cumsum(d, 1), np.cumsum(d * d, 1)
        for n in looks:
            mean = csum[:, n - 1] / n
            a = (csq[:, n - 1] - n * mean**2) / (n - 1) / n
            df = stats.seeds_df(a, ratio, n)
            p = 2 * sps.t.sf(np.abs(mean + shared) / np.sqrt(a + ratio), df)
            out[lo:lo + len(d)] = np.minimum(out[lo:lo + len(d)], p)
    return out


@functools.lru_cache(maxsize=64)
def nominal_level(looks: tuple[int, ...], alpha: float, draws: int = DRAWS) -> float:
    """Pocock's constant nominal level: the ``alpha`` quantile of the null's smallest p over ``looks``, calibrated by
    simulation (deterministic) and taken at the worst share of the test episodes' variance (``RATIOS``): where it is
    small, the Satterthwaite degrees of freedom of a look are too many and its p too small. With one look, ``alpha``."""
    if len(looks) == 1:
        return alpha
    return min(float(np.quantile(_null_min_p(looks, draws, r), alpha)) for r in RATIOS)


@dataclass
class Outcome:
    comparison: stats.Comparison  # at the look where it stopped (or the last one)
    looks: int  # looks made
    seeds: int  # seeds at the last look
    nominal: float  # the boundary: the nominal level of every look
    reason: str  # efficacy / futility / max seeds / needs more seeds
    lo: float  # the repeated confidence interval at the last look
    hi: float

    @property
    def decided(self) -> bool:
        return self.reason in ("efficacy", "futility", "max seeds")

    def verdict(self, min_effect: float) -> str:
        if self.reason == "efficacy":
            return "better" if self.comparison.diff > 0 else "worse"
        if self.reason == "futility":
            return f"no difference >= {min_effect:g} pp"
        if self.reason == "max seeds":
            return "undecided at max seeds"
        return f"undecided so far ({self.seeds} seeds)"


def repeated_interval(c: stats.Comparison, nominal: float) -> tuple[float, float]:
    if not c.se > 0:
        return c.diff, c.diff
    h = float(sps.t.ppf(1 - nominal / 2, c.df)) * c.se
    return c.diff - h, c.diff + h


def analyse(compare_at: Callable[[int], stats.Comparison | None], available: int, design: Design,
            comparisons: int) -> Outcome | None:
    """Walk the looks of one comparison over its first ``available`` paired seeds (in seed order): ``compare_at(n)``
    is the comparison on the first n of them. None below the first look."""
    nominal = design.nominal(comparisons)
    out = None
    for i, n in enumerate(design.looks):
        if n > available:
            break
        c = compare_at(n)
        lo, hi = repeated_interval(c, nominal)
        if not (lo <= 0 <= hi):
            return Outcome(c, i + 1, n, nominal, "efficacy", lo, hi)
        if -design.min_effect < lo and hi < design.min_effect:
            return Outcome(c, i + 1, n, nominal, "futility", lo, hi)
        out = Outcome(c, i + 1, n, nominal, "max seeds" if n == design.max_seeds else "needs more seeds", lo, hi)
    return out


def design_power(effect: float, sd: float, design: Design, comparisons: int, draws: int = 100_000,
                 seed: int = 1) -> tuple[float, float]:
    """(power, mean seeds used) of the design against a true difference ``effect`` (pp) when the seed differences have
    sd ``sd`` (pp) and nothing else varies (the calibration's model), by simulation. Power: the share of experiments
    that reject in the true direction (under the null, in either)."""
    nominal = design.nominal(comparisons)
    rng = np.random.default_rng(seed)
    d = rng.normal(effect, sd, (draws, design.max_seeds))
    csum, csq = np.cumsum(d, 1), np.cumsum(d * d, 1)
    open_ = np.ones(draws, bool)
    rejected, seeds = np.zeros(draws, bool), np.full(draws, design.max_seeds)
    for n in design.looks:
        mean = csum[:, n - 1] / n
        se = np.sqrt((csq[:, n - 1] - n * mean**2) / (n - 1) / n)
        h = sps.t.ppf(1 - nominal / 2, n - 1) * se
        hit = open_ & ((mean - h > 0) | (mean + h < 0))
        futile = open_ & ~hit & (mean - h > -design.min_effect) & (mean + h < design.min_effect)
        rejected |= hit if effect == 0 else hit & (np.sign(mean) == np.sign(effect))
        seeds[hit | futile] = n
        open_ &= ~(hit | futile)
    return float(rejected.mean()), float(seeds.mean())


def fmt_boundary(nominal: float) -> str:
    return f"p < {nominal:.2g}" if not math.isnan(nominal) else "-"
