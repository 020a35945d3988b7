"""The reduced calibration grid of ``benchmarks/calibration.py`` (the full grid: docs/calibration.md).

Two designs, 200 replicates each, seeds fixed before the results were seen:

* two arms, 30 per arm, mentor/group ICC .2 beginning after matching, control unclustered
  (partially nested): the cluster-aware ANCOVA (CR2 and mixed) holds coverage and type I, the
  clustering-blind one does not, Hedges' g (mixed) and the clustered arm's d_z intervals cover,
  reliable change in the control arm flags about 5% and in the mentored arm about the share
  that truly changed;
* four arms, 30 per arm, no clustering: the family-wise error over the three vs-control
  contrasts stays at 5% with Holm.

Bands are honest for the Monte Carlo error: a rate with nominal value p over R = 200
replicates has SE sqrt(p (1 - p) / R) (.0154 at p = .05 or .95); a check passes when the rate
lies in the target band widened to +-3 SE around nominal (coverage .904-.996, type I
.004-.096), so a correct procedure fails with probability below .003 per check. The type I of
the four-arm design pools three correlated contrasts per replicate; its band uses R = 200.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

R = 200


@pytest.fixture(scope="module")
def cal():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "calibration.py"
    spec = importlib.util.spec_from_file_location("mentor_eval_calibration", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _band(nominal: float, low: float, high: float, n: int = R) -> tuple[float, float]:
    se = math.sqrt(nominal * (1 - nominal) / n)
    return min(low, nominal - 3 * se), max(high, nominal + 3 * se)


@pytest.fixture(scope="module")
def results(cal):
    designs = cal.design_grid("reduced")
    raw = {}
    raw[designs[0].key] = cal.run([designs[0]], R, n_jobs=2, checks=("none", "cr2", "mixed", "g", "dz", "rci"),
                                 verbose=False)
    raw[designs[1].key] = cal.run([designs[1]], R, n_jobs=2, checks=("cr2",), verbose=False)
    return {k: cal.summarize(v, designs).set_index(["check", "measure"]) for k, v in raw.items()}


def test_reduced_grid_is_part_of_the_full_grid(cal):
    full = {d.key for d in cal.design_grid("full")}
    assert {d.key for d in cal.design_grid("reduced")} <= full
    assert len(full) == 24


@pytest.mark.slow
def test_cluster_aware_ancova_is_calibrated_in_a_partially_nested_design(results):
    t = results["a2_n30_icc0.2_after"]
    for method in ("cr2", "mixed"):
        cov = t.loc[(f"ANCOVA vs control ({method})", "coverage")]
        assert cov["n"] == R and cov["n_failed"] == 0
        lo, hi = _band(0.95, 0.93, 0.97)
        assert lo <= cov["estimate"] <= hi, (method, cov["estimate"])
        t1 = t.loc[(f"ANCOVA vs control ({method})", "type_i")]
        lo, hi = _band(0.05, 0.03, 0.07)
        assert lo <= t1["estimate"] <= hi, (method, t1["estimate"])
    # ignoring the mentor clustering that starts after matching over-rejects (the problem fixed)
    assert t.loc[("ANCOVA vs control (none)", "type_i"), "estimate"] > 0.07


@pytest.mark.slow
def test_reliable_change_in_the_control_arm_flags_about_five_percent(results):
    row = results["a2_n30_icc0.2_after"].loc[("Reliable change, no effect (control)", "share")]
    assert row["source"] == "control arm baseline-post correlation"
    # the mean share over 200 replicates of 30 control participants: SE about .003
    assert 0.03 - 3 * row["mc_se"] <= row["estimate"] <= 0.07 + 3 * row["mc_se"], row["estimate"]


@pytest.mark.slow
def test_family_wise_error_over_three_arms_with_holm(results):
    t = results["a4_n30_icc0_after"]
    fwer = t.loc[("FWER Holm (cr2)", "fwer")]
    assert fwer["n"] == R
    se = math.sqrt(0.05 * 0.95 / R)
    assert fwer["estimate"] <= 0.05 + 3 * se, fwer["estimate"]
    lo, hi = _band(0.05, 0.03, 0.07)
    assert lo <= t.loc[("ANCOVA vs control (cr2)", "type_i"), "estimate"] <= hi


@pytest.mark.slow
def test_clustered_effect_size_intervals_cover(results):
    t = results["a2_n30_icc0.2_after"]
    lo, hi = _band(0.95, 0.93, 0.97)
    for check in ("Hedges g CI (mixed)", "d_z CI (effect arm)", "d_z CI (control)"):
        row = t.loc[(check, "coverage")]
        assert row["n"] == R and lo <= row["estimate"] <= hi, (check, row["estimate"])


@pytest.mark.slow
def test_reliable_change_in_mentored_arms_tracks_the_true_change(results):
    row = results["a2_n30_icc0.2_after"].loc[
        ("Reliable change, no arm effect (mentored arms): share minus the share truly changed", "excess")]
    assert -0.02 - 3 * row["mc_se"] <= row["estimate"] <= 0.02 + 3 * row["mc_se"], row["estimate"]


def test_merge_replaces_rerun_rows_in_place_and_renders_their_replicates(cal):
    import pandas as pd

    cols = ["design", "arms", "n_per_arm", "icc", "cluster_onset", "check", "measure", "n", "n_failed",
            "estimate", "mc_se", "target_low", "target_high", "meets_target", "source"]

    def row(design, check, n, est, met):
        return [design, 2, 30, 0.2, "after_matching", check, "coverage", n, 0, est, 0.01, 0.93, 0.97, met, ""]

    table = pd.DataFrame([row("a2_n30_icc0.2_after", "A", 500, 0.92, "False"),
                          row("a2_n30_icc0.2_after", "B", 500, 0.95, "True"),
                          row("a4_n30_icc0_after", "A", 500, 0.95, "True")], columns=cols)
    rerun = pd.DataFrame([row("a2_n30_icc0.2_after", "A", 2000, 0.94, True),
                          row("a2_n30_icc0.2_after", "C", 2000, 0.96, True)], columns=cols)
    out = cal.merge_tables(table, [rerun])
    assert list(out["check"]) == ["A", "B", "C", "A"]
    assert list(out["n"]) == [2000, 500, 2000, 500]
    assert out.loc[0, "estimate"] == 0.94 and out.loc[0, "meets_target"] == "True"
    assert list(out["meets_target"]) == ["True", "True", "True", "True"]
    line = cal._replicates_line(out, 500)
    assert line.startswith("500 replicates per design, extended to 2,000")
    assert cal._replicates_line(table, 500) == "500 replicates per design"
