"""Clustered and partially nested ANCOVA: CR2 + Satterthwaite (clubSandwich) and the partially
nested REML model (lme4/lmerTest) against stored R values, and the bad-input rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes import ancova
from mentor_eval.outcomes.clustered import cluster_codes, cr2_fit

HERE = Path(__file__).parent / "data" / "partially_nested"
def _lists(obj):
    """R's jsonlite unboxes length-1 vectors; make every leaf a list again."""
    if isinstance(obj, dict):
        return {k: _lists(v) for k, v in obj.items()}
    return obj if isinstance(obj, list) else [obj]


EXPECTED = _lists(json.loads((HERE / "expected.json").read_text()))
# our term order (arm dummies before covariates) -> R's (covariates first)
R_TERMS = {"(Intercept)": "(Intercept)", "pre": "pre", "age": "age", "arm[T.group]": "armgroup",
           "arm[T.mentor]": "armmentor"}


def _long(frame: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
    base = frame[["participant_id", "arm", *extra]]
    return pd.concat([base.assign(wave="baseline", score=frame["pre"]),
                      base.assign(wave="post", score=frame["post"])], ignore_index=True)


@pytest.fixture(scope="module")
def partial() -> pd.DataFrame:
    return _long(pd.read_csv(HERE / "data.csv"), ["mentor_id", "group_id", "age"])


@pytest.fixture(scope="module")
def full() -> pd.DataFrame:
    return _long(pd.read_csv(HERE / "fully_nested.csv"), ["mentor_id"])


@pytest.fixture(scope="module")
def fits(partial):
    kw = dict(covariates=["age"], control="control", clusters=["mentor_id", "group_id"], adjust="none")
    out = {m: ancova(partial, cluster_method=m, **kw) for m in ("mixed", "none")}
    out["cr2"] = ancova(partial, cluster_method="cr2", cr2_working_model="identity", **kw)  # clubSandwich's lm default
    out["cr2_ri"] = ancova(partial, cluster_method="cr2", **kw)  # the REML random intercepts as working model
    return out


def _by_r_term(coef: pd.DataFrame) -> pd.DataFrame:
    return coef.assign(r=coef["term"].map(R_TERMS)).set_index("r")


# ------------------------------------------------------------------ CR2 against clubSandwich
def test_cr2_coefficients_match_clubsandwich(fits):
    ref = EXPECTED["partially_nested"]["coef"]
    coef = _by_r_term(fits["cr2"].coefficients).loc[ref["term"]]
    np.testing.assert_allclose(coef["estimate"], ref["estimate"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(coef["se"], ref["se"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(coef["df"], ref["df"], rtol=1e-8)
    np.testing.assert_allclose(coef["p"], ref["p"], rtol=1e-7)
    assert (coef["vcov"] == "CR2").all()


def test_cr2_arm_test_is_clubsandwich_htz(fits):
    ref = EXPECTED["partially_nested"]["wald_arm"]
    an = fits["cr2"].anova.set_index("term")
    assert an.loc["arm", "F"] == pytest.approx(ref["F"][0], rel=1e-9)
    assert an.loc["arm", "df_denom"] == pytest.approx(ref["df_denom"][0], rel=1e-9)
    assert an.loc["arm", "p"] == pytest.approx(ref["p"][0], rel=1e-8)
    assert an.loc["arm", "test"] == "Wald F (CR2)"
    # one-df terms: the squared Satterthwaite t test
    coef = fits["cr2"].coefficients.set_index("term")
    assert an.loc["pre", "F"] == pytest.approx(coef.loc["pre", "t"] ** 2, rel=1e-10)
    assert an.loc["pre", "df_denom"] == pytest.approx(coef.loc["pre", "df"], rel=1e-10)


def test_cr2_emmeans_and_contrasts_match_linear_contrast(fits):
    ref = EXPECTED["partially_nested"]
    emm = fits["cr2"].emmeans.set_index("arm").loc[["control", "group", "mentor"]]
    np.testing.assert_allclose(emm["estimate"], ref["emmeans"]["estimate"], atol=1e-9)
    np.testing.assert_allclose(emm["se"], ref["emmeans"]["se"], rtol=1e-8)
    np.testing.assert_allclose(emm["df"], ref["emmeans"]["df"], rtol=1e-8)
    # the clustered arms' adjusted means are less precise than OLS claims
    assert (emm.loc[["group", "mentor"], "se"] > 1.5 * emm.loc[["group", "mentor"], "se_unclustered"]).all()
    con = fits["cr2"].contrasts.set_index("contrast").loc[ref["contrasts"]["name"]]
    np.testing.assert_allclose(con["estimate"], ref["contrasts"]["estimate"], atol=1e-9)
    np.testing.assert_allclose(con["se"], ref["contrasts"]["se"], rtol=1e-8)
    np.testing.assert_allclose(con["df"], ref["contrasts"]["df"], rtol=1e-8)
    np.testing.assert_allclose(con["p"], ref["contrasts"]["p"], rtol=1e-7)
    assert (con["cluster_method"] == "cr2").all()
    # se_unclustered is the classical OLS SE of the same contrast
    ols = fits["none"].contrasts.set_index("contrast").loc[ref["contrasts"]["name"]]
    np.testing.assert_allclose(con["se_unclustered"], ols["se"], rtol=1e-10)
    np.testing.assert_allclose(_by_r_term(fits["none"].coefficients).loc[ref["coef"]["term"], "se"],
                               ref["se_ols"], rtol=1e-9)


def test_cr2_fully_nested_matches_clubsandwich(full):
    ref = EXPECTED["fully_nested"]
    res = ancova(full, control="control", clusters=["mentor_id"], cluster_method="cr2", contrasts="control",
                 cr2_working_model="identity")
    coef = res.coefficients.set_index("term").loc[["(Intercept)", "pre", "arm[T.mentor]"]]
    np.testing.assert_allclose(coef["se"], ref["coef"]["se"], rtol=1e-8)
    np.testing.assert_allclose(coef["df"], ref["coef"]["df"], rtol=1e-8)
    con = res.contrasts.iloc[0]
    assert con["se"] == pytest.approx(ref["contrasts"]["se"][0], rel=1e-8)
    assert con["df"] == pytest.approx(ref["contrasts"]["df"][0], rel=1e-8)
    emm = res.emmeans.set_index("arm").loc[["control", "mentor"]]
    np.testing.assert_allclose(emm["se"], ref["emmeans"]["se"], rtol=1e-8)
    np.testing.assert_allclose(emm["df"], ref["emmeans"]["df"], rtol=1e-8)


def test_cr2_random_intercept_working_model_matches_clubsandwich_target(partial, fits):
    """CR2 with the REML random intercepts as working covariance (clubSandwich ``target = Phi``)."""
    ref = EXPECTED["partially_nested"]["cr2_target"]
    var = EXPECTED["partially_nested"]["mixed"]["var"]
    # exact algebra: cr2_fit with R's variance components
    d = pd.read_csv(HERE / "data.csv")
    d["arm"] = pd.Categorical(d["arm"], ["control", "group", "mentor"])
    x = np.column_stack([np.ones(len(d)), d["pre"], d["age"], d["arm"] == "group", d["arm"] == "mentor"]).astype(float)
    key = d["mentor_id"].fillna(d["group_id"]).fillna(d["participant_id"])
    from mentor_eval.outcomes.clustered import WorkingCovariance

    def codes(col):
        return np.where(d[col].notna(), pd.factorize(d[col])[0], -1)

    target = WorkingCovariance(var["residual"][0], ((var["mentor"][0], codes("mentor_id")),
                                                    (var["group"][0], codes("group_id"))))
    fit = cr2_fit(x, d["post"].to_numpy(float), cluster_codes(key), target=target)
    assert fit.working_model == "random intercepts"
    np.testing.assert_allclose(fit.se, ref["coef"]["se"], rtol=1e-8)
    np.testing.assert_allclose(fit.satterthwaite_df(np.eye(5)), ref["coef"]["df"], rtol=1e-8)
    C = np.zeros((2, 5))
    C[0, 3] = C[1, 4] = 1.0
    w = fit.wald_test(C)
    assert w["F"] == pytest.approx(ref["wald_arm"]["F"][0], rel=1e-8)
    assert w["df_denom"] == pytest.approx(ref["wald_arm"]["df_denom"][0], rel=1e-8)
    assert w["p"] == pytest.approx(ref["wald_arm"]["p"][0], rel=1e-7)
    # through ancova: our own REML variance components (iterative: 1e-3 agreement is the bar;
    # the SEs and df are smooth in the variance ratios)
    res = fits["cr2_ri"]
    coef = _by_r_term(res.coefficients).loc[ref["coef"]["term"]]
    np.testing.assert_allclose(coef["se"], ref["coef"]["se"], rtol=1e-4)
    np.testing.assert_allclose(coef["df"], ref["coef"]["df"], rtol=1e-3)
    assert (coef["vcov"] == "CR2 (random-intercept working model)").all()
    con = res.contrasts.set_index("contrast").loc[ref["contrasts"]["name"]]
    np.testing.assert_allclose(con["se"], ref["contrasts"]["se"], rtol=1e-4)
    np.testing.assert_allclose(con["df"], ref["contrasts"]["df"], rtol=1e-3)
    np.testing.assert_allclose(con["p"], ref["contrasts"]["p"], rtol=1e-3)
    emm = res.emmeans.set_index("arm").loc[["control", "group", "mentor"]]
    np.testing.assert_allclose(emm["se"], ref["emmeans"]["se"], rtol=1e-4)
    np.testing.assert_allclose(emm["df"], ref["emmeans"]["df"], rtol=1e-3)
    an = res.anova.set_index("term")
    assert an.loc["arm", "df_denom"] == pytest.approx(ref["wald_arm"]["df_denom"][0], rel=1e-3)
    # fewer effective df than the identity working model claims for the clustered arms
    ident = fits["cr2"].contrasts.set_index("contrast").loc[ref["contrasts"]["name"]]
    assert (con["df"] < ident["df"]).all()


def test_cr2_working_model_equals_dense_formula_and_falls_back_to_identity():
    rng = np.random.default_rng(3)
    cl = np.r_[np.arange(12) + 100, np.repeat([0, 1, 2], 4), np.repeat([3, 4], 3)]
    n = len(cl)
    treat = (cl < 100).astype(float)
    x = np.column_stack([np.ones(n), treat, rng.normal(size=n)])
    y = rng.normal(size=n) + 0.3 * treat
    mentor = np.where(cl < 100, cl, -1)
    from mentor_eval.outcomes.clustered import WorkingCovariance

    fit = cr2_fit(x, y, cl, target=WorkingCovariance(2.0, ((0.8, mentor),)))
    # clubSandwich's CR2 (inverse_var = FALSE) and Satterthwaite df written out with n x n matrices
    phi = np.eye(n) + 0.4 * ((mentor[:, None] == mentor[None, :]) & (mentor[:, None] >= 0))
    m = np.linalg.inv(x.T @ x)
    ih = np.eye(n) - x @ m @ x.T
    e = ih @ y
    a = np.zeros((n, n))
    for g in np.unique(cl):
        ix = np.flatnonzero(cl == g)
        v = np.linalg.cholesky(phi[np.ix_(ix, ix)]).T
        lam, vec = np.linalg.eigh(v @ (ih[ix] @ phi @ ih[ix].T) @ v.T)
        a[np.ix_(ix, ix)] = v.T @ (vec / np.sqrt(lam)) @ vec.T @ v
    scores = np.array([x[cl == g].T @ a[np.ix_(cl == g, cl == g)] @ e[cl == g] for g in np.unique(cl)])
    np.testing.assert_allclose(fit.vcov, m @ scores.T @ scores @ m, rtol=1e-10)
    c = np.array([0.0, 1.0, 0.0])
    u = np.array([ih[cl == g].T @ (a[np.ix_(cl == g, cl == g)] @ x[cl == g] @ m @ c) for g in np.unique(cl)])
    omega = u @ phi @ u.T
    assert fit.satterthwaite_df(c[None])[0] == pytest.approx(np.trace(omega) ** 2 / np.sum(omega**2), rel=1e-10)
    # the scale of the working model does not matter; zero variances are the identity
    same = cr2_fit(x, y, cl, target=WorkingCovariance(20.0, ((8.0, mentor),)))
    np.testing.assert_allclose(same.vcov, fit.vcov, rtol=1e-10)
    zero = cr2_fit(x, y, cl, target=WorkingCovariance(2.0, ((0.0, mentor),)))
    ident = cr2_fit(x, y, cl)
    assert zero.working_model == "identity"
    np.testing.assert_allclose(zero.vcov, ident.vcov, rtol=1e-12)
    with pytest.raises(AnalysisError, match="residual variance must be positive"):
        cr2_fit(x, y, cl, target=WorkingCovariance(0.0, ((1.0, mentor),)))


def _dense_cr2(x, y, cl):
    """CR2 and its Satterthwaite df by the textbook formulas: loops and the full G x G matrix."""
    m = np.linalg.inv(x.T @ x)
    beta = m @ x.T @ y
    e = y - x @ beta
    labels = list(dict.fromkeys(cl))
    meat = np.zeros((x.shape[1], x.shape[1]))
    a_blocks = {}
    for g in labels:
        i = np.flatnonzero(cl == g)
        ih = np.eye(len(i)) - x[i] @ m @ x[i].T
        lam, vec = np.linalg.eigh(ih)
        a = vec @ np.diag(1 / np.sqrt(lam)) @ vec.T
        a_blocks[g] = (i, a)
        s = x[i].T @ a @ e[i]
        meat += np.outer(s, s)
    v = m @ meat @ m
    ihat = np.eye(len(y)) - x @ m @ x.T

    def df(c):
        p = np.zeros(len(y))
        for i, a in a_blocks.values():
            p[i] = a @ (x[i] @ m @ c)
        omega = np.array([[p[a_blocks[g][0]] @ ihat[np.ix_(a_blocks[g][0], a_blocks[h][0])] @ p[a_blocks[h][0]]
                           for h in labels] for g in labels])
        return np.trace(omega) ** 2 / np.sum(omega**2)

    return beta, v, df


def test_vectorised_cr2_equals_dense_loops_with_mixed_cluster_sizes():
    rng = np.random.default_rng(3)
    sizes = [1] * 40 + [2] * 5 + [3] * 4 + [7, 7, 12, 31, 40]  # 31, 40: the low-rank path
    cl = np.repeat(np.arange(len(sizes)), sizes)
    n = cl.size
    x = np.column_stack([np.ones(n), rng.normal(size=n), (cl % 3 == 0), rng.normal(size=n)])
    y = x @ [1, 0.5, 0.3, -0.2] + rng.normal(size=len(sizes))[cl] + rng.normal(size=n)
    perm = rng.permutation(n)  # rows of a cluster need not be adjacent
    x, y, cl = x[perm], y[perm], cl[perm]
    fit = cr2_fit(x, y, cl)
    beta, v, df = _dense_cr2(x, y, cl)
    np.testing.assert_allclose(fit.beta, beta, atol=1e-10)
    np.testing.assert_allclose(fit.vcov, v, rtol=1e-9, atol=1e-12)
    for c in (np.eye(4)[2], np.eye(4)[1], np.array([0, 1.0, -1.0, 0.5])):
        assert fit.satterthwaite_df(c)[0] == pytest.approx(df(c), rel=1e-9)
    assert fit.n_clusters == len(sizes) and fit.n_singletons == 40


def test_cr2_with_every_cluster_a_singleton_is_hc2():
    rng = np.random.default_rng(4)
    n = 60
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    y = x @ [0.2, 1.0, 0.5] + rng.normal(size=n) * (1 + x[:, 2])
    fit = cr2_fit(x, y, cluster_codes(pd.Series([None] * n)))
    hc2 = sm.OLS(y, x).fit(cov_type="HC2")
    np.testing.assert_allclose(fit.se, hc2.bse, rtol=1e-10)
    assert fit.n_singletons == n


# ------------------------------------------------------------------ mixed against lmerTest
def test_mixed_partially_nested_matches_lmertest(fits):
    ref = EXPECTED["partially_nested"]["mixed"]
    coef = _by_r_term(fits["mixed"].coefficients).loc[ref["coef"]["term"]]
    np.testing.assert_allclose(coef["estimate"], ref["coef"]["estimate"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(coef["se"], ref["coef"]["se"], rtol=1e-5)
    np.testing.assert_allclose(coef["df"], ref["coef"]["df"], rtol=1e-5)
    emm = fits["mixed"].emmeans.set_index("arm").loc[ref["emmeans"]["arm"]]
    np.testing.assert_allclose(emm["estimate"], ref["emmeans"]["estimate"], rtol=1e-6)
    np.testing.assert_allclose(emm["se"], ref["emmeans"]["se"], rtol=1e-5)
    np.testing.assert_allclose(emm["df"], ref["emmeans"]["df"], rtol=1e-5)
    con = fits["mixed"].contrasts.set_index("contrast").loc[ref["contrasts"]["name"]]
    np.testing.assert_allclose(con["estimate"], ref["contrasts"]["estimate"], rtol=1e-5)
    np.testing.assert_allclose(con["se"], ref["contrasts"]["se"], rtol=1e-5)
    np.testing.assert_allclose(con["df"], ref["contrasts"]["df"], rtol=1e-5)
    np.testing.assert_allclose(con["p"], ref["contrasts"]["p"], rtol=1e-5)
    assert (con["cluster_method"] == "mixed").all() and (coef["vcov"] == "REML").all()
    # lmerTest anova(type = 2, ddf = "Satterthwaite"): the 2-df arm test
    an = fits["mixed"].anova.set_index("term")
    ra = EXPECTED["partially_nested"]["mixed_anova"]
    k = ra["term"].index("arm")
    assert an.loc["arm", "F"] == pytest.approx(ra["F"][k], rel=1e-5)
    assert an.loc["arm", "df_denom"] == pytest.approx(ra["df_denom"][k], rel=1e-5)
    assert an.loc["arm", "p"] == pytest.approx(ra["p"][k], rel=1e-5)


def test_icc_table_from_reml_variance_components(fits):
    ref = EXPECTED["partially_nested"]["mixed"]["var"]
    for method in ("cr2", "mixed"):  # the REML variance components are reported whatever the method
        icc = fits[method].icc.set_index("level")
        assert list(fits[method].icc.columns) == ["level", "icc", "variance", "n_clusters", "n_singletons",
                                                  "mean_cluster_size", "method"]
        assert icc.loc["mentor_id", "variance"] == pytest.approx(ref["mentor"][0], rel=1e-5)
        assert icc.loc["group_id", "variance"] == pytest.approx(ref["group"][0], rel=1e-5)
        assert icc.loc["mentor_id", "icc"] == pytest.approx(ref["mentor"][0] / (ref["mentor"][0] + ref["residual"][0]),
                                                            rel=1e-5)
        assert icc.loc["group_id", "icc"] == pytest.approx(ref["group"][0] / (ref["group"][0] + ref["residual"][0]),
                                                           rel=1e-5)
        assert icc.loc["mentor_id", "n_clusters"] == 15 and icc.loc["group_id", "n_clusters"] == 10
        assert icc.loc["mentor_id", "mean_cluster_size"] == 10.0 and (icc["n_singletons"] == 0).all()
        assert (icc["method"] == "REML").all()


def test_mixed_fully_nested_matches_lmertest(full):
    ref = EXPECTED["fully_nested"]["mixed"]
    res = ancova(full, control="control", clusters=["mentor_id"], cluster_method="mixed", contrasts="control")
    coef = res.coefficients.set_index("term").loc[["(Intercept)", "pre", "arm[T.mentor]"]]
    np.testing.assert_allclose(coef["estimate"], ref["coef"]["estimate"], rtol=1e-5)
    np.testing.assert_allclose(coef["se"], ref["coef"]["se"], rtol=1e-5)
    np.testing.assert_allclose(coef["df"], ref["coef"]["df"], rtol=1e-5)
    assert res.contrasts["df"].iloc[0] == pytest.approx(ref["contrasts"]["df"][0], rel=1e-5)
    assert res.icc["variance"].iloc[0] == pytest.approx(ref["var"]["mentor"][0], rel=1e-5)


def test_clustered_hedges_g_corrects_the_standardizer_and_uses_the_contrast_df(partial, fits):
    """Hedges (2007): a clustered arm's within-arm variance falls short of the total variance by
    tau^2 (sum m_k^2 - n) / (n (n - 1)); the g interval uses the contrast's Satterthwaite df."""
    from scipy import stats

    from mentor_eval.outcomes.effectsize import hedges_j

    d = pd.read_csv(HERE / "data.csv")
    tau2 = fits["mixed"].icc.set_index("level")["variance"]
    var = d.groupby("arm")["post"].var()
    n = d.groupby("arm").size()
    for a, grp in d.groupby("arm"):
        for level in ("mentor_id", "group_id"):
            m = grp[level].dropna().value_counts().to_numpy(float)
            var[a] += tau2[level] * ((m**2).sum() - m.sum()) / (n[a] * (n[a] - 1))
    con = fits["mixed"].contrasts.query("reference == 'control'").set_index("arm")
    for a in ("mentor", "group"):
        c = con.loc[a]
        nu = n[a] + n["control"] - 2
        s = np.sqrt(((n[a] - 1) * var[a] + (n["control"] - 1) * var["control"]) / nu)
        assert c["standardizer"] == pytest.approx(s, rel=1e-10)
        assert var[a] > d.loc[d["arm"] == a, "post"].var()  # the correction is not a no-op here
        dstd = c["estimate"] / s
        dse = np.sqrt((c["se"] / s) ** 2 + dstd**2 / (2 * nu))
        j, crit = hedges_j(nu), stats.t.ppf(0.975, c["df"])
        assert c["g"] == pytest.approx(j * dstd, rel=1e-10)
        assert (c["g_ci_low"], c["g_ci_high"]) == pytest.approx((j * (dstd - crit * dse), j * (dstd + crit * dse)),
                                                                rel=1e-10)
    # without clustering: the plain pooled SD and a normal quantile, as before
    plain = fits["none"].contrasts.query("reference == 'control'").set_index("arm").loc["mentor"]
    nu = n["mentor"] + n["control"] - 2
    s0 = np.sqrt(((n["mentor"] - 1) * d.loc[d.arm == "mentor", "post"].var()
                  + (n["control"] - 1) * d.loc[d.arm == "control", "post"].var()) / nu)
    assert plain["standardizer"] == pytest.approx(s0, rel=1e-12)


# ------------------------------------------------------------------ API rules
def test_clusters_are_used_by_default_and_none_must_be_explicit(partial, fits):
    kw = dict(covariates=["age"], control="control", adjust="none")
    default = ancova(partial, clusters=["mentor_id", "group_id"], **kw)
    assert (default.contrasts["cluster_method"] != "none").all()
    plain = ancova(partial, **kw)
    assert (plain.contrasts["cluster_method"] == "none").all() and plain.icc.empty
    np.testing.assert_allclose(plain.contrasts["se"], plain.contrasts["se_unclustered"])
    # explicit "none" keeps the unclustered inference but still reports the ICC
    none = fits["none"]
    np.testing.assert_allclose(none.contrasts["se"], plain.contrasts["se"])
    assert none.icc["icc"].notna().all()
    with pytest.raises(ParameterError, match="'cluster_method' parameter of ancova must be one of"):
        ancova(partial, clusters=["mentor_id"], cluster_method="cr1", **kw)
    with pytest.raises(ParameterError, match="no 'clusters' were given"):
        ancova(partial, cluster_method="cr2", **kw)
    with pytest.raises(ParameterError, match="hc3"):
        ancova(partial, clusters=["mentor_id"], hc3=True, **kw)
    with pytest.raises(ParameterError, match="lacks the column"):
        ancova(partial, clusters=["site_id"], **kw)


def test_dunnett_and_tukey_use_the_clustered_covariance_and_family_min_df(partial, fits):
    res = ancova(partial, covariates=["age"], control="control", clusters=["mentor_id", "group_id"],
                 cluster_method="cr2", adjust={"control": "dunnett", "pairwise": "tukey"}, mvt_maxpts=10_000)
    ctl = res.contrasts[res.contrasts["family"] == "vs control"]
    ref = fits["cr2_ri"].contrasts.set_index("contrast").loc[ctl["contrast"]]
    np.testing.assert_allclose(ctl["se"], ref["se"])
    # single-step p lies between the unadjusted p and Bonferroni at the family's smallest df
    from scipy import stats

    tmin = 2 * stats.t.sf(np.abs(ctl["t"]), ctl["df"].min())
    assert np.all(ctl["p_adj"] >= ctl["p"] - 1e-12) and np.all(ctl["p_adj"] <= np.minimum(1, 2 * tmin) + 1e-9)
    assert np.all(ctl["ci_high_adj"] - ctl["ci_low_adj"] > ctl["ci_high"] - ctl["ci_low"])
    # Hedges' g interval widens with the clustered SE
    g_none = fits["none"].contrasts.set_index("contrast").loc[ctl["contrast"]]
    assert np.all((ctl["g_ci_high"] - ctl["g_ci_low"]).to_numpy() > (g_none["g_ci_high"] - g_none["g_ci_low"]).to_numpy())


# ------------------------------------------------------------------ bad input
def test_cluster_missing_for_part_of_an_arm_names_column_and_arm(partial):
    bad = partial.copy()
    bad.loc[bad["participant_id"].isin(["P160", "P161"]), "mentor_id"] = np.nan
    kw = dict(control="control", clusters=["mentor_id", "group_id"], cluster_method="cr2", contrasts="control")
    with pytest.raises(AnalysisError, match=r"column 'mentor_id' is missing for 2 of the 150 analysed participants "
                                            r"of arm 'mentor' \(e.g. P160, P161\)"):
        ancova(bad, **kw)
    res = ancova(bad, on_bad_clusters="fallback", **kw)  # they become clusters of one
    assert res.info["status"].eq("cluster fallback").sum() == 1
    icc = res.icc.set_index("level")
    assert icc.loc["mentor_id", "n_clusters"] == 15
    with pytest.raises(ParameterError, match="'on_bad_clusters'"):
        ancova(bad, on_bad_clusters="ignore", **kw)


def test_all_singleton_clusters_and_one_cluster_arm_are_errors_unless_fallback(partial):
    solo = partial.assign(mentor_id=lambda d: np.where(d["arm"] == "mentor", "m-" + d["participant_id"], None))
    kw = dict(control="control", clusters=["mentor_id"], contrasts="control")
    with pytest.raises(AnalysisError, match=r"every cluster in column 'mentor_id' has a single member \(arm\(s\) "
                                            r"'mentor'\)"):
        ancova(solo, cluster_method="mixed", **kw)
    res = ancova(solo, cluster_method="cr2", on_bad_clusters="fallback", **kw)
    assert res.icc["method"].iloc[0].startswith("not estimated (all clusters have one member")
    # CR2 then treats everyone as a cluster of one: HC2
    assert (res.contrasts["cluster_method"] == "cr2").all()
    mixed = ancova(solo, cluster_method="mixed", on_bad_clusters="fallback", **kw)
    assert (mixed.contrasts["cluster_method"] == "none").all()  # nothing left to model: said so
    one = partial.assign(mentor_id=lambda d: np.where(d["arm"] == "mentor", "M00", None))
    with pytest.raises(AnalysisError, match=r"every analysed participant of arm 'mentor' is in the same 'mentor_id' "
                                            r"cluster \('M00'\)"):
        ancova(one, cluster_method="cr2", **kw)


def test_a_cluster_column_with_one_value_for_everyone_is_ignored(partial):
    one_site = partial.assign(site_id="S1")
    res = ancova(one_site, control="control", clusters=["site_id", "mentor_id", "group_id"], contrasts="control",
                 cluster_method="cr2")
    assert list(res.icc["level"]) == ["mentor_id", "group_id"]
    assert res.info["status"].eq("cluster ignored").sum() == 1
    ref = ancova(partial, control="control", clusters=["mentor_id", "group_id"], contrasts="control",
                 cluster_method="cr2")
    np.testing.assert_allclose(res.contrasts["se"], ref.contrasts["se"], rtol=1e-12)


# ------------------------------------------------------------------ pipeline
def _mentor_study(tmp_path, **overrides):
    from test_validation_support import participants_csv, response_rows, rows_to_csv, write_study

    n = 48
    mentors = ["" if i % 2 == 0 else f"m{(i // 2) % 6}" for i in range(n)]  # nw: 6 mentors of 4
    return write_study(tmp_path, participants=participants_csv(n, extra={"mentor_id": mentors}),
                       responses=rows_to_csv(response_rows(n, seed=3)), **overrides)


def test_pipeline_contrasts_use_the_declared_clusters(tmp_path):
    from mentor_eval.pipeline import run_study

    res = run_study(_mentor_study(tmp_path, clusters=["mentor_id"]), psychometrics=False, mixed=False)
    assert len(res.contrasts) == 1
    row = res.contrasts.iloc[0]
    assert row["cluster_method"] == "mixed" and np.isfinite(row["se_unclustered"])
    assert (res.ancova_means["cluster_method"] == "mixed").all()
    icc = res.ancova_icc
    assert list(icc["level"]) == ["mentor_id"] and icc["n_clusters"].iloc[0] == 6
    assert icc["outcome"].iloc[0] == "adult_hope_scale.total"
    # without declared clusters: today's analysis, an empty icc table
    plain = run_study(_mentor_study(tmp_path / "plain", clusters=[]), psychometrics=False, mixed=False)
    assert (plain.contrasts["cluster_method"] == "none").all() and plain.ancova_icc.empty
    assert plain.contrasts["se"].iloc[0] == pytest.approx(plain.contrasts["se_unclustered"].iloc[0])


def test_pipeline_single_arm_study_notes_that_there_is_nothing_to_compare(tmp_path):
    from test_validation_support import participants_csv, write_study

    from mentor_eval.pipeline import run_study

    res = run_study(write_study(tmp_path, design="single-arm", arms=[{"key": "nw", "label": "NW",
                                                                     "model": "narrative_weaving"}],
                                participants=participants_csv().replace(",ctrl,", ",nw,")),
                    psychometrics=False, mixed=False)
    notes = res.notes[res.notes["step"] == "ANCOVA"]
    assert len(notes) == 1 and "single arm" in notes["reason"].iloc[0]
    assert len(res.contrasts) == 0 and len(res.prepost)


def test_study_analysis_key_chooses_the_method_and_the_fallback(tmp_path):
    from test_validation_support import participants_csv, response_rows, rows_to_csv, write_study

    from mentor_eval.errors import StudyConfigError
    from mentor_eval.pipeline import run_study
    from mentor_eval.study import load_study

    n = 48
    # arm nw (odd rows): 6 mentors of 4, but one mentee has no mentor recorded
    mentors = ["" if i % 2 == 0 else f"m{(i // 2) % 6}" for i in range(n)]
    mentors[1] = ""

    def study(where, **analysis):
        return write_study(tmp_path / where, participants=participants_csv(n, extra={"mentor_id": mentors}),
                           responses=rows_to_csv(response_rows(n, seed=3)), clusters=["mentor_id"],
                           **({"analysis": analysis} if analysis else {}))

    # default: the gap stops the comparison with a note naming column and arm, nothing is guessed
    strict = run_study(study("strict"), psychometrics=False, mixed=False)
    assert strict.contrasts.empty
    note = strict.notes[strict.notes["step"] == "ANCOVA"]["reason"].str.cat(sep=" ")
    assert "mentor_id" in note and "'nw'" in note
    # asked for: the mentee becomes a cluster of one, said in the notes; the chosen method is used
    loose = run_study(study("loose", cluster_method="cr2", on_bad_clusters="fallback"), psychometrics=False,
                      mixed=False)
    assert len(loose.contrasts) == 1 and loose.contrasts["cluster_method"].iloc[0] == "cr2"
    reasons = loose.notes[loose.notes["step"] == "ANCOVA"]["reason"]
    assert reasons.str.contains("on_bad_clusters: fallback").any()
    with pytest.raises(StudyConfigError, match=r"analysis\.cluster_method.*one of 'mixed', 'cr2', 'none'; got text 'cr3'"):
        load_study(study("bad", cluster_method="cr3"))
    with pytest.raises(StudyConfigError, match="analysis"):
        load_study(study("bad2", method="cr2"))


# ------------------------------------------------------------------ model fit (researcher view)
def test_fit_table_mixed_matches_lme4_remlcrit(fits, partial):
    ref = EXPECTED["partially_nested"]["mixed"]
    fit = fits["mixed"].fit
    assert list(fit.columns) == ["model", "n", "n_obs", "n_params", "estimation", "cluster_method", "vcov",
                                 "df_method", "logLik", "AIC", "BIC", "singular", "converged"]
    row = fit.iloc[0]
    n = partial["participant_id"].nunique()
    # lme4: logLik = -REMLcrit / 2; AIC / BIC with 5 fixed effects + 2 variances + the residual
    assert row["n"] == n and row["n_params"] == 8
    assert row["logLik"] == pytest.approx(-ref["reml"][0] / 2, rel=1e-7)
    assert row["AIC"] == pytest.approx(ref["reml"][0] + 2 * 8, rel=1e-7)
    assert row["BIC"] == pytest.approx(ref["reml"][0] + np.log(n) * 8, rel=1e-7)
    assert row["estimation"] == "REML" and row["df_method"] == "Satterthwaite"
    assert row["singular"] is not None and not row["singular"]
    assert bool(row["converged"])


@pytest.mark.parametrize("method", ["cr2", "none"])
def test_fit_table_ols_matches_r_loglik_lm(fits, partial, method):
    wide = pd.read_csv(HERE / "data.csv")
    x = pd.get_dummies(wide["arm"], drop_first=True, dtype=float)
    x = sm.add_constant(pd.concat([wide[["pre", "age"]], x], axis=1))
    ols = sm.OLS(wide["post"], x).fit()
    row = fits[method].fit.iloc[0]
    assert row["estimation"] == "OLS" and row["cluster_method"] == method and row["n_params"] == 6
    assert row["logLik"] == pytest.approx(ols.llf, rel=1e-10)
    # R's AIC/BIC of an lm count the residual variance (k = p + 1); statsmodels' do not
    assert row["AIC"] == pytest.approx(ols.aic + 2, rel=1e-10)
    assert row["BIC"] == pytest.approx(ols.bic + np.log(ols.nobs), rel=1e-10)
    assert row["df_method"] == ("Satterthwaite (CR2, Pustejovsky-Tipton)" if method == "cr2" else "residual (n - p)")
    assert row["singular"] is None and row["n"] == ols.nobs
