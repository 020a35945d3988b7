"""Plain-language text for reports, generated from a study's results.

Every function returns plain text (``str`` or lists of ``str``), never HTML: the
caller escapes it where it builds HTML (:func:`mentor_eval.report.html.paragraphs_html`
does). Arm labels, the study name and site names are user-supplied and appear
verbatim in the text.

Pass the results of :func:`mentor_eval.report.protect.protect` when the text is
published: suppressed estimates then read "not reported" instead of a number.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval.errors import ParameterError
from mentor_eval.pipeline import StudyResults

__all__ = [
    "EFFECT_BANDS",
    "effect_words",
    "certainty_words",
    "format_words",
    "executive_summary",
    "limitations",
    "arm_cards",
]

#: Upper limits of |g| for each band of :func:`effect_words` (Cohen 1988, plus 0.05).
EFFECT_BANDS = (("no meaningful change", 0.05), ("very small", 0.2), ("small", 0.5), ("moderate", 0.8))

_FORMAT_WORDS = {
    "dyad": "one mentor with one mentee",
    "group": "a mentor with a small group of mentees",
    "community": "a community of many mentors and mentees",
    "none": "no mentoring",
}


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def effect_words(g: float, *, higher_is_better: bool = True) -> str:
    """Describe a standardized effect size in words.

    Parameters
    ----------
    g : float
        Standardized mean difference (Hedges g), positive when the arm scored higher.
    higher_is_better : bool, default True
        Direction of benefit. True for every hope and belonging scale in the library
        (higher scores mean more hope / belonging); set False for a scale where lower
        is better, so that a negative g reads as an improvement.

    Returns
    -------
    str
        ``"no meaningful change"`` (|g| < 0.05), ``"a very small improvement"``
        (0.05 <= |g| < 0.2), ``"a small improvement"`` (0.2 <= |g| < 0.5),
        ``"a moderate improvement"`` (0.5 <= |g| < 0.8), ``"a large improvement"``
        (|g| >= 0.8); "decline" instead of "improvement" when the effect goes against
        the direction of benefit; ``"not reported"`` for a missing value.

    Notes
    -----
    The cut-points 0.2, 0.5 and 0.8 are Cohen's (1988) conventions for small, medium
    and large effects; below 0.05 the difference is negligible (the same limit the
    What Works Clearinghouse uses for baseline equivalence). Cohen's bands were meant
    as a last resort: in mentoring research, meta-analyses find average effects
    around g = 0.2 (DuBois et al. 2011), so "a small improvement" is a typical
    result for a mentoring program, not a disappointing one.

    References
    ----------
    .. [1] Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences (2nd ed.).
    .. [2] DuBois, D. L., Portillo, N., Rhodes, J. E., Silverthorn, N. & Valentine, J. C. (2011).
       How effective are mentoring programs for youth? A systematic assessment of the evidence.
       Psychological Science in the Public Interest, 12(2), 57-91.

    Examples
    --------
    >>> effect_words(0.31)
    'a small improvement'
    >>> effect_words(-0.1)
    'a very small decline'
    >>> effect_words(0.01)
    'no meaningful change'
    """
    v = _num(g)
    if math.isnan(v):
        return "not reported"
    size = abs(v)
    if size < EFFECT_BANDS[0][1]:
        return EFFECT_BANDS[0][0]
    better = (v > 0) == bool(higher_is_better)
    word = "improvement" if better else "decline"
    for band, limit in EFFECT_BANDS[1:]:
        if size < limit:
            return f"a {band} {word}"
    return f"a large {word}"


def certainty_words(ci_low: float, ci_high: float, p_adj: float, *, alpha: float = 0.05) -> str:
    """Say how sure we are that a difference is real, in words.

    Parameters
    ----------
    ci_low, ci_high : float
        95% confidence interval of the difference.
    p_adj : float
        p-value adjusted for multiplicity (Holm).
    alpha : float, default 0.05

    Returns
    -------
    str
        * adjusted p < .001 and the CI excludes 0: "we are very confident this is a real difference";
        * adjusted p < ``alpha`` and the CI excludes 0: "we are fairly confident this is a real difference";
        * the CI excludes 0 but the adjusted p does not pass: "there is a hint of a real difference, but
          after allowing for the number of comparisons made the result is uncertain";
        * otherwise: "the result is uncertain: the data are consistent with no difference";
        * any input missing: "there is not enough information to judge".

    Notes
    -----
    The confidence interval is not adjusted for multiplicity while the p-value is,
    so the two can disagree; the adjusted p decides.

    Examples
    --------
    >>> certainty_words(0.1, 0.5, 0.01)
    'we are fairly confident this is a real difference'
    >>> certainty_words(-0.1, 0.5, 0.3)
    'the result is uncertain: the data are consistent with no difference'
    """
    lo, hi, p = _num(ci_low), _num(ci_high), _num(p_adj)
    if not 0 < alpha < 1:
        raise ParameterError(f"The 'alpha' parameter of certainty_words must be in (0, 1); got {alpha}.")
    if any(math.isnan(x) for x in (lo, hi, p)):
        return "there is not enough information to judge"
    excludes = lo > 0 or hi < 0
    if excludes and p < 0.001:
        return "we are very confident this is a real difference"
    if excludes and p < alpha:
        return "we are fairly confident this is a real difference"
    if excludes:
        return ("there is a hint of a real difference, but after allowing for the number of comparisons "
                "made the result is uncertain")
    return "the result is uncertain: the data are consistent with no difference"


def format_words(fmt: str) -> str:
    """A delivery format in words (``"dyad"`` -> ``"one mentor with one mentee"``)."""
    return _FORMAT_WORDS.get(fmt, str(fmt))


# --------------------------------------------------------------------------- helpers


def _labels(results: StudyResults) -> dict[str, str]:
    from mentor_eval.report.names import arm_labels

    return arm_labels(results)


def _outcome(results: StudyResults, outcome: str) -> str:
    from mentor_eval.report.names import outcome_label

    return outcome_label(results, outcome)


def _p(p: float) -> str:
    v = _num(p)
    if math.isnan(v):
        return "not reported"
    return "< 0.001" if v < 0.001 else f"= {v:.3f}"


def _list(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _enrolled(results: StudyResults) -> int | None:
    from mentor_eval.report.protect import enrolled_total

    return enrolled_total(results)


def _arm_enrolled(results: StudyResults) -> dict[str, int | None]:
    flow = results.flow
    out: dict[str, int | None] = {}
    if flow is None or not len(flow):
        return out
    first = flow[flow["wave"] == results.study.baseline]
    for arm, n in zip(first["arm"], first["n_enrolled"], strict=True):
        out[arm] = None if pd.isna(n) else int(n)
    return out


def _sites(results: StudyResults) -> list[str]:
    rep = results.provenance.get("report") if results.provenance else None
    if rep is not None:
        return sorted(rep.get("sites", []))
    if results.data is not None and "site_id" in results.data.participants.columns:
        return sorted(str(s) for s in pd.unique(results.data.participants["site_id"].dropna()))
    return []


def _min_cell(results: StudyResults) -> int:
    rep = results.provenance.get("report") if results.provenance else None
    return int(rep["min_cell"]) if rep else int(results.study.privacy.min_cell)


def _design_words(design: str) -> str:
    return {
        "randomized": "randomized study (participants were assigned to arms by chance)",
        "quasi-experimental": "quasi-experimental study (participants were not assigned to arms by chance)",
        "single-arm": "single-group study (no comparison group)",
    }.get(design, f"{design} study")


# --------------------------------------------------------------------------- summary


def executive_summary(results: StudyResults) -> list[str]:
    """The executive summary: what was tried, for whom, what changed, how sure we are.

    Parameters
    ----------
    results : StudyResults
        Preferably protected (:func:`mentor_eval.report.protect.protect`).

    Returns
    -------
    list of str
        Plain-text paragraphs: (1) the arms and their mentorship models; (2) the
        participants (number enrolled, sites, waves); (3) one paragraph per primary
        outcome with each arm's effect versus control in words, with Hedges g, its
        95% CI and the Holm-adjusted p from the ANCOVA contrasts; (4) the
        pre-registered hypotheses; (5) how sure we are: multiplicity, the WWC
        attrition verdict, reliability and measurement invariance.

    Notes
    -----
    Numbers are rounded to two decimals (p to three). An estimate that was
    suppressed, or could not be computed, reads "not reported".
    """
    if not isinstance(results, StudyResults):
        raise ParameterError(f"The 'results' parameter of executive_summary must be a StudyResults; got "
                             f"{type(results).__name__}.")
    st = results.study
    labels = _labels(results)
    control = st.control_arm
    arms = [a for a in st.arms if a.key != control]
    paras: list[str] = []

    tried = [f"{a.label} ({format_words(a.model.format)})" if a.label == a.model.name else
             f"{a.label} ({a.model.name}: {format_words(a.model.format)})" for a in arms]
    what = (f"{st.name} is a {_design_words(st.design)} of {len(arms)} mentorship "
            f"{'model' if len(arms) == 1 else 'models'}: {_list(tried)}.")
    if control is not None:
        what += f" Each was compared with a control group ({labels.get(control, control)}) that received no mentoring."
    paras.append(what)

    n = _enrolled(results)
    sites = _sites(results)
    waves = [f"{w.key} (week {w.week:g})" for w in st.waves]
    who = (f"{n:,} participants were enrolled" if n is not None else
           "The number of participants enrolled is withheld to protect privacy")
    if sites:
        who += f" at {len(sites)} {'site' if len(sites) == 1 else 'sites'} ({_list(sites)})"
    who += f", and surveyed {len(waves)} times: {_list(waves)}."
    paras.append(who)

    con = results.contrasts
    primary = [o for o in st.outcomes.primary if con is not None and len(con) and o in set(con["outcome"])]
    if not primary and control is not None:
        paras.append("No comparison with the control group could be estimated; see the limitations.")
    for o in primary:
        rows = con[con["outcome"] == o]
        order = {k: i for i, k in enumerate(st.arm_keys)}
        rows = rows.iloc[np.argsort([order.get(a, 99) for a in rows["arm"]], kind="stable")]
        parts = []
        for r in rows.itertuples(index=False):
            label = labels.get(r.arm, r.arm)
            g = _num(getattr(r, "g", np.nan))
            if math.isnan(g):
                parts.append(f"{label}: not reported (too few participants or no estimate)")
                continue
            parts.append(
                f"{label} showed {effect_words(g)} (g = {g:.2f}, 95% CI {_num(r.g_ci_low):.2f} to "
                f"{_num(r.g_ci_high):.2f}; {certainty_words(r.g_ci_low, r.g_ci_high, r.p_adj)}, "
                f"adjusted p {_p(r.p_adj)})"
            )
        paras.append(f"What changed in {_outcome(results, o)}, compared with the control group at the "
                     f"{st.final} survey after adjusting for where people started: " + "; ".join(parts) + ".")

    hyp = results.hypotheses
    if hyp is not None and len(hyp):
        sup = hyp[hyp["verdict"] == "supported"]
        items = [f"{h} ({labels.get(a, a)} on {_outcome(results, o)})"
                 for h, a, o in zip(sup["hypothesis"], sup["arm"], sup["outcome"], strict=True)]
        text = (f"Of {len(hyp)} pre-registered {'hypothesis' if len(hyp) == 1 else 'hypotheses'} (predictions "
                f"written down before the data were analysed), {len(sup)} {'was' if len(sup) == 1 else 'were'} "
                "supported after adjusting for the number of hypotheses tested")
        paras.append(text + (f": {_list(items)}." if items else "."))

    sure = ["How sure are we? g is the difference between an arm and the control group in standard "
            "deviations (0.2 is small, 0.5 moderate; mentoring programs typically achieve about 0.2). The 95% "
            "confidence interval (CI) is the range of effects the data are consistent with. Because many "
            "comparisons were made, p-values were adjusted (Holm method) so that chance findings are less "
            "likely to be reported as real."]
    att = results.attrition
    if att is not None and len(att):
        high = att[att["verdict"] == "high"]
        if len(high):
            sure.append(f"Attrition (participants lost before the last survey) was high by the What Works "
                        f"Clearinghouse standard for {len(high)} of {len(att)} comparisons, so the groups left "
                        "to compare may differ in ways the analysis cannot fully correct.")
        else:
            sure.append("Attrition (participants lost before the last survey) was low by the What Works "
                        "Clearinghouse standard.")
    rel = results.reliability
    if rel is not None and len(rel) and "below_threshold" in rel.columns:
        low = rel[rel["below_threshold"].fillna(False).astype(bool)]
        if len(low):
            sure.append(f"{len(low)} scale-by-wave reliability {'estimate was' if len(low) == 1 else 'estimates were'}"
                        " below .70, so those scores are noisy.")
        else:
            sure.append("Every scale measured reliably in this sample (Cronbach's alpha of .70 or more at every "
                        "wave).")
    from mentor_eval.report.tables import invariance_verdicts

    inv = invariance_verdicts(results)
    if inv:
        bad = [k for k, v in inv.items() if "scalar invariance holds" not in v]
        if bad:
            sure.append("Some questionnaires may not work the same way in every arm (measurement invariance "
                        f"not fully supported for {_list([_instrument(results, b) for b in bad])}).")
        else:
            sure.append("The questionnaires worked the same way in every arm at baseline (measurement "
                        "invariance held), so their scores can be compared across arms.")
    paras.append(" ".join(sure))
    return paras


def _instrument(results: StudyResults, inst: str) -> str:
    try:
        return results.study.instrument(inst).instrument.name
    except Exception:
        return str(inst)


# --------------------------------------------------------------------------- limitations


def limitations(results: StudyResults) -> list[str]:
    """Limitations of this evaluation, written from the design and measurement checks.

    Returns
    -------
    list of str
        One plain-text item per problem found, in this order: design (quasi-experimental
        or single-arm), high attrition (WWC verdict per arm), baseline non-equivalence
        ("does not satisfy", and "requires statistical adjustment" rows the analysis did
        not adjust for), failed or uncertain measurement invariance, low reliability
        (overall and per arm), analyses that could not run (``results.notes``),
        suppressed cells, exploratory subgroup and dose-response analyses. Always ends
        with the multiplicity caveat for secondary outcomes.
    """
    if not isinstance(results, StudyResults):
        raise ParameterError(f"The 'results' parameter of limitations must be a StudyResults; got "
                             f"{type(results).__name__}.")
    st = results.study
    labels = _labels(results)
    out: list[str] = []
    if st.design == "quasi-experimental":
        out.append("Participants were not assigned to arms by chance (quasi-experimental design), so differences "
                   "between arms may partly reflect who chose or was chosen for each program, even after "
                   "adjusting for baseline scores and covariates.")
    elif st.design == "single-arm":
        out.append("There was no comparison group, so changes over time cannot be attributed to the program: "
                   "they could reflect growing up, repeated testing or events outside the program.")

    att = results.attrition
    if att is not None and len(att) and "verdict" in att.columns:
        for r in att[att["verdict"] == "high"].itertuples(index=False):
            if pd.isna(r.overall_attrition_pct):
                detail = "(the percentages are withheld to protect privacy)"
            else:
                detail = (f"({r.overall_attrition_pct:.1f}% lost overall and a gap of {r.differential_pct:.1f} "
                          f"percentage points between the arm and control, above the {r.boundary} limit of "
                          f"{r.max_differential_pct:.1f})")
            out.append(f"High attrition for {labels.get(r.arm, r.arm)} by the What Works Clearinghouse standard "
                       f"{detail}: the participants who stayed may not be comparable between arms.")

    base = results.baseline
    if base is not None and len(base) and "category" in base.columns:
        for cat, why in (("does not satisfy", "by more than 0.25 standard deviations, too much for statistical "
                                              "adjustment to remove by WWC standards"),
                         ("requires statistical adjustment", "by 0.05 to 0.25 standard deviations, and the "
                                                             "analysis did not adjust for it")):
            rows = base[base["category"] == cat]
            if not len(rows):
                continue
            items = [f"{_variable(results, v)} ({labels.get(a, a)})" for v, a in zip(rows["variable"], rows["arm"],
                                                                                      strict=True)]
            out.append(f"At baseline the arms differed from the control group {why}: {_list(items)}. Results "
                       "for these arms may partly reflect differences that existed before the program.")

        hidden = base[base["category"].isna() & base.get("suppressed", pd.Series(False, index=base.index)
                                                          ).fillna(False).astype(bool)]
        if len(hidden):
            names = sorted({_variable(results, str(v).split("=", 1)[0]) for v in hidden["variable"]})
            out.append(f"Baseline equivalence could not be shown for some comparisons of {_list(names)}: they "
                       f"involve a group of fewer than {_min_cell(results)} people (or numbers from which one "
                       "could be worked out), so the verdict is withheld with the numbers.")

    inv = results.invariance
    if inv is not None and len(inv) and "verdict" in inv.columns:
        bad = inv[~inv["verdict"].astype(str).str.startswith(("holds", "baseline"))]
        for inst, part in bad.groupby("instrument", sort=False):
            lvl = part["level"].iloc[0]
            out.append(f"Measurement invariance across arms was {part['verdict'].iloc[0]} for "
                       f"{_instrument(results, inst)} at the {lvl} level: the questionnaire may not measure the "
                       "same thing in the same way in every arm, so differences between arms in its scores "
                       "should be read with caution.")

    for name, by_arm in (("reliability", False), ("reliability_by_arm", True)):
        rel = getattr(results, name)
        if rel is None or not len(rel) or "below_threshold" not in rel.columns:
            continue
        low = rel[rel["below_threshold"].fillna(False).astype(bool)]
        if not len(low):
            continue
        items = []
        for r in low.itertuples(index=False):
            where = f"{r.wave}" + (f", {labels.get(r.arm, r.arm)}" if by_arm else "")
            # rounded down: a flagged alpha of .6996 must not read "0.70" beside "below .70"
            alpha = "" if pd.isna(r.alpha) else f", alpha = {math.floor(float(r.alpha) * 100) / 100:.2f}"
            items.append(f"{_instrument(results, r.instrument)} {r.scale} ({where}{alpha})")
        shown = items[:8] + ([f"{len(items) - 8} more"] if len(items) > 8 else [])
        scope = "within single arms" if by_arm else "in the whole sample"
        out.append(f"Low reliability (Cronbach's alpha below .70) {scope}: {_list(shown)}. Scores on these "
                   "scales contain much measurement error, which makes real effects harder to detect.")

    notes = results.notes
    if notes is not None and len(notes):
        items = [f"{s}{' (' + t + ')' if isinstance(t, str) and t else ''}: {r}"
                 for s, t, r in zip(notes["step"], notes["target"], notes["reason"], strict=True)]
        out.append("Some analyses could not be run: " + "; ".join(items))

    from mentor_eval.report.protect import suppressed_count

    n_sup = suppressed_count(results)
    if n_sup:
        out.append(f"To protect privacy, values describing fewer than {_min_cell(results)} participants were "
                   f"suppressed (in {n_sup} table rows), together with values from which they could be "
                   "worked out; these appear as 'suppressed'.")

    if (results.moderators is not None and len(results.moderators)) or (
            results.dose_response is not None and len(results.dose_response)):
        out.append("Subgroup (moderator) and dose-response analyses are exploratory: they were not "
                   "pre-registered and are not adjusted for the many comparisons they involve, so they suggest "
                   "questions for future evaluations rather than answer them.")
    if st.outcomes.secondary:
        out.append("Secondary outcomes were adjusted for multiplicity within their own family only; they "
                   "support, but cannot replace, the primary outcomes.")
    return out


def _variable(results: StudyResults, variable: str) -> str:
    from mentor_eval.report.names import variable_label

    return variable_label(results, variable)


# --------------------------------------------------------------------------- arm cards


def _two_sentences(text: str) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(parts[:2])


def arm_cards(results: StudyResults) -> list[dict[str, Any]]:
    """One card per arm: what was tried in that arm.

    Returns
    -------
    list of dict
        In the study's arm order, each with ``key``, ``label`` (user-supplied),
        ``model_key``, ``model_name``, ``format``, ``format_words``, ``description``
        (at most two sentences), ``belonging_mechanism``, ``hope_mechanism``,
        ``n_enrolled`` (int, or None when suppressed or unknown), ``is_control``.
    """
    if not isinstance(results, StudyResults):
        raise ParameterError(f"The 'results' parameter of arm_cards must be a StudyResults; got "
                             f"{type(results).__name__}.")
    enrolled = _arm_enrolled(results)
    cards = []
    for a in results.study.arms:
        mdl = a.model
        cards.append({
            "key": a.key, "label": a.label or a.key, "model_key": mdl.key, "model_name": mdl.name,
            "format": mdl.format, "format_words": format_words(mdl.format),
            "description": _two_sentences(mdl.description), "belonging_mechanism": mdl.belonging_mechanism,
            "hope_mechanism": mdl.hope_mechanism, "n_enrolled": enrolled.get(a.key), "is_control": mdl.is_control,
        })
    return cards
