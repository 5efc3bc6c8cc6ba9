"""Seed-level statistics for comparing an algorithm with a baseline.

The unit of replication is the seed (one independent training run): the same seed gives
every algorithm the same initialisation, data order and, in the few-shot suite, the same
fixed test episodes, so comparisons are paired by seed.

* ``paired``: the mean seed difference with its t interval, the paired t-test's p, an
  exact sign-flip permutation p (a cross-check that assumes no normality), and a
  percentile bootstrap interval where there are enough seeds.
* ``two_level``: few-shot results are a seeds x episodes matrix per algorithm. The
  interval of the difference comes from a two-level bootstrap (seeds resampled; the
  shared episode indices resampled jointly for both algorithms and every seed); its
  standard error is turned into an interval with the seed-level t quantile, since a
  percentile interval over 3-5 seeds is too narrow. p is the seed-level paired t-test
  on the per-seed mean accuracies. Episodes are never treated as independent
  replicates: 600 episodes of one trained model say nothing about another seed.
* ``holm``: Holm's step-down adjustment over the comparisons of one table.
* ``detectable`` / ``seeds_needed``: the smallest true difference a paired t-test with
  this many seeds detects with 80% power at alpha 0.05 (given the observed spread of
  the seed differences), and the seeds a claimed difference would need.

Vectorised numpy and scipy only; no training.
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.8
MIN_SEEDS = 3  # fewer seeds: no test, the verdict says so


@dataclass
class Comparison:
    n: int  # paired seeds
    diff: float  # mean difference (algorithm - baseline)
    lo: float  # 95% interval of the difference
    hi: float
    p: float  # paired t-test over seeds
    p_perm: float  # exact sign-flip permutation test over seeds
    sd: float  # std of the seed differences
    boot_lo: float = math.nan  # percentile bootstrap interval (n >= 5)
    boot_hi: float = math.nan
    interval: str = "t over seed differences"


def t_interval(d: np.ndarray, alpha: float = ALPHA) -> tuple[float, float, float]:
    n = len(d)
    m = float(np.mean(d))
    if n < 2:
        return m, math.nan, math.nan
    se = float(np.std(d, ddof=1)) / math.sqrt(n)
    h = float(stats.t.ppf(1 - alpha / 2, n - 1)) * se
    return m, m - h, m + h


def paired_t_p(d: np.ndarray) -> float:
    """Two-sided p of the paired t-test on differences ``d`` (scipy's ttest_1samp)."""
    if len(d) < 2:
        return math.nan
    if np.all(d == d[0]):
        return 1.0 if d[0] == 0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def sign_flip_p(d: np.ndarray, max_exact: int = 16, draws: int = 20000, seed: int = 0) -> float:
    """Two-sided permutation p of the mean difference: every sign pattern (exact up to
    ``max_exact`` seeds, else ``draws`` random ones), counting patterns at least as extreme."""
    d = np.asarray(d, float)
    n = len(d)
    if n < 1:
        return math.nan
    if n <= max_exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(draws, n))
    obs = abs(d.mean())
    return float(np.mean(np.abs(signs @ d / n) >= obs - 1e-12))


