"""Known-answer tests of the mixed-model engine (mentor_eval.outcomes.lmm).

References: lme4 / lmerTest on sleepstudy (tests/data, computed in R), statsmodels MixedLM on
simulated unbalanced data, and a dense-matrix implementation written out here.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from mentor_eval.errors import AnalysisError
from mentor_eval.outcomes.lmm import LmmModel, fit_lmm

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pd.read_csv(DATA / "sleepstudy.csv")


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((DATA / "lme4_sleepstudy_expected.json").read_text())


def _sleep_fit(sleep: pd.DataFrame, slope: bool):
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    return fit_lmm(
        sleep["Reaction"].to_numpy(), X, [sleep["Subject"].to_numpy()],
        slope=sleep["Days"].to_numpy(float) if slope else None,
    )


def _vals(d: dict) -> np.ndarray:
    return np.array([d["(Intercept)"], d["Days"]])


# ---------------------------------------------------------------------------- lme4 parity
def test_sleepstudy_random_intercept_matches_lme4(sleep, expected):
    e = expected["random_intercept"]
    fit = _sleep_fit(sleep, slope=False)
    assert fit.converged and not fit.boundary
    np.testing.assert_allclose(fit.beta, _vals(e["fixef"]), rtol=1e-7)
    np.testing.assert_allclose(fit.se, _vals(e["se"]), rtol=1e-5)
    np.testing.assert_allclose(fit.cov_re[0][0, 0], e["var_subject_intercept"], rtol=1e-5)
    np.testing.assert_allclose(fit.sigma2, e["var_residual"], rtol=1e-5)
    assert fit.deviance == pytest.approx(e["REML_criterion"], abs=1e-6)
    assert fit.loglik == pytest.approx(e["logLik_REML"], abs=1e-6)
    assert fit.n_obs == 180 and fit.n_groups == (18,)
    s = fit.satterthwaite(np.eye(2))
    np.testing.assert_allclose(s["t"], _vals(e["t_value"]), rtol=1e-5)
    np.testing.assert_allclose(s["df"], _vals(e["satterthwaite_df"]), rtol=1e-4)
    np.testing.assert_allclose(s["p"], _vals(e["satterthwaite_p"]), rtol=1e-3)


def test_sleepstudy_random_slope_matches_lme4(sleep, expected):
    e = expected["random_slopes"]
    fit = _sleep_fit(sleep, slope=True)
    assert fit.converged and not fit.boundary
    np.testing.assert_allclose(fit.beta, _vals(e["fixef"]), rtol=1e-7)
    np.testing.assert_allclose(fit.se, _vals(e["se"]), rtol=1e-4)
    cov = fit.cov_re[0]
    np.testing.assert_allclose(cov[0, 0], e["var_subject_intercept"], rtol=1e-4)
    np.testing.assert_allclose(cov[1, 1], e["var_subject_days"], rtol=1e-4)
    np.testing.assert_allclose(cov[0, 1], e["cov_subject_int_days"], rtol=1e-4)
    cor = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    np.testing.assert_allclose(cor, e["cor_subject_int_days"], rtol=1e-4)
    np.testing.assert_allclose(fit.sigma2, e["var_residual"], rtol=1e-4)
    # lme4's optimiser stops a hair early: our criterion may be lower, never higher.
    assert fit.deviance == pytest.approx(e["REML_criterion"], abs=1e-6)
    assert fit.deviance <= e["REML_criterion"] + 1e-9
    s = fit.satterthwaite(np.eye(2))
    np.testing.assert_allclose(s["t"], _vals(e["t_value"]), rtol=1e-4)
    np.testing.assert_allclose(s["df"], _vals(e["satterthwaite_df"]), rtol=1e-3)
    np.testing.assert_allclose(s["p"], _vals(e["satterthwaite_p"]), rtol=1e-3)


def test_contrast_satterthwaite_matches_coefficient_row(sleep):
    # A contrast equal to a coefficient gives that coefficient's test; a scaled contrast the
    # same df and t (df is invariant to scaling L).
    fit = _sleep_fit(sleep, slope=True)
    s = fit.satterthwaite(np.array([[0.0, 1.0], [0.0, 3.0], [1.0, 2.0]]))
    assert s["df"][0] == pytest.approx(s["df"][1], rel=1e-10)
    assert s["t"][0] == pytest.approx(s["t"][1], rel=1e-12)
    assert s["estimate"][2] == pytest.approx(fit.beta[0] + 2 * fit.beta[1], rel=1e-12)
    assert s["se"][2] == pytest.approx(np.sqrt(np.array([1, 2]) @ fit.vcov @ np.array([1, 2])))


# ---------------------------------------------------------------------------- simulated data
def _simulate(seed: int = 42, n_part: int = 150, zero_site: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_site = 6
    site_g = rng.integers(0, n_site, n_part)
    mentor_g = site_g * 10 + rng.integers(0, 5, n_part)
    sizes = rng.integers(1, 7, n_part)  # unbalanced, with singleton participants
    pid = np.repeat(np.arange(n_part), sizes)
    t = np.concatenate([np.sort(rng.choice(6, s, replace=False)) for s in sizes]).astype(float)
    arm = rng.integers(0, 2, n_part)[pid]
    x = rng.normal(size=pid.size)
    site_sd = 0.0 if zero_site else 0.6
    y = (1 + 0.3 * t + 0.5 * arm * t + 0.4 * x + rng.normal(0, 1, n_part)[pid]
         + rng.normal(0, 0.3, n_part)[pid] * t + rng.normal(0, site_sd, n_site)[site_g[pid]]
         + rng.normal(0, 0.5, 60)[mentor_g[pid]] + rng.normal(size=pid.size))
    return pd.DataFrame({"y": y, "t": t, "arm": arm, "x": x, "site": site_g[pid],
                         "mentor": mentor_g[pid], "pid": pid})


def _design(d: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(d)), d.t, d.arm, d.arm * d.t, d.x])


FORMULA = "y ~ t * arm + x"


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return _simulate()


def _sm_fit(model, reml: bool = True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=reml, method="bfgs", gtol=1e-10)


@pytest.mark.parametrize("reml", [True, False])
def test_random_intercept_matches_statsmodels(sim, reml):
    fit = fit_lmm(sim.y.to_numpy(), _design(sim), [sim.pid.to_numpy()], reml=reml)
    ref = _sm_fit(smf.mixedlm(FORMULA, sim, groups="pid"), reml)
    np.testing.assert_allclose(fit.beta, ref.fe_params, rtol=1e-5)
    np.testing.assert_allclose(fit.cov_re[0][0, 0], np.asarray(ref.cov_re)[0, 0], rtol=1e-4)
    np.testing.assert_allclose(fit.sigma2, ref.scale, rtol=1e-5)
    assert fit.loglik == pytest.approx(ref.llf, abs=1e-6)
    assert (sim.groupby("pid").size() == 1).sum() > 5  # singleton groups are present


def test_random_slope_matches_statsmodels(sim):
    fit = fit_lmm(sim.y.to_numpy(), _design(sim), [sim.pid.to_numpy()], slope=sim.t.to_numpy())
    ref = _sm_fit(smf.mixedlm(FORMULA, sim, groups="pid", re_formula="~t"))
    np.testing.assert_allclose(fit.beta, ref.fe_params, rtol=1e-5)
    np.testing.assert_allclose(fit.cov_re[0], np.asarray(ref.cov_re), rtol=1e-4)
    np.testing.assert_allclose(fit.sigma2, ref.scale, rtol=1e-5)
    assert fit.loglik == pytest.approx(ref.llf, abs=1e-6)


def test_nested_intercepts_match_statsmodels(sim):
    fit = fit_lmm(sim.y.to_numpy(), _design(sim),
                  [sim.site.to_numpy(), sim.mentor.to_numpy(), sim.pid.to_numpy()])
    ref = _sm_fit(smf.mixedlm(FORMULA, sim, groups="site", re_formula="1",
                              vc_formula={"mentor": "0 + C(mentor)", "pid": "0 + C(pid)"}))
    np.testing.assert_allclose(fit.beta, ref.fe_params, rtol=1e-4)
    variances = [c[0, 0] for c in fit.cov_re]
    np.testing.assert_allclose(variances[0], np.asarray(ref.cov_re)[0, 0], rtol=1e-4)
    np.testing.assert_allclose(variances[1:], ref.vcomp, rtol=1e-4)
    np.testing.assert_allclose(fit.sigma2, ref.scale, rtol=1e-5)
    assert fit.loglik == pytest.approx(ref.llf, abs=1e-6)
    assert fit.n_groups == (6, sim.mentor.nunique(), sim.pid.nunique())


def test_nested_ids_follow_lme4_slash_semantics(sim):
    # Participant ids reused in different mentors are different participants under a/b/c.
    local = sim.groupby("mentor")["pid"].rank(method="dense").to_numpy()
    y, X = sim.y.to_numpy(), _design(sim)
    a = fit_lmm(y, X, [sim.site.to_numpy(), sim.mentor.to_numpy(), sim.pid.to_numpy()])
    b = fit_lmm(y, X, [sim.site.to_numpy(), sim.mentor.to_numpy(), local])
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
    assert a.deviance == pytest.approx(b.deviance, abs=1e-8)
    assert a.n_groups == b.n_groups


def test_nested_intercept_and_slope_matches_dense_deviance(sim):
    # (1 | site) + (1 + t | site:pid): the recursion against V built explicitly.
    y, X = sim.y.to_numpy(), _design(sim)
    model = LmmModel(y, X, [sim.site.to_numpy(), sim.pid.to_numpy()], slope=sim.t.to_numpy())
    theta = np.array([0.9, 0.1, 0.3, 0.7])
    n = y.size
    Zp = np.zeros((n, 2 * sim.pid.nunique()))
    Zp[np.arange(n), 2 * sim.pid] = 1.0
    Zp[np.arange(n), 2 * sim.pid + 1] = sim.t
    T = np.array([[0.9, 0.0], [0.1, 0.3]])
    Zs = (sim.site.to_numpy()[:, None] == np.arange(6)).astype(float)
    V = np.eye(n) + Zp @ np.kron(np.eye(sim.pid.nunique()), T @ T.T) @ Zp.T + 0.49 * Zs @ Zs.T
    Vi = np.linalg.inv(V)
    xvx = X.T @ Vi @ X
    beta = np.linalg.solve(xvx, X.T @ Vi @ y)
    r = y - X @ beta
    r2 = r @ Vi @ r
    nu = n - X.shape[1]
    dense = (np.linalg.slogdet(V)[1] + np.linalg.slogdet(xvx)[1]
             + nu * (1 + np.log(2 * np.pi * r2 / nu)))
    assert model.deviance(theta, reml=True) == pytest.approx(dense, rel=1e-11)


# ---------------------------------------------------------------------------- Satterthwaite
def _dense_satterthwaite(d: pd.DataFrame, fit, L: np.ndarray) -> np.ndarray:
    """Satterthwaite df in the variance parametrisation (tau^2_site, tau^2_pid, sigma^2)."""
    y, X = d.y.to_numpy(), _design(d)
    Zs = (d.site.to_numpy()[:, None] == np.arange(6)).astype(float)
    Zp = (d.pid.to_numpy()[:, None] == np.unique(d.pid)).astype(float)
    ZsZs, ZpZp = Zs @ Zs.T, Zp @ Zp.T
    n, p = X.shape
    memo: dict = {}

    def parts(v):
        key = tuple(v)
        if key not in memo:
            V = v[0] * ZsZs + v[1] * ZpZp + v[2] * np.eye(n)
            Vi = np.linalg.inv(V)
            xvx = X.T @ Vi @ X
            C = np.linalg.inv(xvx)
            r = y - X @ (C @ X.T @ Vi @ y)
            dev = (np.linalg.slogdet(V)[1] + np.linalg.slogdet(xvx)[1] + r @ Vi @ r
                   + (n - p) * np.log(2 * np.pi))
            memo[key] = (dev, np.einsum("ij,jk,ik->i", L, C, L))
        return memo[key]

    v0 = np.array([fit.cov_re[0][0, 0], fit.cov_re[1][0, 0], fit.sigma2])
    h = 1e-3 * v0
    k = 3
    H = np.empty((k, k))
    g = np.empty((L.shape[0], k))
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        g[:, i] = (parts(v0 + ei)[1] - parts(v0 - ei)[1]) / (2 * h[i])
        for j in range(k):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = (parts(v0 + ei + ej)[0] - parts(v0 + ei - ej)[0]
                       - parts(v0 - ei + ej)[0] + parts(v0 - ei - ej)[0]) / (4 * h[i] * h[j])
    A = 2 * np.linalg.inv(H)
    return 2 * parts(v0)[1] ** 2 / np.einsum("ia,ab,ib->i", g, A, g)


def test_satterthwaite_nested_matches_dense_variance_parametrisation():
    # lmerTest differentiates in (theta, sigma); the delta method is invariant to the
    # parametrisation at the optimum, so a dense fit in variances must agree.
    d = _simulate(seed=7, n_part=60)
    fit = fit_lmm(d.y.to_numpy(), _design(d), [d.site.to_numpy(), d.pid.to_numpy()])
    L = np.array([[0, 0, 1.0, 0, 0], [0, 1.0, 0, 0, 0], [1.0, 0, 0.5, 0, 0]])
    ours = fit.satterthwaite(L)["df"].to_numpy()
    np.testing.assert_allclose(ours, _dense_satterthwaite(d, fit, L), rtol=1e-3)
    # the intercept is informed by only 6 sites; the within-participant slope by many rows
    assert ours[2] < 15 < 100 < ours[1]


# ---------------------------------------------------------------------------- edge cases
def test_zero_variance_component_is_flagged_not_fatal():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(40), 3)
    e = rng.normal(size=g.size)
    # remove every trace of between-group variation: group means all equal
    y = 2.0 + e - np.bincount(g, e)[g] / 3 + e.mean()
    fit = fit_lmm(y, np.ones((g.size, 1)), [g])
    assert fit.theta[0] == 0.0 and fit.boundary and fit.converged
    # At the boundary the model is ordinary least squares.
    assert fit.sigma2 == pytest.approx(np.var(y, ddof=1), rel=1e-10)
    assert fit.beta[0] == pytest.approx(y.mean(), rel=1e-12)
    assert fit.satterthwaite(np.eye(1))["df"][0] == pytest.approx(g.size - 1, rel=1e-6)


def test_zero_site_variance_in_nested_model():
    d = _simulate(seed=11, zero_site=True)
    d = d.assign(y=d.y - d.groupby("site").y.transform("mean") + d.y.mean())
    fit = fit_lmm(d.y.to_numpy(), _design(d), [d.site.to_numpy(), d.pid.to_numpy()])
    assert fit.boundary and fit.cov_re[0][0, 0] == 0.0
    assert fit.converged
    assert fit.cov_re[1][0, 0] > 0.1
    assert np.all(np.isfinite(fit.satterthwaite(np.eye(5))["df"]))


def test_rank_deficient_design_raises():
    g = np.repeat(np.arange(10), 2)
    X = np.column_stack([np.ones(20), np.arange(20.0), 2 * np.arange(20.0)])
    with pytest.raises(AnalysisError, match="rank deficient"):
        fit_lmm(np.arange(20.0) + g, X, [g])


def test_recovers_known_variances_on_larger_sample():
    rng = np.random.default_rng(5)
    n_part, waves = 3000, 4
    pid = np.repeat(np.arange(n_part), waves)
    t = np.tile(np.arange(waves, dtype=float), n_part)
    y = 1 + 0.5 * t + rng.normal(0, 1.0, n_part)[pid] + rng.normal(0, 0.4, n_part)[pid] * t \
        + rng.normal(0, 0.8, pid.size)
    fit = fit_lmm(y, np.column_stack([np.ones(pid.size), t]), [pid], slope=t)
    cov = fit.cov_re[0]
    assert cov[0, 0] == pytest.approx(1.0, abs=0.1)
    assert cov[1, 1] == pytest.approx(0.16, abs=0.03)
    assert fit.sigma2 == pytest.approx(0.64, abs=0.05)
    assert abs(fit.beta[1] - 0.5) < 3 * fit.se[1]
    s = fit.satterthwaite(np.array([0.0, 1.0]))
    # slope df close to the number of participants minus one (between-participant slopes)
    assert 2000 < s["df"][0] < 3100
    assert s["p"][0] == pytest.approx(2 * stats.t.sf(abs(s["t"][0]), s["df"][0]))


# ---------------------------------------------------------------------------- random-effect z
ZDATA = DATA / "lmm_z"


@pytest.fixture(scope="module")
def z_expected() -> dict:
    return json.loads((ZDATA / "expected.json").read_text())


def _check_against_lme4(fit, e: dict, names: list[str], varcomp: list[float], ml: bool = False):
    """Deviance, fixed effects, SEs, Satterthwaite df and variance components vs lme4."""
    dev_key = "deviance" if ml else "REML_criterion"
    assert fit.converged and not fit.boundary and e["singular"] is False
    assert fit.deviance == pytest.approx(e[dev_key], abs=1e-6)
    np.testing.assert_allclose(fit.beta, [e["fixef"][k] for k in names], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fit.se, [e["se"][k] for k in names], rtol=1e-5)
    np.testing.assert_allclose([c[0, 0] for c in fit.cov_re], varcomp, rtol=1e-5)
    s = fit.satterthwaite(np.eye(len(names)))
    np.testing.assert_allclose(s["df"], [e["df"][k] for k in names], rtol=1e-5)
    np.testing.assert_allclose(s["p"], [e["p"][k] for k in names], rtol=1e-3)


@pytest.fixture(scope="module")
def anc() -> pd.DataFrame:
    return pd.read_csv(ZDATA / "ancova.csv")


def _anc_X(anc: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(anc)), anc.pre, anc.treated])


ANC_NAMES = ["(Intercept)", "pre", "armmentoring"]


@pytest.mark.parametrize("reml", [True, False])
def test_partially_nested_ancova_matches_lme4(anc, z_expected, reml):
    # lmer(post ~ pre + arm + (0 + treated | mentor)); control share a placeholder mentor
    e = z_expected["ancova_partially_nested" if reml else "ancova_partially_nested_ml"]
    fit = fit_lmm(anc.post.to_numpy(), _anc_X(anc), [anc.mentor.to_numpy()],
                  z=[anc.treated.to_numpy(float)], reml=reml)
    _check_against_lme4(fit, e, ANC_NAMES, [e["varcomp"]["mentor"]], ml=not reml)
    assert fit.n_groups == (e["ngrps"]["mentor"],)
    np.testing.assert_allclose(fit.theta, np.atleast_1d(e["theta"]), rtol=1e-4)
    if not reml:
        assert fit.loglik == pytest.approx(e["logLik"], abs=1e-6)


def test_partially_nested_ancova_with_sites_matches_lme4(anc, z_expected):
    # lmer(post ~ pre + arm + (1 | site) + (0 + treated | site:mentor)): the innermost level
    # is a plain z-weighted intercept (one row per participant, no participant level); our
    # nesting gives each site its own placeholder, which carries nothing (z = 0).
    e = z_expected["ancova_site_partially_nested"]
    fit = fit_lmm(anc.post.to_numpy(), _anc_X(anc), [anc.site.to_numpy(), anc.mentor.to_numpy()],
                  z=[None, anc.treated.to_numpy(float)])
    _check_against_lme4(fit, e, ANC_NAMES,
                        [e["varcomp"]["site"], e["varcomp"]["site:mentor"]])


def test_post_baseline_mentor_effect_matches_lme4(z_expected):
    # lmer(y ~ wave * arm + (1 | participant) + (0 + post_treated | mentor))
    e = z_expected["longitudinal_post_baseline"]
    d = pd.read_csv(ZDATA / "longitudinal.csv")
    mid = (d.wave == "midpoint").to_numpy(float)
    post = (d.wave == "post").to_numpy(float)
    arm = (d.arm == "mentoring").to_numpy(float)
    X = np.column_stack([np.ones(len(d)), mid, post, arm, mid * arm, post * arm])
    names = ["(Intercept)", "wavemidpoint", "wavepost", "armmentoring",
             "wavemidpoint:armmentoring", "wavepost:armmentoring"]
    fit = fit_lmm(d.y.to_numpy(), X, [d.mentor.to_numpy(), d.participant.to_numpy()],
                  z=[d.post_treated.to_numpy(float), None])
    _check_against_lme4(fit, e, names,
                        [e["varcomp"]["mentor"], e["varcomp"]["participant"]])
    c = e["contrast_post_arm"]
    s = fit.satterthwaite(np.array([0, 0, 0, 1.0, 0, 1.0]))
    assert s["estimate"][0] == pytest.approx(c["estimate"], rel=1e-6)
    assert s["se"][0] == pytest.approx(c["se"], rel=1e-4)
    assert s["df"][0] == pytest.approx(c["df"], rel=1e-4)


def _dense_deviance(y, X, groups, zs, theta, slope=None):
    """REML criterion from V = I + sum_k theta_k^2 Z_k Z_k' built explicitly (nested codes)."""
    n = y.size
    V = np.eye(n)
    key = np.zeros(n, dtype=np.int64)
    parts = []
    for g in groups:
        key = key * 1000 + g
        parts.append((key[:, None] == np.unique(key)).astype(float))
    pos = 3 if slope is not None else 1
    for k in range(len(groups) - 2, -1, -1):
        Z = zs[k][:, None] * parts[k]
        V += theta[pos] ** 2 * Z @ Z.T
        pos += 1
    E = parts[-1]
    if slope is None:
        Z = zs[-1][:, None] * E
        V += theta[0] ** 2 * Z @ Z.T
    else:
        T = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
        Z = np.zeros((n, 2 * E.shape[1]))
        Z[:, 0::2] = zs[-1][:, None] * E
        Z[:, 1::2] = (zs[-1] * slope)[:, None] * E
        V += Z @ np.kron(np.eye(E.shape[1]), T @ T.T) @ Z.T
    Vi = np.linalg.inv(V)
    xvx = X.T @ Vi @ X
    r = y - X @ np.linalg.solve(xvx, X.T @ Vi @ y)
    nu = n - X.shape[1]
    return (np.linalg.slogdet(V)[1] + np.linalg.slogdet(xvx)[1]
            + nu * (1 + np.log(2 * np.pi * (r @ Vi @ r) / nu)))


