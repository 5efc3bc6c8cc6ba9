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
    se: float = math.nan  # the standard error behind both the interval and p
    df: float = math.nan  # its degrees of freedom
    spread: Spread | None = None  # its components, to recompute it for other numbers of seeds


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
    """Algorithm values ``a`` vs baseline values ``b``, paired by seed (same order). The estimand is the mean
    difference over new training seeds: the paired t interval and the paired t-test's p, from one standard error."""
    d = np.asarray(a, float) - np.asarray(b, float)
    n = len(d)
    if n < 2:
        return Comparison(n, float(d.mean()) if n else math.nan, math.nan, math.nan, math.nan, sign_flip_p(d), math.nan)
    sd = float(np.std(d, ddof=1))
    c = from_spread(float(d.mean()), n, Spread(sd**2), sd, "t over seed differences", sign_flip_p(d))
    c.boot_lo, c.boot_hi = bootstrap_interval(d)
    return c


@dataclass(frozen=True)
class Spread:
    """What the standard error of a mean difference is made of, so it can be recomputed for another number of seeds:
    ``u``, the variance of one seed's mean difference (divided by the seeds); ``w``, the variance the finite set of
    test episodes adds (0 for the standard suite; it does not shrink with more seeds) with ``w_df`` degrees of freedom."""
    u: float
    w: float = 0.0
    w_df: float = math.inf

    def se(self, n: int) -> float:
        return math.sqrt(self.u / n + self.w)

    def df(self, n: int) -> float:
        return float(seeds_df(self.u / n, self.w, n, self.w_df))


SEED_BOUND = 0.1  # the seed variance enters the degrees of freedom at its upper 90% bound (see seeds_df)


def seeds_df(a, w, n: int, w_df: float = math.inf):
    """Welch-Satterthwaite degrees of freedom of a squared standard error ``a + w``: ``a``, the seeds' part (n - 1
    degrees of freedom), ``w``, the test episodes' (``w_df``; numpy arrays work). ``a`` enters at its upper 90% bound.
    Plugged in as estimated, a seed variance that came out small by chance gives too many degrees of freedom and too
    small a p: measured by simulation, at 5 seeds and an episode share of 2-10% of one seed's, the plain rule rejects a
    true null at 1.2x the level at 0.05 and 2.5x at 0.05/13; with the bound, at most 1.02x at both (tests/test_stats.py)."""
    a_hi = np.asarray(a) * (n - 1) / stats.chi2.ppf(SEED_BOUND, n - 1)
    b = np.where(np.asarray(w) > 0, np.asarray(w) ** 2 / w_df, 0.0) if math.isfinite(w_df) else 0.0
    den = a_hi**2 / (n - 1) + b
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (a_hi + w) ** 2 / np.where(den > 0, den, 1.0), n - 1.0)


def _spread(x) -> Spread:
    """A Spread, or a plain seed-difference sd (the paired t-test's)."""
    return x if isinstance(x, Spread) else Spread(float(x) ** 2)


def two_level_spread(d: np.ndarray) -> Spread:
    """The variance components of a seeds x episodes difference matrix (algorithm - baseline on the same episodes),
    in closed form from the two-way analysis of variance: d[s, e] = mu + a_s (the training seed) + b_e (the algorithm
    x episode effect, shared by every seed) + noise. The variance of the grand mean over new seeds and new episodes is
    var(a)/S + var(b)/E + var(noise)/(S E), estimated without bias by (MS_seeds + MS_episodes - MS_residual) / (S E):
    u = MS_seeds / E (one seed's share, with its noise) and w = (MS_episodes - MS_residual) / (S E), set to 0 where
    negative (no algorithm x episode variance detected). w's degrees of freedom are Satterthwaite's."""
    s, e = d.shape
    m, rows, cols = d.mean(), d.mean(1), d.mean(0)
    ms_s = e * float(((rows - m) ** 2).sum()) / (s - 1)
    ms_e = s * float(((cols - m) ** 2).sum()) / (e - 1)
    resid = d - rows[:, None] - cols[None, :] + m
    ms_r = float((resid**2).sum()) / ((s - 1) * (e - 1))
    w = (ms_e - ms_r) / (s * e)
    if not w > 0:
        return Spread(ms_s / e)
    w_df = w**2 / ((ms_e / (s * e)) ** 2 / (e - 1) + (ms_r / (s * e)) ** 2 / ((s - 1) * (e - 1)))
    return Spread(ms_s / e, w, w_df)


