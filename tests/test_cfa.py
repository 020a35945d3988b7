"""CFA: parity with lavaan 0.6.14 on Holzinger-Swineford, known answers, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.psychometrics import cfa
from mentor_eval.psychometrics.cfa import parse_model

DATA = Path(__file__).parent / "data"
HS_MODEL = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
# lavaan fitMeasures() name -> our fit column
FIT_NAMES = {
    "chisq": "chisq", "df": "df", "pvalue": "p", "cfi": "cfi", "tli": "tli", "rmsea": "rmsea",
    "rmsea.ci.lower": "rmsea_ci_low", "rmsea.ci.upper": "rmsea_ci_high", "rmsea.pvalue": "rmsea_p",
    "srmr": "srmr", "baseline.chisq": "baseline_chisq", "baseline.df": "baseline_df", "logl": "logl",
    "unrestricted.logl": "unrestricted_logl", "aic": "aic", "bic": "bic", "npar": "npar", "ntotal": "n",
}


def close(actual: float, expected: float) -> bool:
    """Agreement to 1e-3 relative (absolute 1e-9 for exact zeros)."""
    return abs(actual - expected) <= 1e-3 * abs(expected) + 1e-9


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(DATA / "HolzingerSwineford1939.csv")


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((DATA / "lavaan_hs_expected.json").read_text())["cfa_HS"]


@pytest.fixture(scope="module")
def hs_fit(hs, expected):
    return cfa(hs, expected["model"])


def test_fit_measures_match_lavaan(hs_fit, expected):
    fit = hs_fit.fit.iloc[0]
    for name, value in expected["fit"].items():
        assert close(float(fit[FIT_NAMES[name]]), value), (name, fit[FIT_NAMES[name]], value)
    assert bool(fit["converged"])


@pytest.mark.parametrize(
    ("key", "column"),
    [
        ("std_loadings_std_all", "std_all"),
        ("std_loadings_se", "std_all_se"),
        ("unstd_loadings", "estimate"),
        ("unstd_loadings_se", "se"),
    ],
)
def test_loadings_match_lavaan(hs_fit, expected, key, column):
    loadings = hs_fit.loadings.set_index(["factor", "item"])
    assert len(loadings) == len(expected[key]) == 9
    for name, value in expected[key].items():
        factor, item = name.split("=~")
        assert close(float(loadings.loc[(factor, item), column]), value), (name, column)


def test_factor_correlations_match_lavaan(hs_fit, expected):
    fc = hs_fit.factor_correlations.set_index(["factor_a", "factor_b"])
    assert len(fc) == 3
    for name, value in expected["std_factor_correlations"].items():
        a, b = name.split("~~")
        assert close(float(fc.loc[(a, b), "estimate"]), value), name
        assert fc.loc[(a, b), "se"] > 0


def test_marker_loadings_are_fixed(hs_fit):
    markers = hs_fit.loadings[~hs_fit.loadings["free"]]
    assert markers["item"].tolist() == ["x1", "x4", "x7"]
    assert (markers["estimate"] == 1.0).all() and (markers["se"] == 0.0).all()
    assert markers["z"].isna().all()


def test_residual_variances_are_consistent(hs_fit):
    # std_all residual variance = 1 - squared standardized loading (one factor per item)
    rv = hs_fit.residual_variances.set_index("item")["std_all"]
    ld = hs_fit.loadings.set_index("item")["std_all"]
    np.testing.assert_allclose(rv[ld.index], 1 - ld**2, atol=1e-10)


def test_syntax_and_dict_agree(hs, hs_fit):
    as_dict = cfa(hs, HS_MODEL)
    np.testing.assert_allclose(as_dict.loadings["estimate"], hs_fit.loadings["estimate"], rtol=1e-10)
    assert as_dict.fit["chisq"].iloc[0] == pytest.approx(hs_fit.fit["chisq"].iloc[0], rel=1e-12)


def test_std_lv_is_the_same_model(hs, hs_fit):
    res = cfa(hs, HS_MODEL, std_lv=True)
    assert res.fit["chisq"].iloc[0] == pytest.approx(hs_fit.fit["chisq"].iloc[0], rel=1e-8)
    np.testing.assert_allclose(res.loadings["std_all"], hs_fit.loadings["std_all"], atol=1e-7)
    np.testing.assert_allclose(res.loadings["std_all_se"], hs_fit.loadings["std_all_se"], atol=1e-7)
    assert (res.factor_variances["estimate"] == 1.0).all()
    assert res.loadings["free"].all()


def test_just_identified_one_factor_reproduces_known_solution(hs):
    # three indicators, marker x1: lambda2 = s23/s13, lambda3 = s23/s12, phi = s12*s13/s23
    X = hs[["x1", "x2", "x3"]].to_numpy()
    S = np.cov(X, rowvar=False, ddof=0)
    res = cfa(hs, "f =~ x1 + x2 + x3")
    est = res.loadings.set_index("item")["estimate"]
    assert res.fit["df"].iloc[0] == 0
    assert res.fit["chisq"].iloc[0] == pytest.approx(0.0, abs=1e-8)
    assert est["x2"] == pytest.approx(S[1, 2] / S[0, 2], rel=1e-8)
    assert est["x3"] == pytest.approx(S[1, 2] / S[0, 1], rel=1e-8)
    phi = res.factor_variances["estimate"].iloc[0]
    assert phi == pytest.approx(S[0, 1] * S[0, 2] / S[1, 2], rel=1e-8)
    theta = res.residual_variances.set_index("item")["estimate"]
    assert theta["x1"] == pytest.approx(S[0, 0] - phi, rel=1e-8)


def test_recovers_simulated_loadings():
    rng = np.random.default_rng(11)
    n = 3000
    f = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 1]], size=n)
    lam = np.array([0.8, 0.7, 0.6, 0.5])
    y1 = f[:, [0]] * lam + rng.normal(scale=0.6, size=(n, 4))
    y2 = f[:, [1]] * lam + rng.normal(scale=0.6, size=(n, 4))
    df = pd.DataFrame(np.hstack([y1, y2]), columns=[f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)])
    res = cfa(df, {"A": [f"a{i}" for i in range(4)], "B": [f"b{i}" for i in range(4)]}, std_lv=True)
    est = res.loadings["estimate"].to_numpy()
    se = res.loadings["se"].to_numpy()
    assert np.all(np.abs(est - np.tile(lam, 2)) < 4 * se)
    assert res.factor_correlations["estimate"].iloc[0] == pytest.approx(0.3, abs=0.06)
    # the model is true, so the chi-square test should usually not reject
    assert res.fit["p"].iloc[0] > 0.001


def test_modifiers_and_residual_covariance(hs, hs_fit):
    res = cfa(hs, "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\nx7 ~~ x8\n"
                  "visual ~~ 0*speed")
    fit = res.fit.iloc[0]
    assert fit["df"] == 24  # +1 residual covariance, -1 fixed factor covariance
    assert len(res.residual_covariances) == 1
    fc = res.factor_correlations.set_index(["factor_a", "factor_b"])
    assert fc.loc[("visual", "speed"), "estimate"] == 0.0
    # equality label: two loadings share one parameter -> one more df than the free model
    eq = cfa(hs, "visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9")
    ld = eq.loadings.set_index("item")["estimate"]
    assert ld["x2"] == ld["x3"]
    assert eq.fit["df"].iloc[0] == 25
    assert eq.fit["chisq"].iloc[0] >= hs_fit.fit["chisq"].iloc[0]
    # NA* frees the marker; fixing the variance identifies the factor instead
    alt = cfa(hs, "visual =~ NA*x1 + x2 + x3\nvisual ~~ 1*visual\ntextual =~ x4 + x5 + x6\n"
                  "speed =~ x7 + x8 + x9")
    assert alt.fit["chisq"].iloc[0] == pytest.approx(hs_fit.fit["chisq"].iloc[0], rel=1e-8)


def test_listwise_deletion_is_counted(hs):
    df = hs.copy()
    df.loc[[0, 5, 9], "x3"] = np.nan
    df["x5"] = df["x5"].astype("Float64")
    df.loc[12, "x5"] = pd.NA
    res = cfa(df, HS_MODEL)
    assert res.n_dropped == 4
    assert res.fit["n"].iloc[0] == 297
    ref = cfa(hs.drop(index=[0, 5, 9, 12]), HS_MODEL)
    assert res.fit["chisq"].iloc[0] == pytest.approx(ref.fit["chisq"].iloc[0], rel=1e-10)


def test_parse_model_syntax():
    rows = parse_model("# comment\nf =~ x1 + 0.5*x2 +\n  lab*x3 ; g =~ NA*y1 + y2 + y3\nx1 ~~ y1")
    assert [(r.lhs, r.op, r.rhs) for r in rows] == [
        ("f", "=~", "x1"), ("f", "=~", "x2"), ("f", "=~", "x3"),
        ("g", "=~", "y1"), ("g", "=~", "y2"), ("g", "=~", "y3"), ("x1", "~~", "y1"),
    ]
    assert rows[1].mods == (("fixed", 0.5),)
    assert rows[2].mods == (("label", "lab"),)
    assert rows[3].mods == (("free",),)


@pytest.mark.parametrize(
    ("model", "kwargs", "error", "match"),
    [
        ("visual =~ x1 + x2 + nope", {}, ParameterError, "'nope'"),
        ("visual =~ x1 + x2 + x3\nvisual ~ x4", {}, ParameterError, "operator '~'"),
        ("x1 ~~ x2", {}, ParameterError, "no factor"),
        ({"visual": "x1"}, {}, ParameterError, "list of item columns"),
        (HS_MODEL, {"estimator": "WLS"}, ParameterError, "'estimator'"),
        (HS_MODEL, {"group_equal": ("loadings",)}, ParameterError, "needs 'group'"),
        (HS_MODEL, {"group": "school", "group_equal": ("slopes",)}, ParameterError, "'group_equal'"),
        (HS_MODEL, {"missing": "fiml"}, ParameterError, "'missing'"),
        ("visual =~ x1 + x2", {}, AnalysisError, "not identified"),
        ("visual =~ x1 + x2 + school", {}, ParameterError, "not numeric"),
    ],
)
def test_errors_are_clear(hs, model, kwargs, error, match):
    with pytest.raises(error, match=match):
        cfa(hs, model, **kwargs)


def test_zero_variance_and_too_few_rows(hs):
    df = hs.copy()
    df["x3"] = 2.0
    with pytest.raises(AnalysisError, match="'x3' has zero variance"):
        cfa(df, HS_MODEL)
    with pytest.raises(AnalysisError, match="more rows than variables"):
        cfa(hs.head(8), HS_MODEL)


def test_multigroup_reports_chisq_by_group(hs):
    exp = json.loads((DATA / "lavaan_hs_expected.json").read_text())["invariance_HS_school"]
    res = cfa(hs, HS_MODEL, group="school")
    gf = res.group_fit.set_index("group")
    assert list(gf.index) == exp["group_order"]
    for g, n in exp["n_per_group"].items():
        assert gf.loc[g, "n"] == n
    for g, value in exp["configural"]["chisq_by_group"].items():
        assert close(float(gf.loc[g, "chisq"]), value)
    assert gf["chisq"].sum() == pytest.approx(res.fit["chisq"].iloc[0], rel=1e-12)
    # configural: intercepts free per group, latent means fixed at 0
    assert len(res.intercepts) == 18 and res.intercepts["free"].all()
    assert (res.latent_means["estimate"] == 0).all() and not res.latent_means["free"].any()
    assert "group" in res.loadings.columns


def test_units_of_measurement_do_not_matter(hs, hs_fit):
    # rescaling items changes unstandardized estimates only; fit and std_all are invariant
    df = hs.copy()
    df[["x1", "x2", "x3"]] *= 1000.0
    df["x7"] /= 1000.0
    res = cfa(df, HS_MODEL)
    assert res.fit["chisq"].iloc[0] == pytest.approx(hs_fit.fit["chisq"].iloc[0], rel=1e-8)
    np.testing.assert_allclose(res.loadings["std_all"], hs_fit.loadings["std_all"], atol=1e-7)
    np.testing.assert_allclose(res.loadings["std_all_se"], hs_fit.loadings["std_all_se"], atol=1e-7)


def test_heywood_case_is_reported(hs):
    # 40 respondents give a negative residual variance for x3
    with pytest.warns(RuntimeWarning, match="Negative variance estimate for 'x3'"):
        res = cfa(hs.head(40), HS_MODEL)
    assert res.residual_variances.set_index("item").loc["x3", "estimate"] < 0
    assert any("Heywood" in note for note in res.notes)
    assert bool(res.fit["converged"].iloc[0])


def _model_pieces(hs, model, group=None):
    """Parameter table, sample moments and start values of a model, from the estimator's internals."""
    import importlib

    mod = importlib.import_module("mentor_eval.psychometrics.cfa")
    items = [i for v in model.values() for i in v]
    groups = sorted(hs[group].unique()) if group else ["all"]
    rows = [mod._UserRow(f, "=~", i) for f, v in model.items() for i in v]
    built = mod._build_model(rows, items, groups, False, ("loadings",) if group else (),
                             meanstructure=group is not None)
    codes = hs[group].map({g: k for k, g in enumerate(groups)}).to_numpy() if group else np.zeros(len(hs), int)
    X = hs[built.observed].to_numpy(float)
    ns = np.bincount(codes).astype(float)
    means = np.array([X[codes == g].mean(axis=0) for g in range(len(groups))])
    covs = np.array([np.cov(X[codes == g].T, bias=True) for g in range(len(groups))])
    sample = mod._Sample(ns, means, covs, np.linalg.slogdet(covs)[1])
    idx = mod._index(built)
    return mod, built, idx, sample, mod._start_values(built, idx, sample)


