"""Measurement invariance: parity with lavaan / lavTestLRT and the decision rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import ParameterError
from mentor_eval.psychometrics import cfa, invariance

DATA = Path(__file__).parent / "data"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
NAMES = {"rmsea.ci.lower": "rmsea_ci_low", "rmsea.ci.upper": "rmsea_ci_high", "pvalue": "p"}  # lavaan -> ours


def close(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= 1e-3 * abs(expected) + 1e-9


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(DATA / "HolzingerSwineford1939.csv")


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((DATA / "lavaan_hs_expected.json").read_text())["invariance_HS_school"]


@pytest.fixture(scope="module")
def table(hs) -> pd.DataFrame:
    return invariance(hs, HS_MODEL, group="school")


def test_every_level_matches_lavaan(table, expected):
    assert table["level"].tolist() == ["configural", "metric", "scalar"]
    rows = table.set_index("level")
    for level in ("configural", "metric", "scalar"):
        for name, value in expected[level].items():
            if name in ("call", "chisq_by_group"):
                continue
            got = float(rows.loc[level, NAMES.get(name, name)])
            assert close(got, value), (level, name, got, value)


def test_chisq_by_group_matches_lavaan(hs, expected):
    res = cfa(hs, HS_MODEL, group="school")
    by_group = res.group_fit.set_index("group")["chisq"]
    for g, value in expected["configural"]["chisq_by_group"].items():
        assert close(float(by_group[g]), value)


def test_difference_tests_match_lavtestlrt(table, expected):
    rows = table.set_index("level")
    for level, key in (("metric", "lrt_metric_vs_configural"), ("scalar", "lrt_scalar_vs_metric")):
        ref = expected[key]
        assert close(float(rows.loc[level, "chisq_diff"]), ref["chisq_diff"])
        assert rows.loc[level, "df_diff"] == ref["df_diff"]
        assert close(float(rows.loc[level, "p_diff"]), ref["p"])
    assert np.isnan(rows.loc["configural", "chisq_diff"])


def test_deltas_and_verdicts(table):
    rows = table.set_index("level")
    assert rows.loc["metric", "delta_cfi"] == pytest.approx(rows.loc["metric", "cfi"] - rows.loc["configural", "cfi"])
    assert rows.loc["scalar", "delta_rmsea"] == pytest.approx(
        rows.loc["scalar", "rmsea"] - rows.loc["metric", "rmsea"]
    )
    assert rows.loc["configural", "verdict"].startswith("baseline")
    # metric: CFI -0.0025, RMSEA -0.004, LRT p = .22 -> holds
    assert rows.loc["metric", "verdict"] == "holds"
    assert not rows.loc["metric", "chen_noninvariant"]
    # scalar: CFI drops by .038 but RMSEA rises by .0145 (< .015): only one criterion met
    assert not rows.loc["scalar", "chen_noninvariant"]
    assert rows.loc["scalar", "chisq_diff_significant"]
    assert rows.loc["scalar", "verdict"].startswith("uncertain: CFI drops")


def test_clear_noninvariance_is_not_supported():
    # two groups whose loadings differ strongly: metric invariance must fail
    rng = np.random.default_rng(3)
    frames = []
    for name, lam in (("a", [0.9, 0.8, 0.7, 0.6, 0.8]), ("b", [0.9, 0.2, 0.1, 1.2, 0.2])):
        n = 800
        f = rng.normal(size=(n, 1))
        y = f * np.array(lam) + rng.normal(scale=0.5, size=(n, 5))
        d = pd.DataFrame(y, columns=[f"y{i}" for i in range(5)])
        d["grp"] = name
        frames.append(d)
    df = pd.concat(frames, ignore_index=True)
    out = invariance(df, {"F": [f"y{i}" for i in range(5)]}, "grp", levels=("configural", "metric"))
    row = out.iloc[1]
    assert row["delta_cfi"] <= -0.010 and row["delta_rmsea"] >= 0.015
    assert row["chen_noninvariant"] and row["verdict"] == "not supported"
    assert row["p_diff"] < 1e-6


@pytest.mark.parametrize(
    ("levels", "match"),
    [(("metric", "configural"), "least to most"), (("configural", "partial"), "'levels'"), ((), "at least one")],
)
def test_bad_levels(hs, levels, match):
    with pytest.raises(ParameterError, match=match):
        invariance(hs, HS_MODEL, group="school", levels=levels)


def test_strict_level_adds_equal_residuals(hs, table):
    out = invariance(hs, HS_MODEL, group="school", levels=("scalar", "strict"))
    assert out["df_diff"].iloc[1] == 9  # nine residual variances held equal
    assert out["chisq"].iloc[0] == pytest.approx(table["chisq"].iloc[2], rel=1e-10)