def from_spread(diff: float, n: int, spread: Spread, sd: float, interval: str, p_perm: float = math.nan) -> Comparison:
    """The interval and p of one estimand from one standard error and its degrees of freedom, so that p < 0.05
    exactly when the 95% interval excludes 0."""
    se, df = spread.se(n), spread.df(n)
    if not se > 0:
        p = 1.0 if diff == 0 else 0.0
        return Comparison(n, diff, diff, diff, p, p_perm, sd, interval=interval, se=se, df=df, spread=spread)
    h = float(stats.t.ppf(1 - ALPHA / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Comparison(n, diff, diff - h, diff + h, p, p_perm, sd, interval=interval, se=se, df=df, spread=spread)


def two_level(a: np.ndarray, b: np.ndarray, draws: int | None = None, seed: int | None = None) -> Comparison:
    """Few-shot: ``a``, ``b`` are seeds x episodes accuracies on the same episodes, rows paired by seed. The estimand
    is the mean difference over new training seeds and new test episodes: interval and p both from the closed-form
    two-level standard error (``two_level_spread``) with its Welch-Satterthwaite degrees of freedom. (``draws`` and
    ``seed`` are accepted for the bootstrap this replaced, and ignored.)"""
    d = np.asarray(a, float) - np.asarray(b, float)
    per_seed = d.mean(1)
    n = len(per_seed)
    m = float(per_seed.mean()) if n else math.nan  # no seed in common: nothing to compare
    sd = float(np.std(per_seed, ddof=1)) if n > 1 else math.nan
    if n < 2:
        return Comparison(n, m, math.nan, math.nan, math.nan, math.nan, sd, interval=TWO_LEVEL)
    return from_spread(m, n, two_level_spread(d), sd, TWO_LEVEL, sign_flip_p(per_seed))


TWO_LEVEL = "two-level closed form"


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


def power(delta: float, sd, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided t-test with ``n`` seeds against a true difference ``delta``; ``sd``: the seed
    differences' sd (the paired t-test) or a Spread (its standard error and degrees of freedom at ``n`` seeds)."""
    spread = _spread(sd)
    if n < 2 or not spread.u > 0:
        return math.nan
    df = spread.df(n)
    nc = abs(delta) / spread.se(n)
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


def detectable(sd, n: int, target: float = POWER, alpha: float = ALPHA) -> float:
    """The smallest difference detected with ``target`` power by ``n`` seeds at level ``alpha`` (``sd``: as in power)."""
    spread = _spread(sd) if not (isinstance(sd, float) and math.isnan(sd)) else None
    if n < 2 or spread is None or not spread.u > 0:
        return math.nan
    se, hi = spread.se(n), 1000 * spread.se(n)
    while power(hi, spread, n, alpha) < target:  # under one degree of freedom the t tails are so heavy that even a
        if hi > 1e12 * se:  # thousand standard errors may fall short (3 test episodes, a tiny w_df): none is detectable
            return math.inf
        hi *= 10
    return float(optimize.brentq(lambda x: power(x, spread, n, alpha) - target, 1e-9 * se, hi))


def spread_range(n: int, level: float = 0.8, df: float | None = None) -> tuple[float, float]:
    """The factors by which the true standard error may differ from the observed one (a ``level`` interval from the
    chi-square distribution of the variance estimate: ``df`` degrees of freedom, n - 1 for the paired t). A
    detectable difference is proportional to it, so these factors give its range too."""
    df = n - 1 if df is None else df
    if n < 2 or not df > 0:
        return math.nan, math.nan
    tail = (1 - level) / 2
    return math.sqrt(df / stats.chi2.ppf(1 - tail, df)), math.sqrt(df / stats.chi2.ppf(tail, df))


def signflip_floor(n: int) -> float:
    """The smallest p an exact two-sided sign-flip test over ``n`` seeds can give: 2 / 2^n."""
    return 2.0 / 2**n if n >= 1 else math.nan


def seeds_needed(delta: float, sd, target: float = POWER, most: int = 10000, alpha: float = ALPHA) -> float:
    """Seeds a t-test at level ``alpha`` needs to detect ``delta`` with ``target`` power (nan if unknown; inf where
    even ``most`` seeds do not reach it, as when the test episodes' own variance, which more seeds do not shrink,
    already hides ``delta``). ``sd``: as in power."""
    if math.isnan(delta) or delta == 0 or (isinstance(sd, float) and math.isnan(sd)):
        return math.nan
    spread = _spread(sd)
    if not spread.u > 0:
        return math.nan
    lo, hi = 2, 2
    while power(delta, spread, hi, alpha) < target:
        lo, hi = hi, hi * 2
        if hi > most:
            return math.inf
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if power(delta, spread, mid, alpha) < target else (lo, mid)
    return float(lo)


def verdict(c: Comparison, p_adjusted: float) -> str:
    if c.n < MIN_SEEDS:
        return f"too few seeds ({c.n} < {MIN_SEEDS})"
    if p_adjusted < ALPHA and not (c.lo <= 0 <= c.hi):
        return "better" if c.diff > 0 else "worse"
    return "no evidence"