@pytest.mark.parametrize("group", [None, "school"])
def test_batched_gradients_equal_one_evaluation_per_point(hs, group):
    mod, built, idx, sample, x0 = _model_pieces(hs, HS_MODEL, group)
    p, m, G = len(built.observed), len(built.latent), len(built.groups)

    def one(x):
        mats = mod._matrices(x, idx, p, m, G)
        sigma, mu = mod._implied(*mats)
        _, inv, d = mod._discrepancy(sigma, mu, sample, built.meanstructure)
        return mod._gradient(mats, inv, d, idx, sample, built.meanstructure) / sample.n.sum()

    rng = np.random.default_rng(2)
    X = x0 * (1 + 0.05 * rng.standard_normal((7, len(x0))))
    batch = mod._batched_gradients(X, idx, sample, (p, m, G), built.meanstructure)
    assert batch.shape == (7, built.n_free)
    # the same numbers, not merely close: a batched Hessian must not move any estimate
    assert np.array_equal(batch, np.array([one(x) for x in X]))
    steps = 1e-5 * np.abs(x0) + 1e-7
    assert np.array_equal(mod._numeric_hessian(x0, one, steps),
                          mod._numeric_hessian(x0, one, steps, lambda Z: mod._batched_gradients(
                              Z, idx, sample, (p, m, G), built.meanstructure)))
    bad = X.copy()
    bad[3] = -x0 * 50  # implied covariance no longer positive definite: the caller goes point by point
    theta_rows = [k for k, q in enumerate(built.pars) if q.mat == "theta" and q.free]
    bad[3, [built.pars[k].pid for k in theta_rows]] = -5.0
    assert mod._batched_gradients(bad, idx, sample, (p, m, G), built.meanstructure) is None
