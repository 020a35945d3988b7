"""Known answers for ANCOVA, estimated marginal means and adjusted contrasts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes import ancova
from mentor_eval.outcomes.effectsize import hedges_j

DATA = Path(__file__).parent / "data"
GL_X, GL_W = np.polynomial.legendre.leggauss(120)


def _fiber_long():
    fiber = pd.read_csv(DATA / "outcomes_fiber.csv")
    ids = [f"m{i}" for i in range(len(fiber))]
    pre = pd.DataFrame({"participant_id": ids, "arm": fiber["machine"], "wave": "baseline",
                        "score": fiber["diameter"].astype(float)})
    post = pre.assign(wave="post", score=fiber["strength"].astype(float))
    return pd.concat([pre, post], ignore_index=True)


# A small study written out in full: 3 arms, numeric covariate age, unbalanced factor gender
SMALL = pd.DataFrame(
    {
        "participant_id": [f"s{i}" for i in range(18)],
        "arm": ["ctrl"] * 6 + ["nw"] * 6 + ["sc"] * 6,
        "pre": [10, 12, 9, 14, 11, 13, 12, 10, 15, 11, 13, 9, 8, 14, 12, 10, 11, 13],
        "post": [11, 13, 9, 15, 12, 12, 15, 13, 18, 13, 16, 12, 10, 15, 14, 13, 12, 16],
        "age": [14, 15, 13, 16, 15, 14, 13, 16, 15, 14, 17, 13, 15, 16, 14, 13, 15, 17],
        "gender": ["f", "f", "m", "f", "m", "f", "m", "m", "f", "m", "m", "f", "f", "f", "m", "f", "f", "m"],
    }
)


def _small_long(frame=SMALL):
    base = frame[["participant_id", "arm", "age", "gender"]]
    pre = base.assign(wave="baseline", score=frame["pre"].astype(float))
    post = base.assign(wave="post", score=frame["post"].astype(float))
    return pd.concat([pre, post], ignore_index=True)


def test_fiber_matches_emmeans_documentation():
    res = ancova(_fiber_long(), adjust={"control": "dunnett", "pairwise": "tukey"})
    emm = res.emmeans.set_index("arm")
    # emmeans(lm(strength ~ diameter + machine, fiber), "machine")
    np.testing.assert_array_equal(emm["estimate"].round(2).to_numpy(), [40.38, 41.42, 38.80])
    np.testing.assert_array_equal(emm["se"].round(3).to_numpy(), [0.724, 0.744, 0.788])
    assert (emm["df"] == 11).all() and (emm["n"] == 5).all()
    pw = res.contrasts.query("family == 'pairwise'").set_index("contrast")
    # pairs(emm): A - B -1.04 (1.01) t -1.024 p .5781; A - C 1.58 (1.11) 1.431 .3596; B - C 2.62 (1.15) 2.283 .1005
    np.testing.assert_array_equal(pw["t"].round(3).to_numpy(), [-1.024, 1.431, 2.283])
    np.testing.assert_allclose(pw["p_adj"].to_numpy(), [0.5781, 0.3596, 0.1005], atol=5e-5)
    # Montgomery's ANCOVA table: machines adjusted SS 13.28 on 2 df, F = 2.61, P = 0.118
    an = res.anova.set_index("term")
    assert round(an.loc["arm", "sum_sq"], 2) == 13.28 and round(an.loc["arm", "F"], 2) == 2.61
    assert round(an.loc["arm", "p"], 3) == 0.118
    assert round(an.loc["Residuals", "sum_sq"], 2) == 27.99


def test_fiber_tukey_against_independent_studentized_range_integral():
    res = ancova(_fiber_long(), contrasts="pairwise", adjust="tukey")
    df, k = 11, 3

    def ptukey_upper(q):
        # P(range of k N(0,1) / S > q), S^2 ~ chi2(df)/df; Gauss-Legendre in z and s
        z = 8 * GL_X
        inner_w = 8 * GL_W

        def p_range_below(w):
            return k * np.sum(inner_w * stats.norm.pdf(z) * (stats.norm.cdf(z) - stats.norm.cdf(z - w)) ** (k - 1))

        s_hi = np.sqrt(stats.chi2.isf(1e-15, df) / df)
        s = 0.5 * s_hi * (GL_X + 1)
        dens = 2 * s * df * stats.chi2.pdf(df * s**2, df)
        vals = np.array([p_range_below(q * si) for si in s])
        return 1 - 0.5 * s_hi * np.sum(GL_W * dens * vals)

    for _, row in res.contrasts.iterrows():
        assert row["p_adj"] == pytest.approx(ptukey_upper(abs(row["t"]) * np.sqrt(2)), abs=2e-6)


def _hand_fit(frame, hc3=False):
    """Independent linear algebra: different column order, explicit inverse."""
    n = len(frame)
    arm_nw = (frame["arm"] == "nw").to_numpy(float)
    arm_sc = (frame["arm"] == "sc").to_numpy(float)
    male = (frame["gender"] == "m").to_numpy(float)
    x = np.column_stack([arm_nw, arm_sc, np.ones(n), frame["pre"], frame["age"], male]).astype(float)
    y = frame["post"].to_numpy(float)
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    e = y - x @ beta
    df = n - x.shape[1]
    if hc3:
        h = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
        v = xtx_inv @ x.T @ np.diag(e**2 / (1 - h) ** 2) @ x @ xtx_inv
    else:
        v = (e @ e / df) * xtx_inv
    base = [0.0, 0.0, 1.0, frame["pre"].mean(), frame["age"].mean(), 0.5]  # gender: equal weights
    grid = {"ctrl": np.array(base), "nw": np.array(base), "sc": np.array(base)}
    grid["nw"][0] = 1.0
    grid["sc"][1] = 1.0
    emm = {a: (L @ beta, np.sqrt(L @ v @ L)) for a, L in grid.items()}
    con = {(a, b): ((grid[a] - grid[b]) @ beta, np.sqrt((grid[a] - grid[b]) @ v @ (grid[a] - grid[b])))
           for a, b in [("nw", "ctrl"), ("sc", "ctrl"), ("ctrl", "nw"), ("ctrl", "sc"), ("nw", "sc")]}
    return emm, con, df


@pytest.mark.parametrize("hc3", [False, True])
def test_emmeans_and_contrasts_equal_hand_linear_algebra(hc3):
    res = ancova(_small_long(), covariates=["age", "gender"], control="ctrl", hc3=hc3, adjust="none")
    emm, con, df = _hand_fit(SMALL, hc3=hc3)
    got = res.emmeans.set_index("arm")
    for a, (est, se) in emm.items():
        assert got.loc[a, "estimate"] == pytest.approx(est, abs=1e-10)
        assert got.loc[a, "se"] == pytest.approx(se, abs=1e-10)
        assert got.loc[a, "df"] == df
    c = res.contrasts.set_index(["arm", "reference"])
    for (a, b), (est, se) in con.items():
        assert c.loc[(a, b), "estimate"] == pytest.approx(est, abs=1e-10)
        assert c.loc[(a, b), "se"] == pytest.approx(se, abs=1e-10)
        t = est / se
        assert c.loc[(a, b), "p"] == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9)
    # factor covariate averaged with equal weights, not by its sample proportion (10 f / 8 m)
    assert SMALL["gender"].eq("m").mean() != 0.5


def test_coefficients_and_anova_match_statsmodels():
    res = ancova(_small_long(), covariates=["age", "gender"], control="ctrl")
    fit = smf.ols("post ~ pre + C(arm) + age + C(gender)", SMALL).fit()
    coef = res.coefficients.set_index("term")
    mapping = {"(Intercept)": "Intercept", "pre": "pre", "arm[T.nw]": "C(arm)[T.nw]",
               "arm[T.sc]": "C(arm)[T.sc]", "age": "age", "gender[T.m]": "C(gender)[T.m]"}
    for ours, theirs in mapping.items():
        assert coef.loc[ours, "estimate"] == pytest.approx(fit.params[theirs], abs=1e-10)
        assert coef.loc[ours, "se"] == pytest.approx(fit.bse[theirs], abs=1e-10)
    table = sm.stats.anova_lm(fit, typ=2)
    an = res.anova.set_index("term")
    assert an.loc["arm", "sum_sq"] == pytest.approx(table.loc["C(arm)", "sum_sq"], rel=1e-9)
    assert an.loc["arm", "F"] == pytest.approx(table.loc["C(arm)", "F"], rel=1e-9)
    assert an.loc["gender", "p"] == pytest.approx(table.loc["C(gender)", "PR(>F)"], rel=1e-9)
    robust = ancova(_small_long(), covariates=["age", "gender"], control="ctrl", hc3=True)
    fit3 = smf.ols("post ~ pre + C(arm) + age + C(gender)", SMALL).fit(cov_type="HC3")
    assert robust.coefficients.set_index("term").loc["arm[T.sc]", "se"] == pytest.approx(
        fit3.bse["C(arm)[T.sc]"], rel=1e-10)


def _bivariate_t_box(c, rho, df):
    """P(|T1| < c, |T2| < c) for a bivariate t by nested Gauss-Legendre quadrature."""
    s_hi = np.sqrt(stats.chi2.isf(1e-15, df) / df)
    s = 0.5 * s_hi * (GL_X + 1)
    dens = 2 * s * df * stats.chi2.pdf(df * s**2, df)
    r = np.sqrt(1 - rho**2)
    vals = []
    for si in s:
        a = c * si
        z = a * GL_X
        inner = stats.norm.pdf(z) * (stats.norm.cdf((a - rho * z) / r) - stats.norm.cdf((-a - rho * z) / r))
        vals.append(a * np.sum(GL_W * inner))
    return 0.5 * s_hi * np.sum(GL_W * dens * np.array(vals))


def test_dunnett_against_brute_force_bivariate_t():
    res = ancova(_small_long(), covariates=["age"], control="ctrl", contrasts="control", adjust="dunnett")
    con = res.contrasts
    assert list(con["contrast"]) == ["nw - ctrl", "sc - ctrl"]
    # correlation of the two contrasts from the hand fit's covariance
    frame = SMALL
    n = len(frame)
    x = np.column_stack([np.ones(n), frame["pre"], (frame["arm"] == "nw"), (frame["arm"] == "sc"),
                         frame["age"]]).astype(float)
    xtx_inv = np.linalg.inv(x.T @ x)
    cov = xtx_inv[2:4, 2:4]
    rho = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    df = n - 5
    for _, row in con.iterrows():
        expected = 1 - _bivariate_t_box(abs(row["t"]), rho, df)
        assert row["p_adj"] == pytest.approx(expected, abs=2e-5)
        assert row["p_adj"] > row["p"]
    crit = (con["ci_high_adj"] - con["estimate"]) / con["se"]
    assert _bivariate_t_box(crit.iloc[0], rho, df) == pytest.approx(0.95, abs=2e-5)


def test_single_contrast_dunnett_is_the_t_test():
    two = _small_long(SMALL[SMALL["arm"] != "sc"])
    res = ancova(two, control="ctrl", contrasts="control", adjust="dunnett")
    row = res.contrasts.iloc[0]
    assert row["p_adj"] == pytest.approx(row["p"], rel=1e-12)
    assert row["ci_low_adj"] == pytest.approx(row["ci_low"], rel=1e-12)


def test_holm_bonferroni_intervals_and_hedges_g():
    res = ancova(_small_long(), control="ctrl", contrasts=("control",), adjust="holm")
    con = res.contrasts.set_index("arm")
    p = con["p"].sort_values()
    assert con.loc[p.index[0], "p_adj"] == pytest.approx(min(1, 2 * p.iloc[0]))
    assert set(con["adjust"]) == {"holm"} and set(con["family"]) == {"vs control"}
    df = con["df"].iloc[0]
    bonf = stats.t.ppf(1 - 0.05 / 4, df)
    assert con.loc["nw", "ci_high_adj"] == pytest.approx(con.loc["nw", "estimate"] + bonf * con.loc["nw", "se"])
    # g: adjusted difference / pooled unadjusted post SD of the two arms, times J(n1 + n2 - 2)
    post_nw = SMALL.loc[SMALL.arm == "nw", "post"]
    post_c = SMALL.loc[SMALL.arm == "ctrl", "post"]
    sp = np.sqrt((5 * post_nw.var() + 5 * post_c.var()) / 10)
    assert con.loc["nw", "standardizer"] == pytest.approx(sp)
    assert con.loc["nw", "g"] == pytest.approx(hedges_j(10) * con.loc["nw", "estimate"] / sp)
    assert con.loc["nw", "g_ci_low"] < con.loc["nw", "g"] < con.loc["nw", "g_ci_high"]


def test_complete_cases_and_exclusion_counts():
    long = _small_long()
    long.loc[(long.participant_id == "s0") & (long.wave == "post"), "score"] = np.nan
    long.loc[(long.participant_id == "s1") & (long.wave == "baseline"), "score"] = np.nan
    long.loc[long.participant_id == "s2", "age"] = np.nan
    long = long[~((long.participant_id == "s3") & (long.wave == "post"))]
    res = ancova(long, covariates=["age"], control="ctrl")
    info = res.info.set_index("reason")["n"]
    assert info["complete pre, post and covariates"] == 14
    assert info["no baseline score"] == 1 and info["no post score"] == 2
    assert info["missing covariate 'age'"] == 1
    assert res.emmeans.set_index("arm").loc["ctrl", "n"] == 2


def test_multiple_outcomes_fit_separately():
    a = _small_long().assign(outcome="hope")
    b = _small_long().assign(outcome="belonging", score=lambda d: d["score"] * 2)
    res = ancova(pd.concat([a, b]), control="ctrl")
    emm = res.emmeans.set_index(["outcome", "arm"])
    assert emm.loc[("belonging", "nw"), "estimate"] == pytest.approx(2 * emm.loc[("hope", "nw"), "estimate"])
    assert set(res.contrasts["outcome"]) == {"hope", "belonging"}


def test_edge_cases_have_clear_messages():
    long = _small_long()
    with pytest.raises(ParameterError, match="names arm 'waitlist'"):
        ancova(long, control="waitlist")
    no_ctrl = long.copy()
    no_ctrl.loc[(no_ctrl.arm == "ctrl") & (no_ctrl.wave == "post"), "score"] = np.nan
    with pytest.raises(AnalysisError, match="control arm 'ctrl' has no participant"):
        ancova(no_ctrl, control="ctrl")
    tiny = long[~long.participant_id.isin(["s13", "s14", "s15", "s16", "s17"])]
    with pytest.raises(AnalysisError, match="fewer than 2"):
        ancova(tiny, control="ctrl")
    with pytest.raises(AnalysisError, match="at least two arms"):
        ancova(long[long.arm == "nw"])
    with pytest.raises(AnalysisError, match="single value"):
        ancova(long.assign(site="x"), covariates=["site"])
    with pytest.raises(AnalysisError, match="rank deficient"):
        ancova(long.assign(age2=long["age"] * 2.0), covariates=["age", "age2"])
    with pytest.raises(ParameterError, match="'adjust' parameter of ancova"):
        ancova(long, adjust="tukey")
    with pytest.raises(ParameterError, match="'contrasts' parameter"):
        ancova(long, contrasts=("all",))
    with pytest.raises(ParameterError, match="'covariates' parameter"):
        ancova(long, covariates=["score"])
