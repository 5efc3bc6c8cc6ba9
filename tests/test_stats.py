"""Seed-level statistics (benchmark/report/stats.py): false-positive rate under the null,
interval coverage, Holm's family-wise control, and known answers from scipy. Fast:
vectorised numpy, no training."""
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from benchmark.report import stats

S, E = 5, 600  # seeds, shared test episodes
SIGMA_SEED, SIGMA_ALGO_EPISODE, SIGMA_NOISE = 0.015, 0.04, 0.10  # accuracy units


def simulate(rng, tables: int, delta: float = 0.0, algorithms: int = 2) -> np.ndarray:
    """(tables, algorithms, seeds, episodes) accuracies: a common episode difficulty, a
    per-algorithm seed effect (a training run's luck), an algorithm x episode effect shared
    by the seeds, and noise; algorithm 1 is better by ``delta`` in the population."""
    difficulty = rng.normal(0, 0.1, (tables, 1, 1, E))
    seed = rng.normal(0, SIGMA_SEED, (tables, algorithms, S, 1))
    algo_episode = rng.normal(0, SIGMA_ALGO_EPISODE, (tables, algorithms, 1, E))
    noise = rng.normal(0, SIGMA_NOISE, (tables, algorithms, S, E))
    acc = 0.6 + difficulty + seed + algo_episode + noise
    acc[:, 1] += delta
    return acc


def test_seed_level_test_keeps_its_false_positive_rate_under_the_null():
    acc = simulate(np.random.default_rng(0), 1000)
    per_seed = acc.mean(3)  # (tables, algorithms, seeds)
    p = sps.ttest_1samp(per_seed[:, 1] - per_seed[:, 0], 0.0, axis=1).pvalue
    assert 0.03 <= np.mean(p < 0.05) <= 0.065


def test_the_old_episode_level_test_fails_the_same_check():
    """Why it was replaced: 600 episodes of the same trained models are not replicates of
    training; pairing over episodes ignores the seed-to-seed variance."""
    acc = simulate(np.random.default_rng(0), 1000)
    per_episode = acc.mean(2)  # (tables, algorithms, episodes): averaged over seeds
    p = sps.ttest_rel(per_episode[:, 1], per_episode[:, 0], axis=1).pvalue
    assert np.mean(p < 0.05) > 0.3


def test_two_level_interval_covers_the_true_difference():
    rng = np.random.default_rng(1)
    delta = 0.02
    acc = simulate(rng, 1000, delta=delta)
    covered = 0
    for t in range(len(acc)):
        c = stats.two_level(acc[t, 1], acc[t, 0], draws=300, seed=t)
        covered += c.lo <= delta <= c.hi
    assert 0.92 <= covered / len(acc) <= 0.98


def test_paired_t_interval_covers_the_true_difference():
    rng = np.random.default_rng(2)
    d = rng.normal(0.01, 0.02, (1000, S))
    covered = np.mean([lo <= 0.01 <= hi for _, lo, hi in (stats.t_interval(x) for x in d)])
    assert 0.92 <= covered <= 0.98


def test_holm_controls_the_family_wise_rate_for_five_comparisons():
    acc = simulate(np.random.default_rng(3), 1000, algorithms=6)  # algorithm 0 is the baseline; all equal
    per_seed = acc.mean(3)
    p = sps.ttest_1samp(per_seed[:, 1:] - per_seed[:, :1], 0.0, axis=2).pvalue  # (tables, 5)
    unadjusted = np.mean((p < 0.05).any(1))
    adjusted = np.mean([min(stats.holm(list(row))) < 0.05 for row in p])
    assert unadjusted > 0.12 and adjusted <= 0.06


def test_known_answers_from_scipy():
    a = np.array([71.2, 69.8, 73.1, 70.4, 72.0])
    b = np.array([70.1, 69.9, 71.0, 69.2, 70.7])
    c = stats.paired(a, b)
    assert c.p == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-12)
    ci = sps.ttest_rel(a, b).confidence_interval(0.95)
    assert (c.lo, c.hi) == (pytest.approx(ci.low), pytest.approx(ci.high))
    ref = sps.permutation_test((a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=math.inf)
    assert c.p_perm == pytest.approx(ref.pvalue)
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, math.nan]) == [0.5, math.nan] or math.isnan(stats.holm([0.5, math.nan])[1])


