"""Complier average causal effect: AER::ivreg / clubSandwich parity, Wald identity, compliance rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import DataValidationError, ParameterError
from mentor_eval.outcomes.cace import cace

HERE = Path(__file__).parent / "data" / "cace"
WIDE = pd.read_csv(HERE / "data.csv")
EXPECTED = json.loads((HERE / "expected.json").read_text())
LONG = pd.concat([WIDE.assign(wave="baseline", score=WIDE["pre"]), WIDE.assign(wave="post", score=WIDE["post"])],
                 ignore_index=True).assign(outcome="hope")
LONG["mentor_id"] = LONG["mentor_id"].replace("", np.nan)


@pytest.mark.parametrize(("cluster", "se_key"), [(None, "se_classical"), ("mentor_id", "se_cr2")])
def test_2sls_itt_and_first_stage_match_aer_ivreg_and_clubsandwich(cluster, se_key):
    res = cace(LONG, dose="sessions", threshold=18, covariates=["age"], cluster=cluster).set_index("effect")
    for eff in ("itt", "compliance", "cace"):
        assert res.loc[eff, "estimate"] == pytest.approx(EXPECTED[eff]["est"], abs=1e-10), eff
        assert res.loc[eff, "se"] == pytest.approx(EXPECTED[eff][se_key], abs=1e-10), eff
    assert res.loc["cace", "n"] == EXPECTED["n"]
    if cluster:
        assert res.loc["cace", "n_clusters"] == EXPECTED["n_clusters"] and res.loc["cace", "vcov"] == "CR2"
        for eff in ("itt", "compliance", "cace"):  # clubSandwich coef_test(..., "Satterthwaite")
            assert res.loc[eff, "df"] == pytest.approx(EXPECTED[eff]["df_satt"], rel=1e-8), eff
    else:
        assert res.loc["cace", "df"] == EXPECTED["n"] - 4 and res.loc["cace", "vcov"] == "classical"


def test_cace_is_itt_over_compliance_and_wald_is_the_raw_ratio_by_hand():
    res = cace(LONG, complied="complied", covariates=["age"]).set_index("effect")
    assert res.loc["cace", "estimate"] == pytest.approx(res.loc["itt", "estimate"] / res.loc["compliance", "estimate"],
                                                        abs=1e-10)
    t = WIDE["treat"] == 1
    raw_itt = WIDE.loc[t, "post"].mean() - WIDE.loc[~t, "post"].mean()
    share = WIDE.loc[t, "complied"].mean()
    assert res.loc["cace", "wald"] == pytest.approx(raw_itt / share, abs=1e-10)
    assert res.loc["cace", "n_compliers"] == int(WIDE.loc[t, "complied"].sum())
    # the same compliers from the dose rule as from the 0/1 column
    by_dose = cace(LONG, dose="sessions", threshold={"nw": 18}, covariates=["age"]).set_index("effect")
    assert by_dose.loc["cace", "estimate"] == pytest.approx(res.loc["cace", "estimate"], abs=1e-12)
    assert by_dose.loc["cace", "rule"] == "sessions >= 18" and res.loc["cace", "rule"] == "complied is true"
    # the instrument is strong here
    assert res.loc["cace", "first_stage_f"] == pytest.approx((res.loc["compliance", "estimate"]
                                                              / res.loc["compliance", "se"]) ** 2)
    assert res.loc["cace", "first_stage_f"] > 10


def test_unknown_compliance_raises_or_is_dropped_or_counted_as_noncompliance():
    long = LONG.copy()
    long.loc[long["participant_id"] == "P200", "sessions"] = np.nan
    with pytest.raises(DataValidationError, match="1 participant\\(s\\) of arm 'nw' have no 'sessions' value.*P200"):
        cace(long, dose="sessions", threshold=18)
    dropped = cace(long, dose="sessions", threshold=18, missing_dose="drop").set_index("effect")
    assert dropped.loc["cace", "n"] == 299 and dropped.loc["cace", "n_dose_missing"] == 1
    counted = cace(long, dose="sessions", threshold=18, missing_dose="noncomplier").set_index("effect")
    assert counted.loc["cace", "n"] == 300
    was = WIDE.loc[WIDE["participant_id"] == "P200", "complied"].iloc[0]
    assert counted.loc["cace", "n_compliers"] == int(WIDE["complied"].sum() - was)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ParameterError, "exactly one compliance rule"),
        ({"dose": "sessions"}, ParameterError, "'threshold' parameter of cace is required"),
        ({"complied": "age"}, DataValidationError, "must hold 0/1"),
        ({"dose": "arm", "threshold": 1}, DataValidationError, "must be numeric"),
        ({"complied": "complied", "missing_dose": "zero"}, ParameterError, "'missing_dose'"),
        ({"complied": "complied", "control": "waitlist"}, ParameterError, "'control' parameter of cace"),
        ({"dose": "sessions", "threshold": {"other": 3}}, ParameterError, "no value for arm 'nw'"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        cace(LONG, **kwargs)
