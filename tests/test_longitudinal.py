"""Tests of the public longitudinal API (mixed_model, cluster_robust)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from mentor_eval.errors import AnalysisError, DataValidationError, MentorEvalError, ParameterError
from mentor_eval.outcomes.longitudinal import MixedModelResult, cluster_robust, mixed_model

DATA = Path(__file__).parent / "data"

WAVES = ["baseline", "midpoint", "post"]


def _study(
    n_part: int = 120,
    seed: int = 0,
    effect: tuple[float, ...] = (0.0, 0.4, 0.8),
    participant_sd: float = 1.0,
    missing: float = 0.0,
    n_sites: int = 0,
) -> pd.DataFrame:
    """Participants x waves with a known arm x wave effect (mentoring minus ctrl change)."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_part), len(WAVES))
    w = np.tile(np.arange(len(WAVES)), n_part)
    arm = np.where(np.arange(n_part) % 2 == 0, "ctrl", "mentoring")[pid]
    age = rng.normal(16, 2, n_part)[pid]
    score = (3.0 + 0.2 * w + np.where(arm == "mentoring", np.array(effect)[w], 0.0)
             + 0.05 * (age - 16) + rng.normal(0, participant_sd, n_part)[pid]
             + rng.normal(0, 0.5, pid.size))
    frame = pd.DataFrame({
        "participant_id": [f"P{i:04d}" for i in pid],
        "wave": pd.Categorical(np.array(WAVES)[w], categories=WAVES, ordered=True),
        "arm": arm,
        "age": age,
        "gender": np.where(rng.random(n_part) < 0.5, "f", "m")[pid],
        "score": score,
    })
    if n_sites:
        site = rng.integers(0, n_sites, n_part)
        frame["site_id"] = [f"S{s}" for s in site[pid]]
        frame["score"] += rng.normal(0, 0.4, n_sites)[site[pid]]
    if missing:
        frame.loc[rng.random(len(frame)) < missing, "score"] = np.nan
    return frame


@pytest.fixture(scope="module")
def balanced() -> pd.DataFrame:
    return _study(n_part=40, seed=3)


@pytest.fixture(scope="module")
def balanced_fit(balanced) -> MixedModelResult:
    return mixed_model(balanced)


# ---------------------------------------------------------------------------- known answers
def test_balanced_emmeans_are_cell_means(balanced, balanced_fit):
    res = balanced_fit
    cells = balanced.groupby(["wave", "arm"], observed=True)["score"].agg(["mean", "size"])
    em = res.emmeans.set_index(["wave", "arm"])
    for (w, a), row in cells.iterrows():
        assert em.loc[(w, a), "estimate"] == pytest.approx(row["mean"], abs=1e-8)
        assert em.loc[(w, a), "n"] == row["size"]
    # var(cell mean) = (tau^2 + sigma^2) / n in a balanced complete design
    total = res.variance["variance"].sum()
    np.testing.assert_allclose(res.emmeans["se"], np.sqrt(total / 20), rtol=1e-6)
    assert list(res.emmeans["wave"]) == [w for w in WAVES for _ in range(2)]
    assert list(res.emmeans["arm"].unique()) == ["ctrl", "mentoring"]


def test_balanced_contrasts_and_split_plot_df(balanced, balanced_fit):
    res = balanced_fit
    m = balanced.groupby(["wave", "arm"], observed=True)["score"].mean().unstack()
    con = res.contrasts
    arm_rows = con[con["type"] == "arm_vs_control"].set_index("wave")
    for w in WAVES:
        assert arm_rows.loc[w, "estimate"] == pytest.approx(m.loc[w, "mentoring"] - m.loc[w, "ctrl"],
                                                            abs=1e-8)
    did = con[con["type"] == "change_vs_control"].set_index("wave")
    assert list(did.index) == ["midpoint", "post"]
    for w in ["midpoint", "post"]:
        expected = (m.loc[w, "mentoring"] - m.loc["baseline", "mentoring"]) - (
            m.loc[w, "ctrl"] - m.loc["baseline", "ctrl"])
        assert did.loc[w, "estimate"] == pytest.approx(expected, abs=1e-8)
    # Within-participant contrasts of a balanced split-plot design: Satterthwaite df equal the
    # within-stratum error df (N - arms)(waves - 1) = 38 * 2.
    np.testing.assert_allclose(did["df"], 76.0, rtol=1e-6)
    fixed = res.fixed.set_index("term")
    np.testing.assert_allclose(fixed.loc["wave[T.post]:arm[T.mentoring]", "df"], 76.0, rtol=1e-6)
    assert fixed.loc["wave[T.post]:arm[T.mentoring]", "estimate"] == pytest.approx(
        did.loc["post", "estimate"], abs=1e-10)
    # CI and p are consistent with t and df
    row = did.loc["post"]
    from scipy import stats
    q = stats.t.ppf(0.975, row["df"])
    assert row["ci_low"] == pytest.approx(row["estimate"] - q * row["se"], rel=1e-10)
    assert row["p"] == pytest.approx(2 * stats.t.sf(abs(row["t"]), row["df"]), rel=1e-10)