def test_detectable_difference_and_seeds_needed_agree_with_power():
    sd = 1.0
    mde = stats.detectable(sd, 5)
    assert stats.power(mde, sd, 5) == pytest.approx(0.8, abs=1e-6)
    n = stats.seeds_needed(0.5, sd)
    assert stats.power(0.5, sd, int(n)) >= 0.8 > stats.power(0.5, sd, int(n) - 1)
    assert stats.detectable(sd, 10) < mde  # more seeds detect smaller differences


def _simulated_power(rng, delta: float, sd: float, n: int, experiments: int = 200_000) -> float:
    """The share of simulated n-seed experiments (normal seed differences) whose paired
    t-test rejects at 0.05 (binomial SE <= 0.0012)."""
    d = rng.normal(delta, sd, size=(experiments, n))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    return float(np.mean(np.abs(t) > sps.t.ppf(0.975, n - 1)))


@pytest.mark.parametrize("n", [2, 3, 5])
def test_power_matches_simulated_paired_t_tests(n):
    """power() and detectable() against their definition, without scipy's noncentral t.
    At 2 seeds scipy 1.17's nct.cdf gives nan in the far lower tail; read as power 1, it
    put the detectable difference at 10.0 sd instead of 11.5."""
    rng = np.random.default_rng(n)
    sd = 0.4
    for delta in (0.2, 0.6, 1.0, 1.6) if n > 2 else (1.2, 1.6, 1.8, 2.0):
        assert stats.power(delta, sd, n) == pytest.approx(_simulated_power(rng, delta, sd, n), abs=0.005), delta
    assert _simulated_power(rng, stats.detectable(sd, n), sd, n) == pytest.approx(0.8, abs=0.005)


def test_verdicts():
    better = stats.paired(np.array([2.0, 2.1, 1.9, 2.2]), np.zeros(4))
    assert stats.verdict(better, better.p) == "better"
    assert stats.verdict(better, 0.2) == "no evidence"
    few = stats.paired(np.array([2.0, 2.1]), np.zeros(2))
    assert stats.verdict(few, few.p).startswith("too few seeds")


def test_detectable_at_the_bonferroni_level_and_its_range_from_the_spread():
    """The detectable difference at the level a verdict is held to (0.05 / m) has 80% power at that level, is
    larger than at 0.05, and its 80% range from the spread's uncertainty covers the truth in about 80% of samples."""
    sd, n, m = 1.0, 5, 13
    at_level = stats.detectable(sd, n, alpha=0.05 / m)
    assert stats.power(at_level, sd, n, 0.05 / m) == pytest.approx(0.8, abs=1e-6)
    assert at_level > stats.detectable(sd, n) * 1.5
    lo, hi = stats.spread_range(n)
    rng = np.random.default_rng(0)
    observed = rng.normal(0, sd, size=(20000, n)).std(axis=1, ddof=1)
    covered = np.mean((observed * lo <= sd) & (sd <= observed * hi))
    assert covered == pytest.approx(0.8, abs=0.01)
    assert stats.signflip_floor(5) == 0.0625 and stats.signflip_floor(6) < 0.05


# --- The committed tables' own variance components (issue 31) -------------------------------------------------------

COMMITTED = Path(__file__).resolve().parents[1] / "leaderboards" / "omniglot-alphabets" / "2026-12-01-protocol-v1"


def committed_rows() -> list[dict]:
    """Each comparison of the committed 5-seed Omniglot table (protocol v1; 26 rows, 600 shared episodes) as the parts
    a null experiment is built from: the seed variance, the algorithm x episode effects and the residual noise."""
    from benchmark.report import raw

    if not (COMMITTED / "fewshot-episodes.csv.gz").is_file():
        pytest.skip(f"the committed table's raw results are not in {COMMITTED}")
    runs, episodes = raw.read(COMMITTED, "fewshot")
    runs, _ = raw.finished(runs)
    out = []
    for _, g in runs.groupby(raw.GROUP):
        m = {a: episodes[episodes.run_id.isin(r.run_id)].merge(r[["run_id", "seed"]], on="run_id")
             .pivot(index="seed", columns="episode", values="acc").to_numpy() for a, r in g.groupby("algorithm")}
        for a in sorted(set(m) - {"transfer"}):
            d = m[a] - m["transfer"]
            s, e = d.shape
            resid = d - d.mean(1, keepdims=True) - d.mean(0, keepdims=True) + d.mean()
            spread = stats.two_level_spread(d)
            noise = float((resid**2).sum()) / ((s - 1) * (e - 1))
            out.append({"algorithm": a, "setting": g.setting.iloc[0], "diff": float(d.mean()), "var_seed": max(spread.u - noise / e, 0.0), "episode_effects": d.mean(0) - d.mean(),
                        "resid": resid.ravel() * math.sqrt(s * e / ((s - 1) * (e - 1)))})
    return out