@pytest.mark.parametrize("slope", [False, True])
@pytest.mark.parametrize("which", ["none", "outer", "middle", "all", "shared", "inner"])
def test_z_recursion_matches_dense_deviance(slope, which):
    # three nested levels with general real z at any subset of them, with and without slope
    rng = np.random.default_rng(1)
    n_part = 50
    site = rng.integers(0, 4, n_part)
    mentor = rng.integers(0, 3, n_part)
    pid = np.repeat(np.arange(n_part), rng.integers(1, 5, n_part))
    n = pid.size
    t = rng.normal(size=n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X[:, 1] + rng.normal(size=n)
    za, zb, zc = rng.normal(size=n), (rng.random(n) < 0.6).astype(float), rng.normal(size=n) + 1
    z = {"none": [None, None, None], "outer": [za, None, None], "middle": [None, zb, None],
         "all": [za, zb, zc], "shared": [zb, zb, None], "inner": [None, None, zc]}[which]
    groups = [site[pid], mentor[pid], pid]
    model = LmmModel(y, X, groups, slope=t if slope else None, z=z)
    theta = np.array([0.8, 0.3, 0.5, 0.7, 0.6]) if slope else np.array([0.8, 0.7, 0.6])
    zs = [np.ones(n) if v is None else v for v in z]
    dense = _dense_deviance(y, X, groups, zs, theta, slope=t if slope else None)
    assert model.deviance(theta) == pytest.approx(dense, rel=1e-11)


def test_z_of_ones_equals_no_z(sim):
    y, X = sim.y.to_numpy(), _design(sim)
    groups = [sim.site.to_numpy(), sim.pid.to_numpy()]
    a = fit_lmm(y, X, groups)
    b = fit_lmm(y, X, groups, z=[np.ones(y.size), None])
    assert a.deviance == b.deviance
    np.testing.assert_array_equal(a.beta, b.beta)


def test_placeholder_grouping_of_zero_z_rows_is_irrelevant(anc):
    # Rows with z = 0 carry no random effect, so whether the control participants share one
    # placeholder mentor or each has their own cannot change the fit.
    y, X, z = anc.post.to_numpy(), _anc_X(anc), [anc.treated.to_numpy(float)]
    shared = LmmModel(y, X, [anc.mentor.to_numpy()], z=z)
    own = LmmModel(y, X, [np.where(anc.treated == 1, anc.mentor, anc.participant)], z=z)
    theta = np.array([0.4])
    assert shared.deviance(theta) == pytest.approx(own.deviance(theta), rel=1e-13)


def test_bad_z_raises():
    g = np.repeat(np.arange(10), 2)
    y = np.arange(20.0)
    with pytest.raises(AnalysisError, match="one entry per grouping level"):
        fit_lmm(y, np.ones((20, 1)), [g], z=[None, None])
    with pytest.raises(AnalysisError, match="zero for every observation"):
        fit_lmm(y, np.ones((20, 1)), [g], z=[np.zeros(20)])
    with pytest.raises(AnalysisError, match="19 values for 20"):
        fit_lmm(y, np.ones((20, 1)), [g], z=[np.ones(19)])


@pytest.mark.parametrize("slope", [False, True])
@pytest.mark.parametrize("which", ["none", "all", "inner"])
def test_pattern_compression_matches_group_sums(slope, which, monkeypatch):
    # participants observed at the same waves share their Woodbury coefficients: summing
    # their cross-products once must give the deviance of the per-group sums
    rng = np.random.default_rng(8)
    n_part, waves = 400, 4
    pid = np.repeat(np.arange(n_part), waves)
    t = np.tile(np.arange(waves, dtype=float), n_part)
    keep = rng.random(pid.size) > 0.2
    pid, t = pid[keep], t[keep]
    site = rng.integers(0, 8, n_part)[pid]
    mentor = rng.integers(0, 5, n_part)[pid]
    treated = (rng.random(n_part) < 0.5)[pid]
    n = pid.size
    X = np.column_stack([np.ones(n), t, treated, rng.normal(size=n)])
    y = X @ [1.0, 0.3, 0.2, 0.5] + rng.normal(size=n_part)[pid] + rng.normal(size=n)
    post = (treated & (t > 0)).astype(float)
    z = {"none": None, "all": [treated.astype(float), post, None],
         "inner": [None, post, (t > 1).astype(float) + 0.5]}[which]
    groups = [site, mentor, pid]
    theta = np.array([0.8, 0.3, 0.5, 0.7, 0.6]) if slope else np.array([0.8, 0.7, 0.6])
    fast = LmmModel(y, X, groups, slope=t if slope else None, z=z)
    assert fast._compressed and fast._dense is not None
    monkeypatch.setattr(LmmModel, "_DENSE_MAX_CELLS", 0)
    sparse_carry = LmmModel(y, X, groups, slope=t if slope else None, z=z)
    assert sparse_carry._compressed and sparse_carry._dense is None
    assert sparse_carry.deviance(theta) == pytest.approx(fast.deviance(theta), rel=1e-12)
    monkeypatch.setattr(LmmModel, "_COMPRESS_MIN_GROUPS", 10**9)
    direct = LmmModel(y, X, groups, slope=t if slope else None, z=z)
    assert not direct._compressed
    assert fast.deviance(theta) == pytest.approx(direct.deviance(theta), rel=1e-12)
    assert fast.deviance(theta, reml=False) == pytest.approx(direct.deviance(theta, reml=False),
                                                             rel=1e-12)


def test_single_thread_blas_limits_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from mentor_eval.resources import single_thread_blas

    before = [i["num_threads"] for i in threadpoolctl.threadpool_info()
              if i["user_api"] == "blas"]
    with single_thread_blas():
        inside = [i["num_threads"] for i in threadpoolctl.threadpool_info()
                  if i["user_api"] == "blas"]
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert inside and all(n == 1 for n in inside)
    assert after == before


# ---------------------------------------------------------------------------- exact gradient
@pytest.mark.parametrize("slope", [False, True])
@pytest.mark.parametrize("which", ["one", "nested", "z"])
@pytest.mark.parametrize("reml", [True, False])
def test_analytic_gradient_matches_finite_differences(slope, which, reml):
    # the forward-mode gradient (used by the optimiser and Satterthwaite) against central
    # differences of the deviance, on unbalanced data with the value path checked too
    rng = np.random.default_rng(11)
    n_part = 120
    site = rng.integers(0, 6, n_part)
    mentor = site * 10 + rng.integers(0, 5, n_part)
    sizes = rng.integers(1, 6, n_part)
    pid = np.repeat(np.arange(n_part), sizes)
    t = np.concatenate([np.sort(rng.choice(6, s, replace=False)) for s in sizes]).astype(float)
    X = np.column_stack([np.ones(pid.size), t, rng.normal(size=pid.size)])
    y = (1 + 0.3 * t + rng.normal(0, 1, n_part)[pid] + rng.normal(0, 0.5, 60)[mentor[pid]]
         + rng.normal(0, 0.6, 6)[site[pid]] + rng.normal(size=pid.size))
    z = None
    if which == "one":
        levels = [pid]
    elif which == "nested":
        levels = [site[pid], mentor[pid], pid]
    else:
        treated = (rng.random(n_part) < 0.5)[pid].astype(float)
        levels, z = [mentor[pid], pid], [treated * (t > 1), None]
    m = LmmModel(y, X, levels, t if slope else None, z=z)
    theta = rng.uniform(0.3, 1.2, m.n_theta)
    if slope:
        theta[1] = -0.2
    dev, grad = m.deviance_and_gradient(theta, reml)
    assert dev == pytest.approx(m.deviance(theta, reml), rel=1e-12)
    h = 1e-5
    num = np.array([(m.deviance(theta + h * e, reml) - m.deviance(theta - h * e, reml)) / (2 * h)
                    for e in np.eye(theta.size)])
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------- setup helpers
def test_unique_rows_matches_numpy_unique_axis0():
    from mentor_eval.outcomes.lmm import _unique_rows

    rng = np.random.default_rng(5)
    key = rng.integers(0, 4, size=(5000, 3)).astype(float) * 0.5
    key[::7, 1] = -0.0  # equal to 0.0, as np.unique treats it
    rows, inv = _unique_rows(key)
    ref_rows, ref_inv = np.unique(key, axis=0, return_inverse=True)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(inv, ref_inv.ravel())


def test_sorted_and_first_appearance_codes_match_numpy_and_pandas():
    from mentor_eval.outcomes.lmm import _first_appearance_codes, _sorted_codes

    rng = np.random.default_rng(6)
    key = rng.integers(-50, 10_000, 20_000)
    np.testing.assert_array_equal(_sorted_codes(key), np.unique(key, return_inverse=True)[1])
    for raw in (pd.factorize(key)[0], key, np.array([0, 1, 1, 3, 2]), np.array([0, 1, -1, 2]),
                np.array(["b", "a", "b"])):
        np.testing.assert_array_equal(_first_appearance_codes(raw), pd.factorize(raw)[0])


@pytest.mark.parametrize("slope", [False, True])
def test_nested_model_does_not_depend_on_row_order(slope):
    # rows sorted by participant but not by site (the participants' groups contiguous yet out
    # of the parent-major group order), sorted by site, and shuffled: one model
    rng = np.random.default_rng(12)
    n_part = 300
    site = rng.integers(0, 8, n_part)
    sizes = rng.integers(1, 5, n_part)
    pid = np.repeat(np.arange(n_part), sizes)
    t = np.concatenate([np.sort(rng.choice(4, s, replace=False)) for s in sizes]).astype(float)
    X = np.column_stack([np.ones(pid.size), t, rng.normal(size=pid.size)])
    y = 1 + 0.2 * t + rng.normal(size=n_part)[pid] + rng.normal(size=8)[site[pid]] + rng.normal(
        size=pid.size)
    theta = np.array([0.8, -0.1, 0.4, 0.6]) if slope else np.array([0.8, 0.6])
    devs = []
    for order in (np.arange(pid.size), np.argsort(site[pid], kind="stable"),
                  rng.permutation(pid.size)):
        m = LmmModel(y[order], X[order], [site[pid][order], pid[order]],
                     t[order] if slope else None)
        devs.append(m.deviance_and_gradient(theta))
    for dev, grad in devs[1:]:
        assert dev == pytest.approx(devs[0][0], rel=1e-12)
        np.testing.assert_allclose(grad, devs[0][1], rtol=1e-9)


def test_design_columns_give_the_same_model_as_the_matrix(sim):
    y, X = sim.y.to_numpy(), _design(sim)
    levels = [sim.site.to_numpy(), sim.pid.to_numpy()]
    a = fit_lmm(y, X, levels)
    b = fit_lmm(y, [X[:, j].copy() for j in range(X.shape[1])], levels)
    np.testing.assert_allclose(b.beta, a.beta, rtol=1e-12)
    assert b.deviance == pytest.approx(a.deviance, rel=1e-13)
    with pytest.raises(AnalysisError, match="one row per observation"):
        LmmModel(y, [X[:-1, 0]], levels)