def test_recovers_known_effect_with_missing_waves():
    data = _study(n_part=400, seed=11, missing=0.15)
    res = mixed_model(data, covariates=["age"])
    did = res.contrasts[res.contrasts["type"] == "change_vs_control"].set_index("wave")
    for w, truth in [("midpoint", 0.4), ("post", 0.8)]:
        assert did.loc[w, "ci_low"] < truth < did.loc[w, "ci_high"]
        assert abs(did.loc[w, "estimate"] - truth) < 0.12
        assert did.loc[w, "p"] < 1e-4
    assert res.info["n_dropped_missing"] == int(data["score"].isna().sum())
    assert res.info["n_obs"] == int(data["score"].notna().sum())
    # participants with a missing wave stay in the model (no listwise deletion)
    observed = data.dropna(subset=["score"])
    assert res.info["n_clusters"]["participant_id"] == observed["participant_id"].nunique()
    assert (observed.groupby("participant_id").size() < 3).sum() > 50
    var = res.variance.set_index("level")["variance"]
    assert var["participant_id"] == pytest.approx(1.0, abs=0.25)
    assert var["residual"] == pytest.approx(0.25, abs=0.05)


def test_info_and_structure(balanced_fit):
    info = balanced_fit.info
    assert info["engine"] == "mentor_eval"
    assert info["method"] == "REML" and info["df_method"] == "Satterthwaite"
    assert info["control_arm"] == "ctrl" and info["waves"] == WAVES
    assert info["converged"] and not info["boundary"]
    assert info["n_obs"] == 120 and info["n_dropped_missing"] == 0
    assert info["REML_criterion"] == pytest.approx(-2 * info["logLik"])
    k = 6 + 1 + 1  # fixed effects, one variance, sigma
    assert info["AIC"] == pytest.approx(info["REML_criterion"] + 2 * k)
    assert info["BIC"] == pytest.approx(info["REML_criterion"] + np.log(120) * k)
    assert info["formula"] == "score ~ wave * arm + (1 | participant_id)"
    assert list(balanced_fit.fixed.columns) == ["term", "estimate", "se", "df", "t", "p", "ci_low",
                                                "ci_high"]
    icc = balanced_fit.icc.set_index("level")["icc"]
    v = balanced_fit.variance.set_index("level")["variance"]
    assert icc["participant_id"] == pytest.approx(v["participant_id"] / v.sum())


def test_covariates_at_means_and_factor_levels_equally_weighted():
    data = _study(n_part=60, seed=5)
    res = mixed_model(data, covariates=["age", "gender"])
    beta = res.fixed.set_index("term")["estimate"]
    row = res.emmeans.iloc[5]  # post x mentoring
    expected = (beta["Intercept"] + beta["wave[T.post]"] + beta["arm[T.mentoring]"]
                + beta["wave[T.post]:arm[T.mentoring]"] + beta["age"] * data["age"].mean()
                + beta["gender[T.m]"] * 0.5)
    assert (row["wave"], row["arm"]) == ("post", "mentoring")
    assert row["estimate"] == pytest.approx(expected, rel=1e-10)
    lvec = np.zeros(len(beta))
    idx = {t: i for i, t in enumerate(beta.index)}
    for t, val in [("Intercept", 1), ("wave[T.post]", 1), ("arm[T.mentoring]", 1),
                   ("wave[T.post]:arm[T.mentoring]", 1), ("age", data["age"].mean()),
                   ("gender[T.m]", 0.5)]:
        lvec[idx[t]] = val
    assert row["se"] == pytest.approx(np.sqrt(lvec @ res.vcov.to_numpy() @ lvec), rel=1e-10)