def _null_tables(rng, row: dict, experiments: int, seeds: int = S) -> np.ndarray:
    """(experiments, seeds, episodes) differences with a true mean 0 over new seeds and new episodes: a normal seed
    effect, algorithm x episode effects resampled from the row's own (new episodes each experiment), and residual
    noise resampled from its residuals (the accuracies' own discrete, skewed shape)."""
    e = len(row["episode_effects"])
    seed = rng.normal(0, math.sqrt(row["var_seed"]), (experiments, seeds, 1))
    episode = rng.choice(row["episode_effects"], (experiments, 1, e))
    noise = rng.choice(row["resid"], (experiments, seeds, e))
    return seed + episode + noise


def test_the_estimand_s_interval_and_p_keep_their_rates_at_the_committed_tables_components():
    """For the stated question (new training seeds and new test episodes), the closed-form two-level interval and its
    p, which share one standard error, reject a true null in at most 5.5% and cover the truth in at least 94%, pooled
    over every comparison of the committed table (26 rows x 1,000 null experiments; binomial SE 0.14 pp); the seed-level t over the same
    data, the earlier p, rejects more often: it ignores the episodes' variance."""
    rng = np.random.default_rng(31)
    rejected, old, n = 0, 0, 0
    for row in committed_rows():
        for d in _null_tables(rng, row, 1000):
            c = stats.two_level(d, np.zeros_like(d))
            assert (c.p < 0.05) == (not c.lo <= 0 <= c.hi)  # one estimand: p and interval never disagree
            rejected += c.p < 0.05
            old += stats.paired_t_p(d.mean(1)) < 0.05
            n += 1
    assert rejected / n <= 0.055 and 1 - rejected / n >= 0.94, rejected / n
    assert old / n > 0.06 and old > rejected * 1.2, (old / n, rejected / n)


def test_the_closed_form_standard_error_is_the_two_way_anova_estimate():
    """Against an independent formula: the mean of a seeds x episodes matrix under d = a_s + b_e + e_se has variance
    var(a)/S + var(b)/E + var(e)/(S E); with known components, the estimate averaged over many tables matches it."""
    rng = np.random.default_rng(5)
    va, vb, ve, s, e = 0.3, 2.0, 9.0, 5, 200
    est = []
    for _ in range(3000):
        d = rng.normal(0, math.sqrt(va), (s, 1)) + rng.normal(0, math.sqrt(vb), (1, e)) + rng.normal(0, math.sqrt(ve), (s, e))
        sp = stats.two_level_spread(d)
        est.append(sp.se(s) ** 2)
    assert np.mean(est) == pytest.approx(va / s + vb / e + ve / (s * e), rel=0.03)


@pytest.mark.parametrize("alpha", [0.05, 0.05 / 13])
def test_the_degrees_of_freedom_keep_the_level_where_the_seed_variance_is_estimated_small(alpha):
    """Seed means (variance 1) plus a known episode part (a share of one seed's variance), 5 seeds: with the seed
    variance at its upper 90% bound in the degrees of freedom the test keeps its level at 0.05 and at a Bonferroni
    level (the plain Satterthwaite rule: up to 2.5x at 0.05/13); 400,000 null experiments per share."""
    rng = np.random.default_rng(7)
    n = 5
    for ratio in (0.0, 0.02, 0.05, 0.1, 0.5, 2.0):
        m = rng.standard_normal((400_000, n))
        shared = rng.standard_normal(len(m)) * math.sqrt(ratio)
        a = m.var(1, ddof=1) / n
        p = 2 * sps.t.sf(np.abs(m.mean(1) + shared) / np.sqrt(a + ratio), stats.seeds_df(a, ratio, n))
        assert np.mean(p < alpha) <= 1.1 * alpha, ratio


def test_detectable_is_finite_or_inf_even_below_one_degree_of_freedom():
    """3 test episodes give the episodes' variance a fraction of a degree of freedom (a run of the README's plugin
    walk-through: df 0.46): the detectable difference is searched beyond a thousand standard errors, never an error."""
    spread = stats.Spread(1.78, 2.96, 0.0606)
    d = stats.detectable(spread, 3, alpha=0.025)
    assert spread.df(3) < 1 and (d == math.inf or stats.power(d, spread, 3, 0.025) == pytest.approx(0.8, abs=1e-6))
