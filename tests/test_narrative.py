"""Plain-language report text (mentor_eval.narrative)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import ParameterError
from mentor_eval.report import names, narrative, protect


@pytest.fixture(scope="module")
def raw():
    from test_report_content import sample_results  # one run_study of the sample per session

    return sample_results()


@pytest.fixture(scope="module")
def safe(raw):
    return protect.protect(raw)


# --------------------------------------------------------------------------- words


@pytest.mark.parametrize(("g", "words"), [
    (0.0, "no meaningful change"),
    (0.049, "no meaningful change"),
    (-0.049, "no meaningful change"),
    (0.05, "a very small improvement"),
    (0.199, "a very small improvement"),
    (0.2, "a small improvement"),
    (0.499, "a small improvement"),
    (0.5, "a moderate improvement"),
    (0.799, "a moderate improvement"),
    (0.8, "a large improvement"),
    (2.5, "a large improvement"),
    (-0.1, "a very small decline"),
    (-0.3, "a small decline"),
    (-0.6, "a moderate decline"),
    (-0.9, "a large decline"),
    (float("nan"), "not reported"),
    (None, "not reported"),
])
def test_effect_words_bands(g, words):
    assert narrative.effect_words(g) == words


def test_effect_words_direction_of_benefit():
    assert narrative.effect_words(-0.3, higher_is_better=False) == "a small improvement"
    assert narrative.effect_words(0.3, higher_is_better=False) == "a small decline"


@pytest.mark.parametrize(("lo", "hi", "p", "start"), [
    (0.1, 0.5, 0.01, "we are fairly confident this is a real difference"),
    (-0.5, -0.1, 0.049, "we are fairly confident this is a real difference"),
    (0.2, 0.6, 0.0004, "we are very confident"),
    (0.01, 0.4, 0.08, "there is a hint of a real difference"),
    (-0.1, 0.5, 0.30, "the result is uncertain: the data are consistent with no difference"),
    (-0.1, 0.5, 0.03, "the result is uncertain: the data are consistent with no difference"),
    (np.nan, 0.5, 0.03, "there is not enough information to judge"),
])
def test_certainty_words(lo, hi, p, start):
    assert narrative.certainty_words(lo, hi, p).startswith(start)


def test_certainty_words_rejects_bad_alpha():
    with pytest.raises(ParameterError, match="alpha"):
        narrative.certainty_words(0.1, 0.2, 0.01, alpha=1.5)


# --------------------------------------------------------------------------- summary


def test_summary_names_every_arm_and_its_model(safe):
    text = " ".join(narrative.executive_summary(safe))
    for arm in safe.study.arms:
        assert arm.label in text
        assert arm.model.name in text
    assert "1,200 participants were enrolled at 3 sites (S1, S2 and S3)" in text
    assert "baseline (week 0), midpoint (week 12) and post (week 24)" in text


def test_summary_numbers_match_the_contrasts(safe, raw):
    paras = narrative.executive_summary(safe)
    labels = names.arm_labels(raw)
    con = raw.contrasts
    for o in raw.study.outcomes.primary:
        para = next(p for p in paras if names.outcome_label(raw, o) in p and p.startswith("What changed"))
        for r in con[con["outcome"] == o].itertuples():
            expected = (f"{labels[r.arm]} showed {narrative.effect_words(r.g)} (g = {r.g:.2f}, 95% CI {r.g_ci_low:.2f} "
                        f"to {r.g_ci_high:.2f}; {narrative.certainty_words(r.g_ci_low, r.g_ci_high, r.p_adj)}")
            assert expected in para
    # e.g. Narrative Weaving on total hope: g = 0.32 (cluster-aware ANCOVA), a small improvement, adjusted p = 0.004
    assert "Narrative Weaving showed a small improvement (g = 0.32" in " ".join(paras)


def test_summary_reports_hypotheses_and_checks(safe):
    text = " ".join(narrative.executive_summary(safe))
    assert "Of 3 pre-registered hypotheses" in text and "2 were supported" in text
    assert "Attrition (participants lost before the last survey) was high" in text
    assert "Holm" in text
    assert "measurement invariance held" in text


def test_summary_says_not_reported_for_suppressed_effects(raw):
    strict = protect.protect(raw, 150)
    text = " ".join(narrative.executive_summary(strict))
    assert "not reported" in text
    assert "g = 0.32" not in text


def test_summary_is_one_screen(safe):
    assert sum(len(p.split()) for p in narrative.executive_summary(safe)) < 800


# --------------------------------------------------------------------------- limitations


def test_limitations_of_the_sample(safe):
    lim = narrative.limitations(safe)
    text = " ".join(lim)
    assert "High attrition for Narrative Weaving" in text
    # |g| > 0.25 for non-binary at baseline, but g uses the control arm's non-binary share,
    # which is suppressed (5 people): the verdict derived from it must not be published
    assert "nonbinary" not in text
    assert "Baseline equivalence could not be shown" in text
    assert "suppressed" in text
    assert "exploratory" in text
    assert "quasi-experimental" not in text  # the sample is randomized
    assert not any("Low reliability" in item for item in lim)
    assert not any("Measurement invariance" in item for item in lim)


def _constructed(raw):
    att = raw.attrition.copy()
    att["verdict"] = "low"
    att.loc[0, "verdict"] = "high"
    base = raw.baseline.copy()
    base["category"] = "satisfies"
    base.loc[base.index[0], "category"] = "does not satisfy"
    base.loc[base.index[4], "category"] = "requires statistical adjustment"
    inv = raw.invariance.copy()
    inv.loc[inv.index[2], "verdict"] = "not supported"
    rel = raw.reliability.copy()
    rel.loc[rel.index[1], ["alpha", "below_threshold"]] = [0.61, True]
    notes = pd.DataFrame({"step": ["mixed model"], "target": ["adult_hope_scale.total"],
                          "reason": ["the model did not converge"]})
    return dataclasses.replace(raw, attrition=att, baseline=base, invariance=inv, reliability=rel, notes=notes,
                               moderators=pd.DataFrame(), dose_response=pd.DataFrame())


def test_limitations_triggered_by_each_check(raw):
    res = _constructed(raw)
    lim = narrative.limitations(res)
    text = " ".join(lim)
    arm0 = names.arm_labels(raw)[raw.attrition["arm"].iloc[0]]
    assert f"High attrition for {arm0}" in text
    assert sum("High attrition" in item for item in lim) == 1
    assert "more than 0.25 standard deviations" in text
    assert "did not adjust for it" in text
    assert "Measurement invariance across arms was not supported for Adult Hope Scale at the scalar level" in text
    r = raw.reliability.iloc[1]
    assert "Low reliability" in text and f"{r['scale']} ({r['wave']}, alpha = 0.61)" in text
    assert "could not be run: mixed model (adult_hope_scale.total): the model did not converge" in text
    assert "exploratory" not in text  # no subgroup analyses in this construction
    assert "suppressed" not in text  # unprotected results: nothing suppressed


def test_limitations_for_design(raw):
    qe = dataclasses.replace(raw, study=dataclasses.replace(raw.study, design="quasi-experimental"))
    assert "quasi-experimental" in narrative.limitations(qe)[0]
    single = dataclasses.replace(raw, study=dataclasses.replace(raw.study, design="single-arm"))
    assert "no comparison group" in narrative.limitations(single)[0]


def test_reliability_caveat_in_summary(raw):
    res = _constructed(raw)
    assert "below .70" in " ".join(narrative.executive_summary(res))
    assert "not fully supported for Adult Hope Scale" in " ".join(narrative.executive_summary(res))


# --------------------------------------------------------------------------- arm cards


def test_arm_cards(safe):
    cards = narrative.arm_cards(safe)
    assert [c["key"] for c in cards] == list(safe.study.arm_keys)
    nw = cards[1]
    model = safe.study.arm("narrative_weaving").model
    assert nw["model_name"] == model.name and nw["format"] == "dyad"
    assert nw["belonging_mechanism"] == model.belonging_mechanism
    assert nw["hope_mechanism"] == model.hope_mechanism
    assert nw["n_enrolled"] == 200 and cards[0]["is_control"]
    for c in cards:
        sentences = [s for s in c["description"].replace("!", ".").split(". ") if s.strip()]
        assert 1 <= len(sentences) <= 2


def test_arm_cards_withhold_small_arms(raw):
    cards = narrative.arm_cards(protect.protect(raw, 201))  # every arm enrolled fewer than 201 except one
    assert any(c["n_enrolled"] is None for c in cards)
    assert all(c["n_enrolled"] is None or c["n_enrolled"] >= 201 for c in cards)


def test_functions_reject_other_objects():
    for f in (narrative.executive_summary, narrative.limitations, narrative.arm_cards):
        with pytest.raises(ParameterError, match="StudyResults"):
            f(pd.DataFrame())
    assert math.isnan(narrative._num("x"))


def test_a_flagged_alpha_never_reads_as_the_threshold(safe):
    import dataclasses

    rel = safe.reliability.copy()
    rel.loc[rel.index[0], ["alpha", "below_threshold"]] = [0.6996, True]
    text = " ".join(narrative.limitations(dataclasses.replace(safe, reliability=rel)))
    assert "alpha = 0.69" in text and "alpha = 0.70" not in text
    summary = " ".join(narrative.executive_summary(dataclasses.replace(safe, reliability=rel)))
    assert "below .70" in summary and "Every scale measured reliably" not in summary
