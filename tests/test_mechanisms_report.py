"""The report's "How it worked" section: disclosure control, plain sentences, path diagram, pipeline tables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mentor_eval.pipeline import StudyResults
from mentor_eval.report import mechanisms as mech
from mentor_eval.study import load_study

STUDY = load_study()
BEL, HOPE = "general_belongingness_scale.total", "adult_hope_scale.total"
NW, SC = "narrative_weaving", "storytelling_circles"


def _results(**tables) -> StudyResults:
    base = {f.name: pd.DataFrame() for f in dataclasses.fields(StudyResults)
            if f.name not in ("study", "data", "provenance")}
    base.update(tables)
    return StudyResults(study=STUDY, data=None, provenance={"report": {"min_cell": 10}}, **base)


def _med_rows(arm, ind, tot, prop, rho=0.2, design="half-longitudinal", n=300):
    rows = []
    for eff, (est, lo, hi) in (("indirect", ind), ("direct", (tot[0] - ind[0], 0, 0)), ("total", tot),
                               ("proportion", prop)):
        rows.append({"arm": arm, "mediator": BEL, "outcome": HOPE, "effect": eff, "estimate": est, "se": 0.1,
                     "ci_low": lo, "ci_high": hi, "p": 0.01, "n": n, "method": "monte-carlo", "design": design,
                     "ci_method": "monte-carlo", "mediator_wave": "midpoint", "outcome_wave": "post", "n_boot": 2000,
                     "n_clusters": 100, "rho_at_zero": rho, "n_excluded": 3})
    return rows


def _paths(arm, n=300):
    return [{"arm": arm, "mediator": BEL, "outcome": HOPE, "path": p, "estimate": e, "se": 0.1, "ci_low": lo,
             "ci_high": hi, "p": 0.01, "n": n, "method": "monte-carlo", "design": "half-longitudinal",
             "ci_method": "monte-carlo", "n_boot": 2000, "n_clusters": 100}
            for p, e, lo, hi in (("a", 0.2, 0.05, 0.35), ("b", 2.0, 1.0, 3.0), ("direct", 0.6, -0.4, 1.6))]


MED = pd.DataFrame(_med_rows(NW, (0.4, 0.1, 0.8), (1.0, 0.3, 1.7), (0.41, 0.1, 0.9), rho=0.05)
                   + _med_rows(SC, (0.05, -0.2, 0.3), (0.8, 0.1, 1.5), (0.06, -0.3, 0.5), design="cross-sectional"))


def test_sentences_state_the_share_carried_by_belonging_in_plain_words():
    res = _results(mediation=MED, mediation_paths=pd.DataFrame(_paths(NW) + _paths(SC)))
    lines = mech.mechanism_sentences(res)
    assert lines[0].startswith("Narrative Weaving: about 40% of the gain in hope came with the gain in belonging")
    assert "+0.40 points, 95% CI 0.10 to 0.80" in lines[0]
    assert "do not show that the change in hope ran through belonging" in lines[1]
    assert "measured at the same time" in lines[1]
    sens = mech.sensitivity_sentences(res)
    assert len(sens) == 1 and "correlation of about 0.05; a weak one would do" in sens[0]
    fig = mech.path_diagram_figure(res, NW)
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "+0.20 points of belonging" in texts and "+2.00 hope points per belonging point" in texts
    assert "95% CI -0.40 to 1.60" in texts
    assert "share of the total: 41%" in fig.layout.meta["caption"]
    assert fig.layout.meta["alt"].startswith("Path diagram for Narrative Weaving")


def test_user_labels_are_escaped_in_the_diagram():
    arms = tuple(dataclasses.replace(a, label="<b>NW & co</b>") if a.key == NW else a for a in STUDY.arms)
    res = dataclasses.replace(_results(mediation=MED, mediation_paths=pd.DataFrame(_paths(NW))),
                              study=dataclasses.replace(STUDY, arms=arms))
    fig = mech.path_diagram_figure(res, NW)
    texts = " ".join(a.text for a in fig.layout.annotations) + fig.layout.title.text
    assert "<b>NW" not in texts and "&lt;b&gt;NW &amp; co&lt;/b&gt;" in texts


def test_small_fidelity_and_complier_groups_are_suppressed():
    fid = pd.DataFrame([
        {"arm": NW, "model": NW, "indicator": "sessions_held", "label": "sessions held", "type": "count",
         "column": "s", "expected": 18.0, "primary": True, "n": 200, "n_recorded": 200, "n_reached": 4,
         "share_reached": 0.02, "share_reached_all": 0.02, "mean": 9.0, "median": 9.0},
        {"arm": SC, "model": SC, "indicator": "circles_attended", "label": "circles", "type": "count",
         "column": "c", "expected": 9.0, "primary": True, "n": 200, "n_recorded": 195, "n_reached": 0,
         "share_reached": 0.0, "share_reached_all": 0.0, "mean": 3.0, "median": 3.0}])
    cace = pd.DataFrame([{"model": NW, "indicator": "sessions_held", "outcome": HOPE, "arm": NW, "effect": e,
                          "estimate": v, "se": 0.1, "df": 100, "ci_low": v - 1, "ci_high": v + 1, "p": 0.01,
                          "n": 300, "n_arm": 150, "n_compliers": 144, "n_dose_missing": 2, "n_clusters": 100,
                          "vcov": "CR2", "first_stage_f": 50.0, "wald": np.nan, "rule": "s >= 18"}
                         for e, v in (("itt", 1.0), ("compliance", 0.96), ("cace", 1.04))])
    med = pd.DataFrame(_med_rows(NW, (0.4, 0.1, 0.8), (1.0, 0.3, 1.7), (0.41, 0.1, 0.9), n=8))
    res = _results(fidelity=fid, cace=cace, mediation=med, mediation_paths=pd.DataFrame(_paths(NW, n=8)))
    out = mech.protect_mechanisms(res, 10, set(), set())
    f = out["fidelity"].set_index("arm")
    # 4 reached: the count and the shares computed from it are hidden; 0 reached is published
    assert pd.isna(f.loc[NW, "n_reached"]) and pd.isna(f.loc[NW, "share_reached"]) and f.loc[NW, "suppressed"]
    assert f.loc[SC, "n_reached"] == 0 and f.loc[SC, "share_reached"] == 0.0
    # 5 without a record: the share of all participants (and the means) are hidden, not the recorded share
    assert pd.isna(f.loc[SC, "share_reached_all"]) and pd.isna(f.loc[SC, "n_recorded"])
    c = out["cace"].set_index("effect")
    # 6 non-compliers of 150: compliance share and CACE hidden, the ITT kept
    assert c.loc["itt", "estimate"] == 1.0
    assert pd.isna(c.loc["compliance", "estimate"]) and pd.isna(c.loc["cace", "estimate"])
    assert c["n_compliers"].isna().all() and "n_dose_missing" not in c.columns
    m = out["mediation"]
    assert m["estimate"].isna().all() and "n_excluded" not in m.columns
    assert out["mediation_paths"]["estimate"].isna().all()
    # a small arm in the flow hides the arm everywhere
    big = _results(mediation=pd.DataFrame(_med_rows(NW, (0.4, 0.1, 0.8), (1.0, 0.3, 1.7), (0.4, 0.1, 0.9))))
    assert mech.protect_mechanisms(big, 10, {NW}, set())["mediation"]["estimate"].isna().all()
    safe = _results(**out)
    assert "not reported" in mech.mechanism_sentences(safe)[0]
    assert "not reported" in mech.fidelity_sentences(safe)[0]
    assert "not reported" in mech.cace_sentences(safe)[0]


def test_fidelity_and_cace_tables_read_in_words():
    fid = pd.DataFrame([{"arm": NW, "model": NW, "indicator": "sessions_held", "label": "mentoring sessions held",
                         "type": "count", "column": "s", "expected": 18.0, "primary": True, "n": 200,
                         "n_recorded": 200, "n_reached": 97, "share_reached": 0.485, "share_reached_all": 0.485,
                         "mean": 17.0, "median": 17.0}])
    cace = pd.DataFrame([{"model": NW, "indicator": "sessions_held", "outcome": HOPE, "arm": NW, "effect": e,
                          "estimate": v, "se": 0.1, "df": 100, "ci_low": v - 1, "ci_high": v + 1, "p": 0.01,
                          "n": 300, "n_arm": 150, "n_compliers": 70, "n_clusters": 100, "vcov": "CR2",
                          "first_stage_f": 50.0, "wald": np.nan, "rule": "s >= 18"}
                         for e, v in (("itt", 3.0), ("compliance", 0.47), ("cace", 6.3))])
    res = _results(fidelity=fid, cace=cace)
    assert mech.fidelity_sentences(res) == ["Narrative Weaving: 48% of participants with a record reached the "
                                            "expected dose (mentoring sessions held: at least 18)."]
    assert mech.fidelity_table(res)["Expected dose"].iloc[0] == "at least 18"
    s = mech.cace_sentences(res)[0]
    assert "(at least 18 mentoring sessions held; 47% of those offered it)" in s
    assert "+6.30 points" in s and "+3.00 points" in s
    t = mech.cace_table(res)
    assert t["Rule"].iloc[0] == "at least 18 mentoring sessions held" and t["CACE 95% CI"].iloc[0] == (
        "95% CI 5.30 to 7.30")


def test_unprotected_results_are_refused():
    from mentor_eval.errors import ParameterError

    res = dataclasses.replace(_results(mediation=MED), provenance={})
    with pytest.raises(ParameterError, match="protect"):
        mech.mechanism_sentences(res)


@pytest.mark.slow
def test_pipeline_writes_mechanism_tables_for_the_sample():
    from mentor_eval.data import load_analysis_data
    from mentor_eval.pipeline import RESULT_COLUMNS, StepNotes, run_mechanisms

    notes = StepNotes()
    data = load_analysis_data()
    tabs = run_mechanisms(data, notes=notes, n_boot=60)
    assert not len(notes.frame())
    for name in ("mediation", "mediation_paths", "fidelity", "cace"):
        assert set(RESULT_COLUMNS[name]) <= set(tabs[name].columns), name
    med = tabs["mediation"]
    pairs = set(zip(med["mediator"], med["outcome"], strict=True))
    assert (BEL, HOPE) in pairs and (HOPE, BEL) in pairs and (BEL, "adult_hope_scale.agency") in pairs
    assert set(med["design"]) == {"half-longitudinal"} and set(med["mediator_wave"]) == {"midpoint"}
    assert set(med["ci_method"]) == {"normal", "percentile", "bca", "monte-carlo"}
    # the default (the report's): no bootstrap, the same delta and Monte Carlo rows
    default = run_mechanisms(data)["mediation"]
    assert set(default["ci_method"]) == {"normal", "monte-carlo"}
    key = ["arm", "mediator", "outcome", "effect", "ci_method"]
    kept = med[med["ci_method"].isin(["normal", "monte-carlo"])].set_index(key).sort_index()
    pd.testing.assert_frame_equal(default.set_index(key).sort_index()[["estimate", "ci_low", "ci_high"]],
                                  kept[["estimate", "ci_low", "ci_high"]])
    assert len(tabs["fidelity"]) == 5 and tabs["fidelity"]["primary"].all()
    ca = tabs["cace"]
    assert set(ca["effect"]) == {"itt", "compliance", "cace"} and set(ca["vcov"]) == {"CR2"}
    nw = ca[(ca["arm"] == NW) & (ca["outcome"] == HOPE)].set_index("effect")
    assert nw.loc["cace", "estimate"] == pytest.approx(nw.loc["itt", "estimate"] / nw.loc["compliance", "estimate"])