def test_outcome_filter_adds_outcome_column(balanced):
    two = pd.concat([balanced.assign(outcome="hope.total"),
                     balanced.assign(outcome="belonging.total", score=balanced["score"] * 2)])
    res = mixed_model(two, "belonging.total")
    assert (res.fixed["outcome"] == "belonging.total").all()
    assert res.emmeans.columns[0] == "outcome"
    ref = mixed_model(balanced.assign(score=balanced["score"] * 2))
    np.testing.assert_allclose(res.fixed["estimate"], ref.fixed["estimate"], rtol=1e-10)
    with pytest.raises(ParameterError, match="outcome"):
        mixed_model(two)
    with pytest.raises(ParameterError, match="matches no row"):
        mixed_model(two, "nope")


def test_nested_clusters_and_statsmodels_engine_agree():
    data = _study(n_part=90, seed=10, n_sites=6)
    ours = mixed_model(data, clusters=["site_id"])
    ref = mixed_model(data, clusters=["site_id"], engine="statsmodels")
    assert ours.info["engine"] == "mentor_eval" and ref.info["engine"] == "statsmodels"
    assert ours.info["n_clusters"] == {"site_id": 6, "participant_id": 90}
    assert ours.info["formula"].endswith("(1 | site_id/participant_id)")
    np.testing.assert_allclose(ours.fixed["estimate"], ref.fixed["estimate"], rtol=1e-4, atol=1e-6)
    assert ours.variance["variance"].min() > 0.1  # not a boundary fit
    np.testing.assert_allclose(ours.variance["variance"], ref.variance["variance"], rtol=1e-3)
    # our optimum is at least as good as statsmodels'
    assert ours.info["logLik"] >= ref.info["logLik"] - 1e-8
    assert list(ours.icc["level"]) == ["site_id", "participant_id"]


def test_fit_row_restates_info_with_lme4_parameter_count(balanced_fit):
    fit = balanced_fit.fit
    assert list(fit.columns) == ["model", "n", "n_obs", "n_params", "estimation", "cluster_method", "vcov",
                                 "df_method", "logLik", "AIC", "BIC", "singular", "converged"]
    row = fit.iloc[0]
    info = balanced_fit.info
    assert row["n"] == info["n_clusters"]["participant_id"] == 40 and row["n_obs"] == 120
    assert row["n_params"] == 6 + 1 + 1  # fixed effects, one variance, sigma: AIC = -2 logLik + 2 k
    assert row["AIC"] == pytest.approx(-2 * row["logLik"] + 2 * row["n_params"], rel=1e-12)
    assert row["BIC"] == pytest.approx(-2 * row["logLik"] + np.log(120) * row["n_params"], rel=1e-12)
    assert (row["estimation"], row["df_method"], row["singular"]) == ("REML", "Satterthwaite", False)
    data = _study(n_part=90, seed=10, n_sites=6)
    per_outcome = mixed_model(data.assign(outcome="hope.total"), "hope.total", clusters=["site_id"]).fit
    assert per_outcome.columns[0] == "outcome" and per_outcome["outcome"].tolist() == ["hope.total"]
    assert per_outcome["n_params"].iloc[0] == 6 + 2 + 1  # two variances now (site, participant)


