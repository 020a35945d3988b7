"""The first screen of a report: the bottom line, the headline figure and at-a-glance cards.

A funder should answer "did it work, for which model, how sure are we" without
scrolling. Everything here comes from the protected results, and from the same
numbers as the details below it (the contrasts table, the flow, the reliability
table), so the first screen and the details never disagree.

Effects are also given as the What Works Clearinghouse *improvement index*: the
expected change in percentile rank of an average control participant had they
received the program, ``100 * (Phi(g) - 0.5)`` (WWC Procedures and Standards
Handbook v4.1, appendix; Phi is the standard normal distribution function).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy.stats import norm

from mentor_eval.errors import ParameterError
from mentor_eval.pipeline import StudyResults
from mentor_eval.report import charts
from mentor_eval.report.html import escape
from mentor_eval.report.names import arm_labels, outcome_label, report_outcomes
from mentor_eval.report.palette import study_arm_colors
from mentor_eval.report.protect import _PROTECTED_KEY, enrolled_total, require_protected

__all__ = [
    "improvement_index",
    "format_p",
    "headline_effects",
    "headline_outcomes",
    "headline_figure",
    "bottom_line",
    "glance_cards",
    "wwc_rating",
    "first_screen_html",
]


def improvement_index(g: Any) -> float:
    """WWC improvement index of a standardized effect: ``100 * (Phi(g) - 0.5)`` percentile points.

    Parameters
    ----------
    g : float
        Hedges g (arm minus control, in pooled standard deviations).

    Returns
    -------
    float
        Expected change in percentile rank of an average control participant, from
        -50 to 50; NaN for a missing g.

    References
    ----------
    .. [1] What Works Clearinghouse (2020). Procedures and Standards Handbook, version 4.1,
       appendix E (improvement index).

    Examples
    --------
    >>> round(improvement_index(0.25), 1)
    9.9
    >>> improvement_index(0.0)
    0.0
    """
    try:
        v = float(g)
    except (TypeError, ValueError):
        return math.nan
    if math.isnan(v):
        return math.nan
    return float(100.0 * (norm.cdf(v) - 0.5))


def format_p(p: Any) -> str:
    """A p-value as people read it: ``"< 0.001"``, ``"0.004"``, ``"0.27"``; ``""`` if missing.

    Examples
    --------
    >>> [format_p(x) for x in (0.0002, 0.004, 0.0449, 0.27, 1.0)]
    ['< 0.001', '0.004', '0.045', '0.27', '1.00']
    """
    try:
        v = float(p)
    except (TypeError, ValueError):
        return ""
    if math.isnan(v):
        return ""
    if v < 0.001:
        return "< 0.001"
    if v < 0.1:
        return f"{v:.3f}"
    return f"{v:.2f}"


def _single_arm(results: StudyResults) -> bool:
    return results.study.control_arm is None or results.contrasts is None or not len(results.contrasts)


def headline_outcomes(results: StudyResults) -> list[str]:
    """The outcomes on the first screen: the primary outcomes the run analysed (at most three)."""
    outs = report_outcomes(results)
    prim = [o for o in results.study.outcomes.primary if o in outs]
    return (prim or outs)[:3]


def headline_effects(results: StudyResults) -> pd.DataFrame:
    """One row per headline outcome x mentored arm: the effect shown on the first screen.

    Returns
    -------
    pandas.DataFrame
        ``outcome`` and ``arm`` (keys), ``outcome_label``, ``arm_label``, ``g``,
        ``g_ci_low``, ``g_ci_high``, ``p_adj``, ``improvement_index``,
        ``kind`` (``"vs control"``: ANCOVA contrast, cluster-aware when the
        pipeline gives ``cluster_method``; ``"pre/post"``: within-arm change, g_av,
        for a single-arm study), ``cluster_method``, ``suppressed`` and ``clear``
        (the effect is clearly above or below zero: for a comparison with control,
        CI above 0 and adjusted p < .05; for a single-arm change, a CI that excludes 0).
        The bottom line and the headline figure's filled markers both read ``clear``.
    """
    require_protected("headline_effects", results)
    single = _single_arm(results)
    outs = headline_outcomes(results)
    labels = arm_labels(results)
    cols = ["outcome", "arm", "outcome_label", "arm_label", "g", "g_ci_low", "g_ci_high", "p_adj",
            "improvement_index", "kind", "cluster_method", "suppressed", "clear"]
    if not single:
        con = results.contrasts
        part = con[con["outcome"].isin(outs)].copy()
        out = pd.DataFrame({
            "outcome": part["outcome"].to_numpy(), "arm": part["arm"].to_numpy(),
            "g": pd.to_numeric(part["g"], errors="coerce").to_numpy(dtype=float),
            "g_ci_low": pd.to_numeric(part["g_ci_low"], errors="coerce").to_numpy(dtype=float),
            "g_ci_high": pd.to_numeric(part["g_ci_high"], errors="coerce").to_numpy(dtype=float),
            "p_adj": pd.to_numeric(part["p_adj"], errors="coerce").to_numpy(dtype=float),
            "kind": "vs control",
            "cluster_method": (part["cluster_method"].astype(object).to_numpy() if "cluster_method" in part.columns
                               else np.full(len(part), None, dtype=object)),
            "suppressed": part["suppressed"].fillna(False).to_numpy(dtype=bool) if "suppressed" in part.columns
            else np.zeros(len(part), bool),
        })
    else:
        pp = results.prepost
        part = pp[pp["outcome"].isin(outs)].copy() if len(pp) else pp
        if not len(part):
            return pd.DataFrame(columns=cols)
        p = pd.to_numeric(part["p"], errors="coerce").to_numpy(dtype=float) if "p" in part.columns else np.nan
        out = pd.DataFrame({
            "outcome": part["outcome"].to_numpy(), "arm": part["arm"].to_numpy(),
            "g": pd.to_numeric(part["g_av"], errors="coerce").to_numpy(dtype=float),
            "g_ci_low": pd.to_numeric(part["g_av_ci_low"], errors="coerce").to_numpy(dtype=float),
            "g_ci_high": pd.to_numeric(part["g_av_ci_high"], errors="coerce").to_numpy(dtype=float),
            "p_adj": p, "kind": "pre/post", "cluster_method": None,
            "suppressed": part["suppressed"].fillna(False).to_numpy(dtype=bool) if "suppressed" in part.columns
            else np.zeros(len(part), bool),
        })
    out["outcome_label"] = [outcome_label(results, o) for o in out["outcome"]]
    out["arm_label"] = [labels.get(a, a) for a in out["arm"]]
    out["improvement_index"] = [improvement_index(g) for g in out["g"]]
    if single:
        out["clear"] = (out["g_ci_low"] > 0) | (out["g_ci_high"] < 0)
    else:
        out["clear"] = (out["g_ci_low"] > 0) & (out["p_adj"] < 0.05)
    order_o = {o: i for i, o in enumerate(outs)}
    order_a = {a: i for i, a in enumerate(results.study.arm_keys)}
    out = out.assign(_o=out["outcome"].map(order_o), _a=out["arm"].map(order_a)).sort_values(["_o", "_a"])
    return out[cols].reset_index(drop=True)


def headline_figure(results: StudyResults) -> go.Figure:
    """Each model's effect on each headline outcome (belonging, hope) with its 95% CI, ordered and labelled.

    One row per arm (largest average effect on top), one panel per outcome, each point
    labelled with g and the improvement index; the arm colours are the study's.
    """
    eff = headline_effects(results)
    if not len(eff):
        raise ParameterError("No effects to show on the first screen: the comparisons did not run (see the notes).")
    single = eff["kind"].iloc[0] == "pre/post"
    frame = pd.DataFrame({
        "outcome": eff["outcome_label"], "arm": eff["arm_label"], "estimate": eff["g"],
        "ci_low": eff["g_ci_low"], "ci_high": eff["g_ci_high"],
        "text": [("" if math.isnan(g) else f"g {g:.2f} · {ii:+.0f} pct") for g, ii in
                 zip(eff["g"], eff["improvement_index"], strict=True)],
        "hover": [("" if math.isnan(ii) else f"; improvement index {ii:+.0f} percentile points; adjusted p "
                   f"{format_p(p)}") for ii, p in zip(eff["improvement_index"], eff["p_adj"], strict=True)],
        "suppressed": eff["suppressed"], "emphasis": eff["clear"].to_numpy(dtype=bool),
    })
    frame.attrs = {"suppression": {"min_cell": results.provenance[_PROTECTED_KEY]["min_cell"]}}
    colors = study_arm_colors(results.study, arm_labels(results))
    if single:
        title = "How much participants changed from the first to the last survey"
        x_title = "Change in standard deviations (g)"
    else:
        title = "Effect of each mentorship model compared with no mentoring"
        x_title = "Effect in standard deviations (Hedges g)"
    fig = charts.forest_chart(frame, title=title, x_title=x_title, colors=colors,
                              labels=list(dict.fromkeys(eff["outcome_label"])), shared_x=True)
    labelled = eff["arm"].nunique() <= 8  # forest_chart labels the points of up to eight arms
    pct = ("'pct' is the improvement index: how many percentile points an average control participant would "
           "move up with the program. " if labelled else
           "Point at a square to see its improvement index (how many percentile points an average control "
           "participant would move up with the program). ")
    cap = ("Each row is one mentorship model, the largest average effect on top; the square is its estimated "
           "effect and the bar its 95% confidence interval; right of the dashed line means higher than the "
           "control group. " + pct + "A filled square marks a model that clearly raised the outcome after "
           "allowing for every comparison in the report (as the summary counts them); an open square one that "
           "did not, even when its bar alone clears the line. Both panels share one scale.") if not single else (
           "Each row is the program group; the square is the average change from the first to the last survey "
           "in standard deviations and the bar its 95% confidence interval (filled: the change is clearly "
           "different from zero; open: too uncertain to rule out no change); 'pct' is how many percentile "
           "points an average participant moved up from where the group started. Both panels share one scale. "
           "Without a comparison group the change cannot be credited to the program.")
    fig.layout.meta = {**fig.layout.meta, "caption": cap}
    return fig


# --------------------------------------------------------------------------- WWC rating and cards


def wwc_rating(results: StudyResults) -> tuple[str, str]:
    """The What Works Clearinghouse rating this design would get, and why.

    Returns
    -------
    (str, str)
        The rating (``"Meets WWC standards without reservations"``, ``"... with
        reservations"``, ``"Does not meet WWC standards"``) and a plain reason.

    Notes
    -----
    Group-design rules (Standards Handbook v4.1): a randomized trial with low attrition
    meets standards without reservations; a randomized trial with high attrition, or a
    quasi-experimental design, can meet them only with reservations, and only when
    the groups were equivalent at baseline on the outcome (|g| <= 0.25, adjusted when
    above 0.05); a study without a comparison group is not eligible. This is a guide,
    not a WWC review (which also checks confounds and outcome measures).
    """
    st = results.study
    if st.design == "single-arm" or st.control_arm is None:
        return ("Not eligible for a WWC rating", "there is no comparison group")
    att = results.attrition
    high = att is not None and len(att) and "verdict" in att.columns and (att["verdict"] == "high").any()
    unknown_att = att is None or not len(att) or att["verdict"].isna().any()
    base = results.baseline
    outcome_rows = base[base["variable"].astype(str).isin(st.outcomes.primary)] if base is not None and len(
        base) else pd.DataFrame()
    fails = len(outcome_rows) and outcome_rows["category"].isin(["does not satisfy",
                                                                 "requires statistical adjustment"]).any()
    if st.design == "randomized" and not high and not unknown_att:
        return ("Meets WWC standards without reservations", "randomized, with low attrition")
    if st.design != "randomized":
        why = "not randomized (quasi-experimental)"
    elif high:
        # the same count the summary gives ("high ... for 5 of 5 comparisons"), never a vaguer word
        n_high, n_all = int((att["verdict"] == "high").sum()), int(att["verdict"].notna().sum())
        which = "every arm" if n_high == n_all else f"{n_high} of {n_all} arms"
        why = f"randomized, but attrition was high for {which}"
    else:
        why = "randomized, but attrition could not be measured"
    if fails:
        return ("Does not meet WWC standards", f"{why}, and the groups differed at baseline on an outcome")
    # equivalence must be shown, not assumed: no (or only hidden) baseline comparisons of the outcomes
    # leave the rating open rather than granting it
    shown = outcome_rows["category"].notna() if len(outcome_rows) and "category" in outcome_rows else []
    if not len(outcome_rows) or not bool(pd.Series(shown).all()):
        return ("Cannot be rated from these data", f"{why}, and equivalence at baseline could not be shown")
    return ("Meets WWC standards with reservations", f"{why}; groups were equivalent at baseline")


def _retention(results: StudyResults) -> tuple[int | None, int | None]:
    from mentor_eval.outcomes.design import ALL_ARMS

    flow = results.flow
    if flow is None or not len(flow):
        return None, None
    tot = flow[(flow["arm"] == ALL_ARMS) & (flow["wave"] == results.study.final)]
    if not len(tot) or pd.isna(tot["n_analysed"].iloc[0]) or pd.isna(tot["n_enrolled"].iloc[0]):
        return None, None
    return int(tot["n_analysed"].iloc[0]), int(tot["n_enrolled"].iloc[0])


def glance_cards(results: StudyResults) -> list[dict[str, str]]:
    """At-a-glance cards: participants, retention, reliability, design quality.

    Returns
    -------
    list of dict
        Each ``{"title", "value", "detail"}`` (plain text).
    """
    require_protected("glance_cards", results)
    st = results.study
    m = results.provenance[_PROTECTED_KEY]["min_cell"]
    n = enrolled_total(results)
    arms = len(st.arms)
    cards = [{"title": "Participants", "value": f"{n:,}" if n is not None else "withheld",
              "detail": ("enrolled in one program" if arms == 1 else
                         f"enrolled in {arms - 1} {'model' if arms == 2 else 'models'} and a control group")
              + (f" at {len(results.provenance[_PROTECTED_KEY].get('sites', []))} sites"
                 if len(results.provenance[_PROTECTED_KEY].get("sites", [])) > 1 else "")}]
    analysed, enrolled = _retention(results)
    if analysed is not None and enrolled:
        cards.append({"title": "Retention", "value": f"{100 * analysed / enrolled:.0f}%",
                      "detail": f"{analysed:,} of {enrolled:,} answered the last survey ({st.final})"})
    elif len(st.waves) == 1:
        cards.append({"title": "Retention", "value": "one survey", "detail": "a baseline report: no follow-up yet"})
    else:
        cards.append({"title": "Retention", "value": "withheld", "detail": f"a group of fewer than {m} people"})
    rel = results.reliability
    if rel is not None and len(rel) and "alpha" in rel.columns and rel["alpha"].notna().any():
        outs = set(report_outcomes(results))
        keys = [f"{i}.{s}" for i, s in zip(rel["instrument"], rel["scale"], strict=True)]
        part = rel[[k in outs for k in keys]] if outs else rel
        part = part if len(part) else rel
        lo = float(part["alpha"].min())
        n_low = int((part["alpha"] < 0.70).sum())
        # ".70 or more" is decided on the same unrounded alphas as the limitations list
        detail = ("every outcome scale at .70 or more (Cronbach's alpha: how consistently the questions "
                  "measure one thing)" if n_low == 0 else
                  f"{n_low} scale-by-wave {'value' if n_low == 1 else 'values'} below .70 (Cronbach's alpha: "
                  "how consistently the questions measure one thing)")
        cards.append({"title": "Reliability", "value": f"lowest alpha {_floor2(lo)}", "detail": detail})
    else:
        # say it was not checked rather than leave the reader to wonder why the card is missing
        cards.append({"title": "Reliability", "value": "not checked",
                      "detail": "this run skipped the reliability analysis (Cronbach's alpha: how consistently "
                                "the questions measure one thing)"})
    rating, why = wwc_rating(results)
    cards.append({"title": "Design quality", "value": rating, "detail": why})
    return cards


def _floor2(x: float) -> str:
    """Two decimals, rounded down, so a value just under .70 never prints as 0.70."""
    return f"{math.floor(x * 100) / 100:.2f}"


def bottom_line(results: StudyResults) -> list[str]:
    """Two or three plain sentences: what was tried, what changed, how sure we are."""
    require_protected("bottom_line", results)
    st = results.study
    eff = headline_effects(results)
    labels = arm_labels(results)
    n = enrolled_total(results)
    who = f"{n:,} participants" if n is not None else "the participants"
    if not len(eff):
        if len(st.waves) == 1:
            return [f"This is a baseline report: {who} answered the first survey of {st.name}; the program's "
                    "effects can be measured after the follow-up survey."]
        return [f"{st.name} enrolled {who}, but no effect could be estimated (see the notes)."]
    single = eff["kind"].iloc[0] == "pre/post"
    shown = eff[eff["g"].notna()]
    out: list[str] = []
    if single:
        arm = labels.get(eff["arm"].iloc[0], eff["arm"].iloc[0])
        out.append(f"We followed {who} in {arm} from the {st.baseline} survey to the {st.final} survey.")
        parts = []
        among = list(dict.fromkeys(eff["outcome"]))
        for r in shown.itertuples(index=False):
            sure = bool(r.clear)
            name = _short_outcome(results, r.outcome, among)
            text = f"{name} {'rose' if r.g > 0 else 'fell'} by {abs(r.g):.2f} standard deviations"
            if sure and not math.isnan(r.improvement_index):
                text += f" ({r.improvement_index:+.0f} percentile points for an average participant)"
            elif not sure:
                # the interval includes zero: the size may be large, the uncertainty is what is too large
                text += ", but too uncertain to rule out no change"
            parts.append(text)
        if parts:
            out.append("; ".join(parts) + ".")
        out.append("There was no comparison group, so we cannot tell how much of this change the program caused.")
        return out
    k = len(set(eff["arm"]))
    out.append(f"We compared {k} mentorship {'model' if k == 1 else 'models'} with no mentoring, among {who}.")
    parts = []
    for o in dict.fromkeys(eff["outcome"]):
        part = shown[shown["outcome"] == o]
        name = _short_outcome(results, o, list(dict.fromkeys(eff["outcome"])))
        clear = part[part["clear"]]
        if not len(part):
            parts.append(f"{name}: not reported")
        elif not len(clear):
            parts.append(f"{name}: no model clearly better than no mentoring")
        else:
            best = clear.loc[clear["g"].idxmax()]
            who_ = "every model" if len(clear) == k else f"{len(clear)} of {k} models"
            parts.append(f"{name}: {who_} clearly raised it (largest: {best['arm_label']}, g = {best['g']:.2f}, "
                         f"{best['improvement_index']:+.0f} percentile points for an average participant)")
    out.append("; ".join(parts) + ".")
    n_tests = int(eff["p_adj"].notna().sum())
    sure = f"How sure: p-values are adjusted for the {n_tests} comparisons shown" if n_tests else "How sure:"
    clustered = eff["cluster_method"].dropna()
    if len(clustered) and any(str(c) not in ("", "none") for c in clustered):
        sure += ", and the analysis allows for participants sharing a mentor or group"
    rating, why = wwc_rating(results)
    if "without" in rating:
        sure += "; the design would meet WWC standards without reservations."
    else:
        sure += f"; read the results with caution ({why})."
    out.append(sure)
    return out


def _short_outcome(results: StudyResults, outcome: str, among: list[str]) -> str:
    """"Hope" / "Belonging" when the outcome's construct names it uniquely, else its full label."""
    try:
        si, sc = results.study.resolve_outcome(outcome)
        construct = str(si.instrument.construct)
        others = [results.study.resolve_outcome(o)[0].instrument.construct for o in among if o != outcome]
        if construct not in others:
            return construct.replace("_", " ").capitalize()
    except Exception:  # an outcome the study cannot resolve: use its label
        pass
    return outcome_label(results, outcome)


def _list(items: list[str]) -> str:
    items = [str(i) for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def first_screen_html(results: StudyResults) -> str:
    """The bottom line and the at-a-glance cards as escaped HTML (the headline figure is shown separately)."""
    lines = "".join(f"<p>{escape(s)}</p>" for s in bottom_line(results))
    cards = "".join(
        f'<div class="me-card"><div class="me-card-title">{escape(c["title"])}</div>'
        f'<div class="me-card-value">{escape(c["value"])}</div>'
        f'<div class="me-card-detail">{escape(c["detail"])}</div></div>'
        for c in glance_cards(results)
    )
    style = ("<style>.me-bottom-line{font-size:1.15em;line-height:1.45;margin:0.4em 0 0.8em}"
             ".me-cards{display:flex;flex-wrap:wrap;gap:0.5em;margin:0.4em 0 0.6em}"
             ".me-card{flex:1 1 0;min-width:10em;border:1px solid #ccc;border-radius:6px;padding:0.35em 0.6em}"
             ".me-card-title{font-size:0.8em;text-transform:uppercase;letter-spacing:0.04em;color:#555}"
             ".me-card-value{font-size:1.05em;font-weight:600}.me-card-detail{font-size:0.8em;color:#333}"
             "</style>")
    return f'{style}<div class="me-bottom-line">{lines}</div><div class="me-cards">{cards}</div>'
