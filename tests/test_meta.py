"""Meta-analysis against R metafor's rma() (tests/data/meta/make_reference.R wrote the values)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mentor_eval import meta_analysis, meta_regression
from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError

DATA = Path(__file__).parent / "data" / "meta"
EXPECTED = json.loads((DATA / "expected.json").read_text())
FRAMES = {"bcg": "bcg", "molloy": "molloy", "hom": "homogeneous"}
TOL = 1e-6


def _frame(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{FRAMES[name]}.csv")


def _fit(case: str, prediction: str = "higgins"):
    ds, method, test = case.split("_")
    return meta_analysis(_frame(ds), effect="yi", variance="vi", study="study", method=method, test=test,
                         prediction=prediction)


def _main_row(res, method: str) -> pd.Series:
    return res.pooled[res.pooled["pooling"] == ("fixed" if method == "FE" else "random")].iloc[0]


@pytest.mark.parametrize("case", sorted(EXPECTED["cases"]))
def test_pooled_matches_metafor(case):
    exp = EXPECTED["cases"][case]
    method = case.split("_")[1]
    row = _main_row(_fit(case), method)
    # the Wald ratio is named after its reference distribution: t under Knapp-Hartung, z otherwise
    stat, other = ("t", "z") if exp["df"] is not None else ("z", "t")
    assert row[stat] == pytest.approx(exp["stat"], abs=TOL, rel=0) and np.isnan(row[other])
    for key in ("estimate", "tau2", "se", "p", "ci_low", "ci_high", "i2", "h2", "q", "q_p"):
        assert row[key] == pytest.approx(exp[key], abs=TOL, rel=0), key
    assert row["k"] == exp["k"] and row["q_df"] == exp["q_df"]
    if method == "REML":
        assert row["se_tau2"] == pytest.approx(exp["se_tau2"], abs=TOL)
    if exp["df"] is not None:
        assert row["df"] == exp["df"]
    else:
        assert np.isnan(row["df"])


@pytest.mark.parametrize("case", [c for c in sorted(EXPECTED["cases"]) if "_FE_" not in c])
def test_prediction_intervals_match_metafor(case):
    exp = EXPECTED["cases"][case]
    method = case.split("_")[1]
    # "higgins" (t with k-2 df) is metafor's pi.type="riley"; "metafor" its default
    hig = _main_row(_fit(case, "higgins"), method)
    assert (hig["pi_low"], hig["pi_high"]) == pytest.approx((exp["pi_low_riley"], exp["pi_high_riley"]), abs=TOL)
    assert hig["pi_df"] == exp["k"] - 2
    mf = _main_row(_fit(case, "metafor"), method)
    assert (mf["pi_low"], mf["pi_high"]) == pytest.approx((exp["pi_low"], exp["pi_high"]), abs=TOL)


@pytest.mark.parametrize("case", [c for c in sorted(EXPECTED["cases"]) if "loo" in EXPECTED["cases"][c]])
def test_leave_one_out_matches_metafor(case):
    exp = EXPECTED["cases"][case]["loo"]
    loo = _fit(case).leave_one_out
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q"):
        np.testing.assert_allclose(loo[key].to_numpy(), exp[key], atol=TOL, rtol=0, err_msg=key)
    # studentized deleted residuals use the model-based variance whatever the test: metafor's
    # rstudent() of the same model with test="z"
    exp_z = EXPECTED["cases"][case.replace("_knha", "_z")]["loo"]
    np.testing.assert_allclose(loo["rstudent"].to_numpy(), exp_z["rstudent"], atol=TOL, rtol=0)
    full = _main_row(_fit(case), case.split("_")[1])["estimate"]
    np.testing.assert_allclose(loo["shift"], loo["estimate"] - full, atol=1e-12)
    assert (loo["outlier"] == (np.abs(loo["rstudent"]) > 1.959963984540054)).all()


REGRESSIONS = {
    "bcg_ablat_REML_z": ("bcg", ["ablat"]),
    "bcg_ablat_year_REML_knha": ("bcg", ["ablat", "year"]),
    "bcg_alloc_REML_knha": ("bcg", ["alloc"]),
    "bcg_ablat_DL_z": ("bcg", ["ablat"]),
    "molloy_meanage_controls_REML_z": ("molloy", ["meanage", "controls"]),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_meta_regression_matches_metafor(case):
    exp = EXPECTED["regressions"][case]
    ds, mods = REGRESSIONS[case]
    method, test = case.split("_")[-2:]
    res = meta_regression(_frame(ds), mods, effect="yi", variance="vi", method=method, test=test)
    co = res.coefficients
    assert len(co) == len(exp["coef_names"])
    stat, other = ("t", "z") if test == "knha" else ("z", "t")
    np.testing.assert_allclose(co[stat].to_numpy(), exp["stat"], atol=TOL, rtol=0, err_msg=stat)
    assert co[other].isna().all()
    for key in ("estimate", "se", "p", "ci_low", "ci_high"):
        np.testing.assert_allclose(co[key].to_numpy(), exp[key], atol=TOL, rtol=0, err_msg=key)
    fit = res.fit.iloc[0]
    for key in ("tau2", "i2", "h2", "r2", "qe", "qe_p", "qm", "qm_p"):
        assert fit[key] == pytest.approx(exp[key], abs=TOL), key
    qm_df = exp["qm_df"] if isinstance(exp["qm_df"], list) else [exp["qm_df"]]
    assert fit["qm_df"] == qm_df[0] and fit["k"] == exp["k"]
    if test == "knha":
        assert fit["qm_df2"] == qm_df[1]
    assert "moderators test" in res.summary()


def test_categorical_terms_are_named_by_level():
    res = meta_regression(_frame("bcg"), "alloc", effect="yi", variance="vi")
    assert list(res.coefficients["term"]) == ["intercept", "alloc[random]", "alloc[systematic]"]


def test_reml_boundary_is_exactly_zero_and_matches_fixed_effect():
    res = _fit("hom_REML_z")
    ran, fix = res.pooled.iloc[0], res.pooled.iloc[1]
    assert ran["tau2"] == 0.0 and ran["i2"] == 0.0
    assert ran["estimate"] == pytest.approx(fix["estimate"], abs=1e-12)


def test_fixed_effect_is_inverse_variance_mean_by_hand():
    d = pd.DataFrame({"g": [0.2, 0.4, 0.9], "variance": [0.01, 0.04, 0.09]})
    row = meta_analysis(d, method="FE").pooled.iloc[0]
    w = 1 / d["variance"]
    assert row["estimate"] == pytest.approx((w * d["g"]).sum() / w.sum(), abs=1e-12)
    assert row["se"] == pytest.approx(1 / np.sqrt(w.sum()), abs=1e-12)
    assert row["q"] == pytest.approx((w * (d["g"] - row["estimate"]) ** 2).sum(), abs=1e-12)


def test_groups_pool_separately_and_weights_sum_to_100():
    a, b = _frame("bcg").assign(model="a"), _frame("molloy").assign(model="b")
    with pytest.raises(ParameterError, match="must not name a result column"):
        meta_analysis(a.assign(k=1), effect="yi", variance="vi", by="k")
    both = pd.concat([a, b], ignore_index=True)
    res = meta_analysis(both, effect="yi", variance="vi", by="model", study="study")
    ran = res.random().set_index("model")
    assert ran.loc["a", "estimate"] == pytest.approx(EXPECTED["cases"]["bcg_REML_z"]["estimate"], abs=TOL)
    assert ran.loc["b", "estimate"] == pytest.approx(EXPECTED["cases"]["molloy_REML_z"]["estimate"], abs=TOL)
    sums = res.studies.groupby("model")[["weight", "weight_fixed"]].sum()
    np.testing.assert_allclose(sums.to_numpy(), 100.0)
    assert set(res.leave_one_out["model"]) == {"a", "b"}
    assert "model=a" in res.summary()


def test_single_study_group_is_reported_not_pooled():
    d = pd.DataFrame({"m": ["x", "y", "y", "y"], "g": [0.3, 0.1, 0.2, 0.4], "variance": [0.04, 0.02, 0.03, 0.02]})
    res = meta_analysis(d, by="m")
    one = res.random().set_index("m").loc["x"]
    assert one["k"] == 1 and one["estimate"] == 0.3 and np.isnan(one["tau2"]) and "one study" in one["note"]
    assert set(res.leave_one_out["m"]) == {"y"}


def test_bad_variance_names_the_row_and_value():
    d = pd.DataFrame({"g": [0.1, 0.2, 0.3], "variance": [0.02, -0.01, np.nan]})
    with pytest.raises(DataValidationError, match=r"'variance'.*row 1 \(-0.01\).*row 2"):
        meta_analysis(d)


@pytest.mark.parametrize("kwargs,match", [
    ({"method": "ML"}, "'method' parameter of meta_analysis"),
    ({"test": "t"}, "'test' parameter"),
    ({"ci_level": 1.5}, "'ci_level' parameter"),
    ({"prediction": "z"}, "'prediction' parameter"),
    ({"effect": "d"}, "lacks the column"),
])
def test_parameter_errors(kwargs, match):
    d = pd.DataFrame({"g": [0.1, 0.2, 0.3], "variance": [0.02, 0.01, 0.03]})
    with pytest.raises(ParameterError, match=match):
        meta_analysis(d, **kwargs)


def test_meta_regression_rejects_too_few_studies_and_collinearity():
    d = pd.DataFrame({"g": [0.1, 0.2, 0.3], "variance": [0.02, 0.01, 0.03], "f": ["a", "b", "c"],
                      "x": [1.0, 2.0, 3.0]})
    with pytest.raises(AnalysisError, match="more studies than coefficients"):
        meta_regression(d, "f")
    d2 = d.assign(x2=d["x"] * 2)
    with pytest.raises(AnalysisError, match="collinear"):
        meta_regression(d2, ["x", "x2"])
    with pytest.raises(DataValidationError, match="moderator 'x' is missing"):
        meta_regression(d.assign(x=[1.0, np.nan, 2.0]), "x")