def test_random_slope_model():
    rng = np.random.default_rng(21)
    n_part = 300
    data = _study(n_part=n_part, seed=21, effect=(0.0, 0.3, 0.6))
    pid = data["participant_id"].str[1:].astype(int).to_numpy()
    w = data["wave"].cat.codes.to_numpy()
    data["score"] += rng.normal(0, 0.3, n_part)[pid] * w
    res = mixed_model(data, random_slope=True)
    fixed = res.fixed.set_index("term")
    assert list(fixed.index) == ["Intercept", "time", "arm[T.mentoring]", "time:arm[T.mentoring]"]
    slope = fixed.loc["time:arm[T.mentoring]"]
    assert slope["ci_low"] < 0.3 < slope["ci_high"]
    var = res.variance.set_index("component")
    assert var.loc["time", "variance"] == pytest.approx(0.09, abs=0.04)
    assert -1 <= var.loc["cov((Intercept), time)", "corr"] <= 1
    assert res.info["formula"] == "score ~ time * arm + (1 + time | participant_id)"
    # emmeans follow the linear trend: post - baseline = 2 * slope in each arm
    em = res.emmeans.set_index(["wave", "arm"])["estimate"]
    assert em[("post", "ctrl")] - em[("baseline", "ctrl")] == pytest.approx(
        2 * fixed.loc["time", "estimate"], rel=1e-10)
    did = res.contrasts[res.contrasts["type"] == "change_vs_control"].set_index("wave")
    assert did.loc["post", "estimate"] == pytest.approx(2 * slope["estimate"], rel=1e-10)


def test_boundary_fit_gives_note_not_error():
    data = _study(n_part=60, seed=2, participant_sd=0.0)
    data["score"] = data["score"] - data.groupby("participant_id")["score"].transform("mean") \
        + data.groupby("arm")["score"].transform("mean")
    res = mixed_model(data)
    assert res.info["boundary"]
    assert any("participant_id" in note and "zero" in note for note in res.info["notes"])
    assert res.variance.set_index("level").loc["participant_id", "variance"] == 0.0
    assert np.isfinite(res.fixed["se"]).all()


def test_asymptotic_df_and_ml(balanced):
    res = mixed_model(balanced, method="ML", df_method="asymptotic", ci_level=0.9)
    assert np.isinf(res.fixed["df"]).all()
    assert res.info["df_method"] == "asymptotic" and np.isnan(res.info["REML_criterion"])
    row = res.fixed.iloc[1]
    assert row["ci_high"] - row["estimate"] == pytest.approx(1.6448536269514722 * row["se"], rel=1e-9)
    ref = sm.MixedLM.from_formula("score ~ C(wave, Treatment('baseline')) * arm", balanced,
                                  groups="participant_id").fit(reml=False, method="bfgs", gtol=1e-10)
    np.testing.assert_allclose(res.fixed["estimate"], ref.fe_params.to_numpy(), rtol=1e-5, atol=1e-8)
    assert res.info["logLik"] == pytest.approx(ref.llf, abs=1e-6)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("change", "kwargs", "error", "match"),
    [
        (lambda d: d.drop(columns="arm"), {}, ParameterError, "'arm'"),
        (lambda d: d[d["wave"] == "post"], {}, AnalysisError, "only one wave"),
        (lambda d: d[d["arm"] == "ctrl"], {"control": "mentoring"}, ParameterError, "'control'"),
        (lambda d: d.assign(score=d["score"].astype(str)), {}, ParameterError, "numeric"),
        (lambda d: d, {"method": "reml"}, ParameterError, "'method'"),
        (lambda d: d, {"df_method": "kenward-roger"}, ParameterError, "'df_method'"),
        (lambda d: d, {"control": "waitlist"}, ParameterError, "'control'"),
        (lambda d: d, {"ci_level": 1.5}, ParameterError, "'ci_level'"),
        (lambda d: d, {"engine": "lme4"}, ParameterError, "'engine'"),
        (lambda d: d, {"clusters": ["participant_id"]}, ParameterError, "innermost"),
        (lambda d: pd.concat([d, d.iloc[:2]]), {}, DataValidationError, "more than once"),
        # partially nested: control without a site is fine, but one site is no variance
        (lambda d: d.assign(site_id=np.where(d["arm"] == "ctrl", None, "S1")),
         {"clusters": ["site_id"]}, AnalysisError, "at least two clusters"),
        (lambda d: d, {"clusters": ["participant_id"]}, ParameterError, "innermost"),
        (lambda d: d, {"cluster_waves": "baseline"}, ParameterError, "'cluster_waves'"),
        (lambda d: d, {"missing_cluster": "drop"}, ParameterError, "'missing_cluster'"),
        (lambda d: d.assign(mentor_id=d["participant_id"]), {"clusters": ["mentor_id"]},
         AnalysisError, "single participant"),
        (lambda d: d.assign(mentor_id=None), {"clusters": ["mentor_id"]},
         DataValidationError, "no value for any participant"),
        (lambda d: d.assign(site_id=["S1", "S2"] * 60), {"clusters": ["site_id"],
                                                         "cluster_waves": {"mentor": "all"}},
         ParameterError, "not one of the clusters"),
        (lambda d: d[~((d["wave"] == "post") & (d["arm"] == "ctrl"))], {}, AnalysisError, "cell"),
        (lambda d: d.assign(age=1.0), {"covariates": ["age"]}, AnalysisError, "rank deficient"),
        (lambda d: d.assign(arm=np.where(d.index % 3 == 0, "ctrl", "mentoring")), {},
         DataValidationError, "more than one arm"),
    ],
)
def test_bad_input_raises_clear_errors(balanced, change, kwargs, error, match):
    with pytest.raises(error, match=match):
        mixed_model(change(balanced.reset_index(drop=True)), **kwargs)


