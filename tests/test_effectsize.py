"""Known answers for standardized mean differences and their noncentral-t intervals."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes import effect_size
from mentor_eval.outcomes.effectsize import (
    effect_size_from_stats,
    hedges_j,
    noncentral_t_ci,
    paired_effect_size_from_stats,
)

# mtcars$mpg by transmission (am = 0 automatic, am = 1 manual), R datasets
MPG_AUTO = [21.4, 18.7, 18.1, 14.3, 24.4, 22.8, 19.2, 17.8, 16.4, 17.3, 15.2, 10.4, 10.4, 14.7, 21.5,
            15.5, 15.2, 13.3, 19.2]
MPG_MANUAL = [21.0, 21.0, 22.8, 32.4, 30.4, 33.9, 27.3, 26.0, 30.4, 15.8, 19.7, 15.0, 21.4]

# Lakens (2013, Front. Psychol. 4:863), Table 1: ten ratings of two movies
MOVIE1 = [9, 7, 8, 9, 8, 9, 9, 10, 9, 9]
MOVIE2 = [9, 6, 7, 8, 7, 9, 8, 8, 8, 7]


def _by(res, kind):
    return res.set_index("kind").loc[kind]


def test_published_mtcars_effectsize_package():
    # effectsize docs: cohens_d(mpg ~ am, data = mtcars) -> -1.48 [-2.27, -0.67];
    # hedges_g(...) -> -1.44 [-2.21, -0.65]
    res = effect_size(MPG_AUTO, MPG_MANUAL)
    d, g = _by(res, "d"), _by(res, "g")
    assert round(d["estimate"], 2) == -1.48
    assert (round(d["ci_low"], 2), round(d["ci_high"], 2)) == (-2.27, -0.67)
    assert round(g["estimate"], 2) == -1.44
    assert (round(g["ci_low"], 2), round(g["ci_high"], 2)) == (-2.21, -0.65)
    assert d["n1"] == 19 and d["n2"] == 13 and d["df"] == 30


def test_published_lakens_2013():
    # Lakens reports d_s = 1.13, g_s = 1.08, t(18) = 2.52, d_z = 1.50 for these data
    ind = effect_size(MOVIE1, MOVIE2)
    assert round(_by(ind, "d")["estimate"], 2) == 1.13
    assert round(_by(ind, "g")["estimate"], 2) == 1.08
    assert round(_by(ind, "d")["t"], 2) == 2.52
    par = effect_size(MOVIE1, MOVIE2, paired=True)
    assert round(_by(par, "d_z")["estimate"], 2) == 1.50


def test_hand_computed_independent():
    x, y = [5, 6, 7, 8], [3, 4, 5, 6]
    # means 6.5 and 4.5, both variances 5/3, pooled SD sqrt(5/3)
    d = 2 / math.sqrt(5 / 3)
    j = math.gamma(3) / (math.sqrt(3) * math.gamma(2.5))  # df = 6
    res = effect_size(x, y)
    assert _by(res, "d")["estimate"] == pytest.approx(d, rel=1e-12)
    assert _by(res, "g")["estimate"] == pytest.approx(j * d, rel=1e-12)
    se_d = math.sqrt(8 / 16 + d**2 / 16)
    assert _by(res, "d")["se"] == pytest.approx(se_d, rel=1e-12)
    t = d * math.sqrt(16 / 8)
    assert _by(res, "d")["p"] == pytest.approx(2 * stats.t.sf(t, 6), rel=1e-12)
    # the g interval is the d interval times J
    assert _by(res, "g")["ci_low"] == pytest.approx(j * _by(res, "d")["ci_low"], rel=1e-12)
    assert _by(res, "d")["ci_method"] == "nct-exact"


def test_hand_computed_paired():
    x, y = np.array([3.0, 5, 6, 9, 7]), np.array([2.0, 3, 6, 6, 4])
    diff = x - y
    dz = diff.mean() / diff.std(ddof=1)
    sav = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
    jn = math.exp(math.lgamma(2) - math.lgamma(1.5)) / math.sqrt(2)  # J(4)
    res = effect_size(x, y, paired=True, kind=["d_z", "g_z", "d_av", "g_av"], ci_method="normal")
    assert _by(res, "d_z")["estimate"] == pytest.approx(dz, rel=1e-12)
    assert _by(res, "g_z")["estimate"] == pytest.approx(jn * dz, rel=1e-12)
    assert _by(res, "d_av")["estimate"] == pytest.approx(diff.mean() / sav, rel=1e-12)
    assert _by(res, "g_av")["estimate"] == pytest.approx(jn * diff.mean() / sav, rel=1e-12)
    # R effectsize::repeated_measures_d(method = "av"): d +- z * sd(diff) / sqrt(n) / s_av, times J
    se = diff.std(ddof=1) / math.sqrt(5) / sav
    z = stats.norm.ppf(0.975)
    assert _by(res, "g_av")["ci_low"] == pytest.approx(jn * (diff.mean() / sav - z * se), rel=1e-12)
    assert _by(res, "d_av")["ci_method"] == "normal (Algina-Keselman SE)"
    assert _by(res, "d_z")["p"] == pytest.approx(stats.ttest_rel(x, y).pvalue, rel=1e-10)


def test_hedges_j_exact():
    for df in (2, 5, 30, 200):
        exact = math.gamma(df / 2) / (math.sqrt(df / 2) * math.gamma((df - 1) / 2)) if df < 150 else None
        if exact is not None:
            assert hedges_j(df) == pytest.approx(exact, rel=1e-12)
        assert abs(hedges_j(df) - (1 - 3 / (4 * df - 1))) < 0.02 / df
    assert np.isnan(hedges_j(1))


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(200)


def _nct_cdf_brute(t, df, ncp):
    """P(T <= t) for T = (Z + ncp) / S, S = sqrt(V/df), V ~ chi2(df), by Gauss-Legendre over S.

    Independent of scipy's noncentral t: integrates Phi(t*s - ncp) against the density of S
    on 40 panels covering all but ~1e-15 of its mass.
    """
    hi = stats.chi2.isf(1e-16, df)
    edges = np.sqrt(np.linspace(0.0, hi, 41) / df)
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        s = 0.5 * (b - a) * _NODES + 0.5 * (a + b)
        dens = 2 * s * df * stats.chi2.pdf(df * s**2, df)
        total += 0.5 * (b - a) * np.sum(_WEIGHTS * stats.norm.cdf(t * s - ncp) * dens)
    return total


@pytest.mark.parametrize(("t", "df"), [(2.5, 18), (-1.2, 5), (0.3, 40), (6.0, 9)])
def test_noncentral_inversion_matches_brute_force(t, df):
    lo, hi = noncentral_t_ci(t, df, 0.95)
    blo = optimize.brentq(lambda m: _nct_cdf_brute(t, df, m) - 0.975, t - 20, t + 20, xtol=1e-12)
    bhi = optimize.brentq(lambda m: _nct_cdf_brute(t, df, m) - 0.025, t - 20, t + 20, xtol=1e-12)
    assert lo[0] == pytest.approx(blo, abs=1e-7)
    assert hi[0] == pytest.approx(bhi, abs=1e-7)


def test_dav_nct_interval_is_scaled_dz_interval():
    x, y = np.array([3.0, 5, 6, 9, 7, 4]), np.array([2.0, 3, 6, 6, 4, 4])
    res = effect_size(x, y, paired=True, kind=["d_z", "d_av"])
    diff = x - y
    ratio = diff.std(ddof=1) / math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
    assert _by(res, "d_av")["ci_low"] == pytest.approx(_by(res, "d_z")["ci_low"] * ratio, rel=1e-12)
    assert _by(res, "d_av")["ci_method"].startswith("nct-approx")


def test_vectorised_stats_helpers_agree_with_raw_data():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.5, 1, 25), rng.normal(0, 1.3, 31)
    raw = _by(effect_size(a, b), "g")
    vec = effect_size_from_stats([a.mean(), 0.0], [a.std(ddof=1), 1.0], [25, 1], [b.mean(), 0.0],
                                 [b.std(ddof=1), 1.0], [31, 5], kind="g")
    assert vec["estimate"].iloc[0] == pytest.approx(raw["estimate"], rel=1e-12)
    assert vec["ci_high"].iloc[0] == pytest.approx(raw["ci_high"], rel=1e-12)
    assert np.isnan(vec["estimate"].iloc[1])  # n1 = 1: not computable, no exception
    pz = paired_effect_size_from_stats([0.4, 0.1], [1.0, 0.0], [10, 10], kind="d_z")
    assert pz["estimate"].iloc[0] == pytest.approx(0.4) and np.isnan(pz["estimate"].iloc[1])


def test_missing_values_are_dropped_and_counted():
    x = pd.Series([1, 2, None, 4, 5], dtype="Int64")
    y = [2.0, 2.5, 3.0, np.nan, 4.0]
    ind = effect_size(x, y, kind="d")
    assert ind["n1"].iloc[0] == 4 and ind["n2"].iloc[0] == 4 and ind["n_missing"].iloc[0] == 2
    par = effect_size(x, y, paired=True, kind="d_z")
    assert par["n"].iloc[0] == 3 and par["n_missing"].iloc[0] == 2
    expected = effect_size([1, 2, 5], [2.0, 2.5, 4.0], paired=True, kind="d_z")
    assert par["estimate"].iloc[0] == pytest.approx(expected["estimate"].iloc[0])


def test_one_sample_of_differences():
    d = [0.5, 1.0, -0.2, 0.8]
    res = effect_size(d)
    assert list(res["kind"]) == ["d_z", "g_z"]
    assert res["estimate"].iloc[0] == pytest.approx(np.mean(d) / np.std(d, ddof=1))


def test_errors_are_clear():
    with pytest.raises(AnalysisError, match="at least 2 non-missing values in each group"):
        effect_size([1.0], [2.0, 3.0])
    with pytest.raises(AnalysisError, match="SD = 0"):
        effect_size([1.0, 1.0], [2.0, 2.0])
    with pytest.raises(AnalysisError, match="same difference"):
        effect_size([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], paired=True)
    with pytest.raises(ParameterError, match="same length"):
        effect_size([1.0, 2.0], [1.0], paired=True)
    with pytest.raises(ParameterError, match="'kind' parameter of effect_size"):
        effect_size([1.0, 2.0], [1.0, 3.0], kind="d_z")
    with pytest.raises(ParameterError, match="numbers only"):
        effect_size(["a", "b"], [1.0, 2.0])
    with pytest.raises(ParameterError, match="'ci_level' parameter"):
        effect_size([1.0, 2.0], [1.0, 3.0], ci_level=95)