def bootstrap_interval(d: np.ndarray, draws: int = 10000, seed: int = 0, alpha: float = ALPHA) -> tuple[float, float]:
    d = np.asarray(d, float)
    if len(d) < 5:
        return math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, len(d), size=(draws, len(d)))
    means = d[idx].mean(1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def paired(a: np.ndarray, b: np.ndarray) -> Comparison:
    """Algorithm values ``a`` vs baseline values ``b``, paired by seed (same order)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    m, lo, hi = t_interval(d)
    blo, bhi = bootstrap_interval(d)
    sd = float(np.std(d, ddof=1)) if len(d) > 1 else math.nan
    return Comparison(len(d), m, lo, hi, paired_t_p(d), sign_flip_p(d), sd, blo, bhi)


def two_level_se(d: np.ndarray, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Standard error of the mean of a seeds x episodes difference matrix from a two-level
    bootstrap: seeds resampled (the training runs' variance; the plug-in variance scaled
    by S/(S-1)), and the shared episode indices resampled jointly for every seed (the
    variance of a finite episode set). The residual noise of one seed on one episode is in
    both; its share, estimated from the two-way residuals, is counted once. Returns the
    SE and its Welch-Satterthwaite degrees of freedom (seeds - 1 when the training runs'
    variance dominates, more when the episodes' does)."""
    s, e = d.shape
    rng = np.random.default_rng(seed)
    seed_counts = rng.multinomial(s, np.full(s, 1 / s), size=draws)  # (draws, seeds)
    episode_counts = rng.multinomial(e, np.full(e, 1 / e), size=draws)  # (draws, episodes)
    v_seeds = np.var(seed_counts @ d.mean(1) / s, ddof=1) * s / (s - 1)
    v_episodes = np.var(episode_counts @ d.mean(0) / e, ddof=1)
    resid = d - d.mean(1, keepdims=True) - d.mean(0, keepdims=True) + d.mean()
    v_resid = float((resid**2).sum()) / max((s - 1) * (e - 1), 1) / (s * e)
    v = max(v_seeds + v_episodes - v_resid, 0.0)
    df = v**2 / (v_seeds**2 / (s - 1) + v_episodes**2 / (e - 1)) if v > 0 else s - 1
    return float(math.sqrt(v)), float(min(max(df, s - 1), e - 1))


def two_level(a: np.ndarray, b: np.ndarray, draws: int = 2000, seed: int = 0) -> Comparison:
    """Few-shot: ``a``, ``b`` are seeds x episodes accuracies on the same episodes, rows
    paired by seed. Interval: mean +- t(df) x two-level bootstrap SE; p: paired t on
    the seeds' mean accuracies."""
    d = np.asarray(a, float) - np.asarray(b, float)
    per_seed = d.mean(1)
    n = len(per_seed)
    m = float(per_seed.mean()) if n else math.nan  # no seed in common: nothing to compare
    sd = float(np.std(per_seed, ddof=1)) if n > 1 else math.nan
    if n < 2:
        return Comparison(n, m, math.nan, math.nan, math.nan, math.nan, sd, interval="two-level bootstrap")
    se, df = two_level_se(d, draws, seed)
    h = float(stats.t.ppf(1 - ALPHA / 2, df)) * se
    return Comparison(n, m, m - h, m + h, paired_t_p(per_seed), sign_flip_p(per_seed), sd, interval="two-level bootstrap")


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (nan entries are left out and stay nan)."""
    idx = [i for i, x in enumerate(p) if not math.isnan(x)]
    order = sorted(idx, key=lambda i: p[i])
    out = [math.nan] * len(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out


def power(delta: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test with ``n`` seeds against a true difference ``delta``."""
    if n < 2 or not sd > 0:
        return math.nan
    df = n - 1
    nc = abs(delta) / sd * math.sqrt(n)
    t = stats.t.ppf(1 - alpha / 2, df)
    # both tails as survival functions: scipy 1.17's nct.cdf(-t, df, nc) returns nan far in
    # the lower tail (df = 1, nc ~ 10-16), and reading that nan as power 1 made `detectable`
    # stop at a false root (10.0 instead of 11.5 sd at 2 seeds; matching_net's 3.98 pp for 4.57 pp)
    with warnings.catch_warnings():  # scipy 1.10's boost warns of overflow far in the tails (a nan is handled below)
        warnings.simplefilter("ignore", RuntimeWarning)
        upper, lower = float(stats.nct.sf(t, df, nc)), float(stats.nct.sf(t, df, -nc))
    if math.isnan(upper) or math.isnan(lower):  # not seen in the range used; the normal limit
        upper, lower = float(stats.norm.sf(t - nc)), float(stats.norm.sf(t + nc))
    return upper + lower


def detectable(sd: float, n: int, target: float = POWER, alpha: float = ALPHA) -> float:
    """The smallest difference detected with ``target`` power by ``n`` seeds at level ``alpha``."""
    if n < 2 or not sd > 0 or math.isnan(sd):
        return math.nan
    return float(optimize.brentq(lambda x: power(x, sd, n, alpha) - target, 1e-9 * sd, 1000 * sd))


def spread_range(n: int, level: float = 0.8) -> tuple[float, float]:
    """The factors by which the true sd of the seed differences may differ from the observed one (a ``level``
    interval from the chi-square distribution of the sample variance, n - 1 degrees of freedom). A detectable
    difference is proportional to the sd, so these factors give its range too."""
    if n < 2:
        return math.nan, math.nan
    df, tail = n - 1, (1 - level) / 2
    return math.sqrt(df / stats.chi2.ppf(1 - tail, df)), math.sqrt(df / stats.chi2.ppf(tail, df))


def signflip_floor(n: int) -> float:
    """The smallest p an exact two-sided sign-flip test over ``n`` seeds can give: 2 / 2^n."""
    return 2.0 / 2**n if n >= 1 else math.nan


def seeds_needed(delta: float, sd: float, target: float = POWER, most: int = 10000, alpha: float = ALPHA) -> float:
    """Seeds a paired t-test at level ``alpha`` needs to detect ``delta`` with ``target`` power (nan if unknown)."""
    if math.isnan(delta) or math.isnan(sd) or not sd > 0 or delta == 0:
        return math.nan
    lo, hi = 2, 2
    while power(delta, sd, hi, alpha) < target:
        lo, hi = hi, hi * 2
        if hi > most:
            return math.inf
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if power(delta, sd, mid, alpha) < target else (lo, mid)
    return float(lo)


def verdict(c: Comparison, p_adjusted: float) -> str:
    if c.n < MIN_SEEDS:
        return f"too few seeds ({c.n} < {MIN_SEEDS})"
    if p_adjusted < ALPHA and not (c.lo <= 0 <= c.hi):
        return "better" if c.diff > 0 else "worse"
    return "no evidence"