def test_errors_are_mentor_eval_errors(balanced):
    with pytest.raises(MentorEvalError):
        mixed_model(balanced.to_dict())  # not a DataFrame


# ---------------------------------------------------------------------------- cluster_robust
def test_cluster_robust_ols_matches_statsmodels_cr1():
    data = _study(n_part=80, seed=4, missing=0.1, n_sites=8)
    out = cluster_robust(data, covariates=["age"], cluster="site_id")
    obs = data.dropna(subset=["score"])
    ref = sm.OLS.from_formula("score ~ C(wave, Treatment('baseline')) * arm + age", obs).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(obs["site_id"])[0]}, use_t=True)
    np.testing.assert_allclose(out["estimate"], ref.params.to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["se"], ref.bse.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(out["p"], ref.pvalues.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(out["ci_low"], ref.conf_int()[0].to_numpy(), rtol=1e-9)
    assert (out["n_clusters"] == 8).all() and (out["df"] == 7).all()
    assert list(out.columns[:4]) == ["term", "estimate", "se", "t"]


def test_cluster_robust_gee_exchangeable():
    data = _study(n_part=80, seed=6)
    out = cluster_robust(data, kind="gee")
    ref = sm.GEE.from_formula("score ~ C(wave, Treatment('baseline')) * arm", "participant_id", data,
                              cov_struct=sm.cov_struct.Exchangeable()).fit()
    np.testing.assert_allclose(out["estimate"], ref.params.to_numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out["se"], ref.bse.to_numpy(), rtol=1e-5)
    assert "z" in out.columns and (out["n_clusters"] == 80).all()
    # balanced complete data: exchangeable GEE = OLS point estimates = cell-mean contrasts
    ols = cluster_robust(data)
    np.testing.assert_allclose(out["estimate"], ols["estimate"], rtol=1e-6, atol=1e-9)


def test_lazy_public_names():
    import mentor_eval.outcomes as outcomes

    assert outcomes.mixed_model is mixed_model
    assert outcomes.cluster_robust is cluster_robust


# ---------------------------------------------------------------------------- partially nested
@pytest.fixture(scope="module")
def pn_long() -> pd.DataFrame:
    d = pd.read_csv(DATA / "lmm_z" / "longitudinal.csv")
    # control participants have no mentor (lme4 needed the placeholder level "none")
    return d.assign(mentor=d["mentor"].where(d["arm"] == "mentoring"),
                    wave=pd.Categorical(d["wave"], ["baseline", "midpoint", "post"], ordered=True))


@pytest.fixture(scope="module")
def pn_fit(pn_long) -> MixedModelResult:
    return mixed_model(pn_long, score="y", participant="participant", clusters=["mentor"])


def test_post_baseline_partially_nested_matches_lme4(pn_fit):
    # lmer(y ~ wave * arm + (1 | participant) + (0 + post_treated | mentor)) + emmeans
    e = json.loads((DATA / "lmm_z" / "expected.json").read_text())["longitudinal_post_baseline"]
    res = pn_fit
    assert res.info["cluster_waves"] == {"mentor": "post-baseline"}
    assert res.info["clustered_arms"] == {"mentor": ["mentoring"]}
    assert res.info["formula"] == ("y ~ wave * arm + (0 + post_mentor | mentor) + "
                                   "(1 | mentor:participant)")
    assert res.info["REML_criterion"] == pytest.approx(e["REML_criterion"], abs=1e-6)
    r_names = ["(Intercept)", "wavemidpoint", "wavepost", "armmentoring",
               "wavemidpoint:armmentoring", "wavepost:armmentoring"]
    fixed = res.fixed
    np.testing.assert_allclose(fixed["estimate"], [e["fixef"][k] for k in r_names], rtol=1e-6)
    np.testing.assert_allclose(fixed["se"], [e["se"][k] for k in r_names], rtol=1e-5)
    np.testing.assert_allclose(fixed["df"], [e["df"][k] for k in r_names], rtol=1e-5)
    var = res.variance.set_index("level")
    assert var.loc["mentor", "component"] == "post-baseline"
    assert var.loc["mentor", "variance"] == pytest.approx(e["varcomp"]["mentor"], rel=1e-5)
    assert var.loc["participant", "variance"] == pytest.approx(e["varcomp"]["participant"], rel=1e-5)
    em = res.emmeans.set_index(["wave", "arm"])
    r_em = pd.DataFrame(e["emmeans"]).set_index(["wave", "arm"]).loc[em.index]
    np.testing.assert_allclose(em["estimate"], r_em["emmean"], rtol=1e-6)
    np.testing.assert_allclose(em["se"], r_em["se"], rtol=1e-5)
    np.testing.assert_allclose(em["df"], r_em["df"], rtol=1e-4)
    post = res.contrasts.set_index(["type", "wave"]).loc[("arm_vs_control", "post")]
    c = e["contrast_post_arm"]
    assert post["se"] == pytest.approx(c["se"], rel=1e-5)
    assert post["df"] == pytest.approx(c["df"], rel=1e-4)
    assert post["p"] == pytest.approx(c["p"], rel=1e-3)
    icc = res.icc.set_index("level")
    assert icc.loc["mentor", "n_clusters"] == 12 and icc.loc["participant", "n_clusters"] == 120
    assert not icc["singular"].any() and res.info["singular"] is False
    assert any("partially nested" in n for n in res.info["notes"])


def test_mentor_recorded_from_midpoint_places_the_baseline_row(pn_long, pn_fit):
    # A mentor assigned after baseline is often blank on the baseline row: same model.
    blank = pn_long.assign(mentor=pn_long["mentor"].where(pn_long["wave"] != "baseline"))
    res = mixed_model(blank, score="y", participant="participant", clusters=["mentor"])
    assert res.info["REML_criterion"] == pytest.approx(pn_fit.info["REML_criterion"], abs=1e-9)
    assert res.info["n_clusters"] == pn_fit.info["n_clusters"]


def test_cluster_waves_all_and_own_clusters(pn_long):
    # cluster_waves="all": the mentor effect on every wave, control still unclustered; the
    # same as the engine with z = treated on every row.
    from mentor_eval.outcomes.lmm import fit_lmm

    res = mixed_model(pn_long, score="y", participant="participant", clusters=["mentor"],
                      cluster_waves="all")
    treated = (pn_long["arm"] == "mentoring").to_numpy(float)
    X = np.column_stack([np.ones(len(pn_long))] + [
        (pn_long["wave"] == w).to_numpy(float) for w in ("midpoint", "post")] + [treated] + [
        (pn_long["wave"] == w).to_numpy(float) * treated for w in ("midpoint", "post")])
    ref = fit_lmm(pn_long["y"].to_numpy(), X,
                  [pn_long["mentor"].fillna("none").to_numpy(), pn_long["participant"].to_numpy()],
                  z=[treated, None])
    assert res.info["REML_criterion"] == pytest.approx(ref.deviance, abs=1e-8)
    assert res.variance.set_index("level").loc["mentor", "component"] == "(Intercept)"
    # missing_cluster="own": every control participant is a mentor cluster of one (the old
    # treatment), i.e. the classic nested model on the filled column
    own = mixed_model(pn_long, score="y", participant="participant", clusters=["mentor"],
                      cluster_waves="all", missing_cluster="own")
    filled = pn_long.assign(mentor=pn_long["mentor"].fillna("own:" + pn_long["participant"]))
    classic = mixed_model(filled, score="y", participant="participant", clusters=["mentor"])
    assert classic.info["cluster_waves"] == {"mentor": "all"}
    assert own.info["REML_criterion"] == pytest.approx(classic.info["REML_criterion"], abs=1e-9)
    assert classic.info["formula"].endswith("(1 | mentor/participant)")


def test_partly_missing_cluster_in_an_arm(pn_long):
    d = pn_long.copy()
    lost = d["participant"].isin(["Q061", "Q062"])
    d.loc[lost, "mentor"] = np.nan
    with pytest.raises(DataValidationError, match=r"'mentor' is missing for 2 of 60 .*'mentoring'"):
        mixed_model(d, score="y", participant="participant", clusters=["mentor"])
    res = mixed_model(d, score="y", participant="participant", clusters=["mentor"],
                      missing_cluster="unclustered")
    assert any("2 participant(s) of arm(s) 'mentoring'" in n for n in res.info["notes"])
    with pytest.raises(ParameterError, match="statsmodels"):
        mixed_model(d, score="y", participant="participant", clusters=["mentor"],
                    missing_cluster="unclustered", engine="statsmodels")


def test_singular_fit_is_reported(pn_long):
    # remove every trace of a mentor effect: the mentor variance is estimated at zero
    d = pn_long.copy()
    post = (d["wave"] != "baseline") & d["mentor"].notna()
    cell = d[post].groupby(["mentor", "wave"], observed=True)["y"].transform("mean")
    arm_cell = d[post].groupby(["wave"], observed=True)["y"].transform("mean")
    d.loc[post, "y"] = d.loc[post, "y"] - cell + arm_cell
    res = mixed_model(d, score="y", participant="participant", clusters=["mentor"])
    assert res.info["singular"] and res.info["boundary"]
    icc = res.icc.set_index("level")
    assert bool(icc.loc["mentor", "singular"]) and not bool(icc.loc["participant", "singular"])
    assert any("'mentor'" in n and "zero" in n for n in res.info["notes"])


# ---------------------------------------------------------------------------- single arm
def test_single_arm_study_gives_change_over_waves():
    data = _study(n_part=40, seed=3)
    one = data[data["arm"] == "mentoring"]
    res = mixed_model(one)
    assert res.info["single_arm"] and res.info["control_arm"] is None
    assert res.info["formula"] == "score ~ wave + (1 | participant_id)"
    assert list(res.fixed["term"]) == ["Intercept", "wave[T.midpoint]", "wave[T.post]"]
    means = one.groupby("wave", observed=True)["score"].mean()
    np.testing.assert_allclose(res.emmeans["estimate"], means.to_numpy(), atol=1e-9)
    assert list(res.emmeans["arm"]) == ["mentoring"] * 3
    con = res.contrasts.set_index("wave")
    assert list(con["type"]) == ["change", "change"]
    assert list(con["contrast"]) == ["midpoint - baseline", "post - baseline"]
    for w in ("midpoint", "post"):
        assert con.loc[w, "estimate"] == pytest.approx(means[w] - means["baseline"], abs=1e-9)
    # complete balanced one-way repeated measures: within df = (n - 1)(waves - 1)
    np.testing.assert_allclose(con["df"], 19 * 2, rtol=1e-6)
    # paired t on post - baseline equals the change contrast's t with the pooled error term
    wide = one.pivot(index="participant_id", columns="wave", values="score")
    diff = wide["post"] - wide["baseline"]
    assert con.loc["post", "estimate"] == pytest.approx(diff.mean(), abs=1e-9)
    # no arm column at all (arm=None) gives the same model
    res2 = mixed_model(one.drop(columns="arm"), arm=None)
    np.testing.assert_allclose(res2.contrasts["estimate"], res.contrasts["estimate"], rtol=1e-12)
    assert res2.info["REML_criterion"] == pytest.approx(res.info["REML_criterion"], abs=1e-10)
