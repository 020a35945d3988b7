"""``mentor-eval psychometrics``: reliability and invariance tables on the bundled sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mentor_eval import reliability
from mentor_eval.cli import main
from mentor_eval.resources import sample_study_dir

GBS = [f"gbs_{i}" for i in range(1, 13)]
GBS_REVERSED = [f"gbs_{i}" for i in (3, 4, 6, 7, 9, 12)]  # negatively worded (data/sample/README.md)
AHS_AGENCY = [f"ahs_{i}" for i in (2, 9, 10, 12)]


def _hand_alpha(items: pd.DataFrame) -> tuple[float, int]:
    """Cronbach's alpha on complete rows: k/(k-1) (1 - sum of item variances / variance of the sum)."""
    x = items.dropna().to_numpy(dtype=float)
    k = x.shape[1]
    return k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1)), len(x)


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    d = sample_study_dir()
    return pd.read_csv(d / "responses.csv"), pd.read_csv(d / "participants.csv")


@pytest.fixture(scope="module")
def psy_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("psychometrics")
    assert main(["psychometrics", "--out", str(out)]) == 0
    return out


def _table(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv")


@pytest.mark.slow
def test_psychometrics_writes_its_tables(psy_dir):
    for name in ("reliability", "reliability_by_arm", "invariance", "notes"):
        assert (psy_dir / f"{name}.csv").exists() and (psy_dir / f"{name}.json").exists(), name
    rel = _table(psy_dir, "reliability")
    # AHS and GBS have 3 scales at each of 3 waves; YSoR one scale at midpoint and post
    assert len(rel) == 20
    assert set(rel["instrument"]) == {"adult_hope_scale", "general_belongingness_scale",
                                      "youth_strength_of_relationship"}
    assert not rel["wave"].isna().any()
    by_arm = _table(psy_dir, "reliability_by_arm")
    # AHS and GBS: 18 scale x wave cells in each of 6 arms, all computable
    hope_bel = by_arm[by_arm["instrument"] != "youth_strength_of_relationship"]
    assert len(hope_bel) == 18 * 6 and hope_bel["alpha"].notna().all()
    # YSoR is given to the 5 mentored arms at midpoint and post only
    ysor = by_arm[by_arm["instrument"] == "youth_strength_of_relationship"]
    mentored = ysor[ysor["arm"] != "control"]
    assert len(mentored) == 2 * 5 and mentored["alpha"].notna().all()
    # a control row, if listed, must say it was not computed rather than carry a number
    ctrl = ysor[ysor["arm"] == "control"]
    assert ctrl["alpha"].isna().all() and (ctrl["n"] == 0).all()
    inv = _table(psy_dir, "invariance")
    assert set(inv["instrument"]) == {"adult_hope_scale", "general_belongingness_scale"}
    assert list(inv[inv["instrument"] == "adult_hope_scale"]["level"]) == ["configural", "metric", "scalar"]
    assert (inv["wave"] == "baseline").all() and (inv["group"] == "arm").all()
    assert len(json.loads((psy_dir / "reliability.json").read_text(encoding="utf-8"))) == len(rel)
    assert _table(psy_dir, "notes").empty  # every step ran


@pytest.mark.slow
def test_alpha_equals_direct_computation(psy_dir, sample):
    responses, participants = sample
    rel = _table(psy_dir, "reliability").set_index(["instrument", "scale", "wave"])

    # GBS total at baseline: 12 items, 6 reverse-keyed (8 - x) before alpha
    base = responses[responses["wave"] == "baseline"]
    keyed = base[GBS].copy()
    keyed[GBS_REVERSED] = 8 - keyed[GBS_REVERSED]
    alpha, n = _hand_alpha(keyed)
    row = rel.loc[("general_belongingness_scale", "total", "baseline")]
    assert row["alpha"] == pytest.approx(alpha, abs=1e-10)
    assert row["n"] == n and row["k"] == 12
    direct = reliability(base[GBS], reverse=GBS_REVERSED, scale=(1, 7)).iloc[0]
    assert direct["alpha"] == pytest.approx(row["alpha"], abs=1e-12)
    assert direct["alpha_ci_low"] == pytest.approx(row["alpha_ci_low"], abs=1e-12)
    assert direct["omega_total"] == pytest.approx(row["omega_total"], abs=1e-8)

    # AHS agency at post
    post = responses[responses["wave"] == "post"]
    alpha, n = _hand_alpha(post[AHS_AGENCY])
    row = rel.loc[("adult_hope_scale", "agency", "post")]
    assert row["alpha"] == pytest.approx(alpha, abs=1e-10) and row["n"] == n

    # one arm x wave cell of the by-arm table
    by_arm = _table(psy_dir, "reliability_by_arm").set_index(["instrument", "scale", "wave", "arm"])
    ctrl = post.merge(participants[["participant_id", "arm"]], on="participant_id")
    ctrl = ctrl[ctrl["arm"] == "control"]
    alpha, n = _hand_alpha(ctrl[AHS_AGENCY])
    row = by_arm.loc[("adult_hope_scale", "agency", "post", "control")]
    assert row["alpha"] == pytest.approx(alpha, abs=1e-10) and row["n"] == n


@pytest.mark.slow
def test_threshold_flags_low_reliability(tmp_path):
    out = tmp_path / "psy"
    assert main(["psychometrics", "--out", str(out), "--threshold", "0.85"]) == 0
    for name in ("reliability", "reliability_by_arm"):
        rel = _table(out, name)
        flagged = rel["below_threshold"].astype(str) == "True"
        np.testing.assert_array_equal(flagged.to_numpy(), (rel["alpha"] < 0.85).to_numpy())
        assert flagged.any() and not flagged.all()


@pytest.mark.parametrize("value", ["1.5", "0", "-0.2"])
def test_threshold_out_of_range_is_a_clean_error(value, tmp_path, capsys):
    out = tmp_path / "psy"
    assert main(["psychometrics", "--out", str(out), "--threshold", value]) == 2
    captured = capsys.readouterr()
    expected = f"The 'threshold' parameter of psychometrics must be in (0, 1); got {float(value)!r}."
    assert expected in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()
