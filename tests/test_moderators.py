"""Known-answer tests for moderation and dose-response (regression algebra, statsmodels, scipy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError
from mentor_eval.outcomes import dose_response, moderation


def _analysis_frame(n_per_arm: int = 40, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arms = np.repeat(["ctrl", "nw", "sc"], n_per_arm)
    n = arms.size
    people = pd.DataFrame(
        {
            "participant_id": [f"p{i:03d}" for i in range(n)],
            "arm": arms,
            "gender": rng.choice(["boy", "girl", "nb"], size=n, p=[0.45, 0.45, 0.10]),
            "age": rng.integers(12, 18, size=n).astype(float),
            "site_id": rng.choice(["s1", "s2", "s3"], size=n),
            "baseline_risk": rng.normal(size=n),
            "sessions_attended": np.where(arms == "ctrl", 0, rng.integers(0, 25, size=n)).astype(float),
        }
    )
    frames = []
    for k, outcome in enumerate(["adult_hope_scale.total", "general_belongingness_scale.total"]):
        pre = rng.normal(30 + k, 5, size=n)
        girl = (people["gender"] == "girl").to_numpy()
        nw = (people["arm"] == "nw").to_numpy()
        post = (
            5 + 0.8 * pre + 1.5 * nw + 2.0 * nw * girl + 0.1 * people["sessions_attended"].to_numpy()
            + 0.2 * people["age"].to_numpy() + rng.normal(0, 3, size=n)
        )
        frames.append(people.assign(wave="baseline", outcome=outcome, score=pre))
        frames.append(people.assign(wave="post", outcome=outcome, score=post))
    return pd.concat(frames, ignore_index=True)


def _wide(long: pd.DataFrame, outcome: str) -> pd.DataFrame:
    one = long[long.outcome == outcome]
    w = one.pivot(index="participant_id", columns="wave", values="score").rename(
        columns={"baseline": "pre", "post": "post"}
    )
    person = one.drop_duplicates("participant_id").set_index("participant_id").drop(columns=["wave", "score", "outcome"])
    return person.join(w).reset_index()


# --------------------------------------------------------------------------- moderation


def test_moderation_matches_normal_equations_and_nested_f():
    long = _analysis_frame()
    out = "adult_hope_scale.total"
    res = moderation(long, out, moderator="gender", covariates=["age", "site_id"], control="ctrl")
    w = _wide(long, out)

    # Design by hand: 1, pre, arm dummies, gender dummies, their products, age, site dummies.
    cols = {"1": np.ones(len(w)), "pre": w["pre"].to_numpy()}
    for a in ("nw", "sc"):
        cols[a] = (w.arm == a).to_numpy(float)
    for g in ("girl", "nb"):
        cols[g] = (w.gender == g).to_numpy(float)
    inter = [f"{a}:{g}" for a in ("nw", "sc") for g in ("girl", "nb")]
    for term in inter:
        a, g = term.split(":")
        cols[term] = cols[a] * cols[g]
    cols["age"] = w["age"].to_numpy()
    for s in ("s2", "s3"):
        cols[s] = (w.site_id == s).to_numpy(float)
    x = np.column_stack(list(cols.values()))
    y = w["post"].to_numpy()
    beta = np.linalg.solve(x.T @ x, x.T @ y)
    rss = float(np.sum((y - x @ beta) ** 2))
    df = len(y) - x.shape[1]
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ x)) * rss / df)
    names = list(cols)

    coef = res[res.test == "interaction"].reset_index(drop=True)
    assert list(coef["term"]) == ["arm[nw]:gender[girl]", "arm[nw]:gender[nb]", "arm[sc]:gender[girl]", "arm[sc]:gender[nb]"]
    idx = [names.index(t) for t in inter]
    np.testing.assert_allclose(coef["estimate"], beta[idx], rtol=0, atol=1e-10)
    np.testing.assert_allclose(coef["se"], se[idx], rtol=1e-10)
    t = beta[idx] / se[idx]
    np.testing.assert_allclose(coef["p"], 2 * stats.t.sf(np.abs(t), df), rtol=1e-9)
    q = stats.t.ppf(0.975, df)
    np.testing.assert_allclose(coef["ci_low"], beta[idx] - q * se[idx], atol=1e-10)
    np.testing.assert_allclose(coef["t"], t, rtol=1e-9)
    assert coef["F"].isna().all()
    assert (coef["df"] == df).all() and (coef["df_denom"] == df).all() and (coef["df_num"] == 1).all()
    assert (coef["n"] == len(y)).all()

    # Joint F as the nested-model comparison: drop the four interaction columns.
    keep = [i for i in range(x.shape[1]) if i not in idx]
    xr = x[:, keep]
    br = np.linalg.lstsq(xr, y, rcond=None)[0]
    rss_r = float(np.sum((y - xr @ br) ** 2))
    f = ((rss_r - rss) / 4) / (rss / df)
    frow = res[res.test == "interaction F"].iloc[0]
    assert frow["F"] == pytest.approx(f, rel=1e-9) and np.isnan(frow["t"])
    assert frow["p"] == pytest.approx(stats.f.sf(f, 4, df), rel=1e-9)
    assert (frow["df_num"], frow["df_denom"]) == (4, df)
    assert set(res["status"]) == {"exploratory"}


def test_moderation_matches_statsmodels_and_subgroup_effects():
    long = _analysis_frame(seed=11)
    out = "general_belongingness_scale.total"
    w = _wide(long, out)
    fit = smf.ols("post ~ pre + C(arm, Treatment('ctrl')) * C(gender) + baseline_risk", data=w).fit()
    res = moderation(long, out, moderator="gender", covariates=["baseline_risk"], control="ctrl",
                     preregistered=True)
    coef = res[res.test == "interaction"].set_index("term")
    sm_name = "C(arm, Treatment('ctrl'))[T.sc]:C(gender)[T.nb]"
    assert coef.loc["arm[sc]:gender[nb]", "estimate"] == pytest.approx(fit.params[sm_name], abs=1e-9)
    assert coef.loc["arm[sc]:gender[nb]", "se"] == pytest.approx(fit.bse[sm_name], rel=1e-8)
    # the joint interaction F equals statsmodels' Wald F on the same four terms
    inter_names = [n for n in fit.params.index if ":" in n]
    r = np.zeros((len(inter_names), len(fit.params)))
    for i, n in enumerate(inter_names):
        r[i, list(fit.params.index).index(n)] = 1
    ft = fit.f_test(r)
    frow = res[res.test == "interaction F"].iloc[0]
    assert frow["F"] == pytest.approx(float(np.squeeze(ft.fvalue)), rel=1e-9)
    # subgroup effect of nw among girls = nw main effect + nw:girl
    tt = fit.t_test(
        " + ".join(
            ["C(arm, Treatment('ctrl'))[T.nw]", "C(arm, Treatment('ctrl'))[T.nw]:C(gender)[T.girl]"]
        ) + " = 0"
    )
    sub = res[(res.test == "subgroup effect") & (res.arm == "nw") & (res.level == "girl")].iloc[0]
    assert sub["estimate"] == pytest.approx(float(np.squeeze(tt.effect)), abs=1e-9)
    assert sub["se"] == pytest.approx(float(np.squeeze(tt.sd)), rel=1e-8)
    boys = res[(res.test == "subgroup effect") & (res.arm == "sc") & (res.level == "boy")].iloc[0]
    assert boys["estimate"] == pytest.approx(fit.params["C(arm, Treatment('ctrl'))[T.sc]"], abs=1e-9)
    assert set(res["status"]) == {"pre-specified"}


def test_moderation_continuous_moderator_and_all_outcomes():
    long = _analysis_frame(seed=3)
    res = moderation(long, moderator="baseline_risk", control="ctrl")
    assert set(res["outcome"]) == {"adult_hope_scale.total", "general_belongingness_scale.total"}
    assert "subgroup effect" not in set(res["test"])
    one = res[(res.outcome == "adult_hope_scale.total") & (res.test == "interaction")].set_index("term")
    w = _wide(long, "adult_hope_scale.total")
    fit = smf.ols("post ~ pre + C(arm) * baseline_risk", data=w).fit()
    assert one.loc["arm[sc]:baseline_risk", "estimate"] == pytest.approx(
        fit.params["C(arm)[T.sc]:baseline_risk"], abs=1e-9
    )
    assert one.loc["arm[sc]:baseline_risk", "p"] == pytest.approx(fit.pvalues["C(arm)[T.sc]:baseline_risk"], rel=1e-7)


def test_moderation_reports_excluded_and_errors():
    long = _analysis_frame()
    drop = long.participant_id.isin(["p000", "p001", "p050"]) & (long.wave == "post")
    res = moderation(long[~drop], "adult_hope_scale.total", moderator="gender")
    assert (res["n"] == 117).all() and (res["n_excluded"] == 3).all()

    varying = long.copy()
    varying.loc[0, "gender"] = "boy" if varying.loc[0, "gender"] != "boy" else "girl"
    with pytest.raises(DataValidationError, match="within a participant"):
        moderation(varying, moderator="gender")
    with pytest.raises(DataValidationError, match="pre wave 'pre'"):
        moderation(long, moderator="gender", pre="pre")
    with pytest.raises(ParameterError, match="not in data"):
        moderation(long, "hope", moderator="gender")
    with pytest.raises(ParameterError, match="lacks the column"):
        moderation(long, moderator="income")
    with pytest.raises(ParameterError, match="'control'"):
        moderation(long, moderator="gender", control="waitlist")
    # an empty arm x subgroup cell makes the interaction inestimable
    empty = long[~((long.arm == "sc") & (long.gender == "nb"))]
    with pytest.raises(AnalysisError, match="empty"):
        moderation(empty, moderator="gender")
    single = long.assign(gender="girl")
    with pytest.raises(AnalysisError, match="single level"):
        moderation(single, moderator="gender")


# --------------------------------------------------------------------------- dose-response


def test_dose_change_slope_equals_simple_regression():
    long = _analysis_frame()
    out = "adult_hope_scale.total"
    res = dose_response(long, out, method="change")
    # default arms: those with any non-zero dose (not ctrl)
    assert list(res["arm"]) == ["nw", "sc", "pooled"]
    w = _wide(long, out)
    sub = w[w.arm == "nw"]
    lr = stats.linregress(sub["sessions_attended"], sub["post"] - sub["pre"])
    row = res[res.arm == "nw"].iloc[0]
    assert row["estimate"] == pytest.approx(lr.slope, abs=1e-10)
    assert row["se"] == pytest.approx(lr.stderr, rel=1e-9)
    assert row["p"] == pytest.approx(lr.pvalue, rel=1e-7)
    assert row["df"] == len(sub) - 2 and row["n"] == len(sub)
    # hand formula: slope = Sxy / Sxx
    x = sub["sessions_attended"].to_numpy()
    y = (sub["post"] - sub["pre"]).to_numpy()
    assert row["estimate"] == pytest.approx(np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2))
    assert row["status"] == "exploratory"
    assert row["model"] == "(post - pre) ~ sessions_attended"


def test_dose_ancova_and_pooled_match_statsmodels():
    long = _analysis_frame(seed=5)
    out = "general_belongingness_scale.total"
    res = dose_response(long, out, arms=["nw", "sc"], covariates=["age"], preregistered=True).set_index("arm")
    w = _wide(long, out)
    mentored = w[w.arm.isin(["nw", "sc"])]
    fit = smf.ols("post ~ pre + sessions_attended + age", data=mentored[mentored.arm == "sc"]).fit()
    assert res.loc["sc", "estimate"] == pytest.approx(fit.params["sessions_attended"], abs=1e-10)
    assert res.loc["sc", "se"] == pytest.approx(fit.bse["sessions_attended"], rel=1e-9)
    lo, hi = fit.conf_int().loc["sessions_attended"]
    assert (res.loc["sc", "ci_low"], res.loc["sc", "ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    pooled = smf.ols("post ~ pre + sessions_attended + age + C(arm)", data=mentored).fit()
    assert res.loc["pooled", "estimate"] == pytest.approx(pooled.params["sessions_attended"], abs=1e-10)
    assert res.loc["pooled", "se"] == pytest.approx(pooled.bse["sessions_attended"], rel=1e-9)
    assert res.loc["pooled", "n"] == len(mentored)
    assert (res["status"] == "pre-specified").all()


def test_dose_edge_cases():
    long = _analysis_frame()
    flat = long.assign(sessions_attended=np.where(long.arm == "nw", 5.0, long.sessions_attended))
    res = dose_response(flat, "adult_hope_scale.total").set_index("arm")
    assert np.isnan(res.loc["nw", "estimate"]) and "does not vary" in res.loc["nw", "note"]
    assert np.isfinite(res.loc["sc", "estimate"])
    missing = long.copy()
    missing.loc[missing.participant_id == "p045", "sessions_attended"] = np.nan
    res = dose_response(missing, "adult_hope_scale.total").set_index("arm")
    assert res.loc["nw", "n_excluded"] == 1 and res.loc["pooled", "n_excluded"] == 1
    with pytest.raises(ParameterError, match="'arms'"):
        dose_response(long, arms=["mentoring"])
    with pytest.raises(ParameterError, match="'method'"):
        dose_response(long, method="gain")
    with pytest.raises(DataValidationError, match="must be numeric"):
        dose_response(long.assign(sessions_attended="many"))
    with pytest.raises(DataValidationError, match="non-zero"):
        dose_response(long.assign(sessions_attended=0.0))
