"""The display frames behind every report table (labels, plain column names, suppression flags)."""

from __future__ import annotations

import pandas as pd

from mentor_eval._params import check_one_of, check_positive_int
from mentor_eval.errors import ParameterError
from mentor_eval.pipeline import StudyResults
from mentor_eval.report.disclosure import SUPPRESSED
from mentor_eval.report.html import escape
from mentor_eval.report.names import (
    _instrument_name,
    _keep,
    _relabel,
    _renamed,
    _scale_label,
    arm_labels,
    outcome_label,
    variable_label,
)
from mentor_eval.report.protect import _PROTECTED_KEY, _require_protected, _suppress, is_protected, protect

__all__ = [
    "flow_table_for_report",
    "attrition_table",
    "attrition_sentence",
    "baseline_table",
    "reliability_table",
    "reliability_by_arm_table",
    "invariance_table",
    "invariance_verdicts",
    "item_statistics",
    "contrasts_table",
    "prepost_table",
    "hypotheses_table",
    "exploratory_table",
    "notes_table",
    "versions_table",
    "parameters_table",
    "inputs_table",
    "model_summary",
    "title_html",
    "icc_table",
    "mixed_contrasts_table",
    "contrast_methods_table",
    "model_fit_table",
    "model_fit_tables",
    "clustered_se_table",
]

# --------------------------------------------------------------------------- flow and attrition


def _empty_safe(func):
    """A table of a result the study does not have (e.g. no control arm, one wave) is an
    empty frame, which :func:`mentor_eval.report.display.show_table` reports as not applicable."""
    import functools

    @functools.wraps(func)
    def wrapper(results, *args, **kwargs):
        try:
            return func(results, *args, **kwargs)
        except KeyError:
            source = _SOURCES.get(func.__name__)
            if source is not None and not len(getattr(results, source)):
                return pd.DataFrame()
            raise

    return wrapper


_SOURCES = {"attrition_table": "attrition", "baseline_table": "baseline", "contrasts_table": "contrasts",
            "prepost_table": "prepost", "reliability_table": "reliability", "flow_table_for_report": "flow",
            "reliability_by_arm_table": "reliability_by_arm", "invariance_table": "invariance"}


@_empty_safe
def flow_table_for_report(results: StudyResults, min_cell: int | None = None) -> pd.DataFrame:
    """Participant flow per arm and wave, suppressed, with labels.

    Parameters
    ----------
    results : StudyResults
        Raw (then protected with ``min_cell``) or already protected results.
    min_cell : int, optional
        As in :func:`protect`.

    Returns
    -------
    pandas.DataFrame
        Columns ``Arm``, ``Wave``, ``Enrolled``, ``Assessed``, ``% assessed``,
        ``Analysed``, ``% analysed`` and the suppression flags (shown as the

        suppression marker by ``show_table``).
    """
    safe = protect(results, min_cell)
    flow = _relabel(safe.flow, safe)
    names = {"arm": "Arm", "wave": "Wave", "n_enrolled": "Enrolled", "n_assessed": "Assessed",
             "pct_assessed": "% assessed", "n_analysed": "Analysed", "pct_analysed": "% analysed"}
    return _renamed(_keep(flow, list(names)), names)



@_empty_safe
def attrition_table(results: StudyResults, *, full: bool = False) -> pd.DataFrame:
    """Attrition per arm versus control with the WWC verdict (protected results).

    Returns
    -------
    pandas.DataFrame
        ``Arm``, ``Enrolled``, ``Analysed``, ``Attrition %``, ``Overall attrition %``,
        ``Differential (points)``, ``Largest differential still low``, ``Verdict``
        (``full`` adds the control counts and the boundary used).
    """
    _require_protected("attrition_table", results)
    t = _relabel(results.attrition, results)
    names = {"arm": "Arm", "n_enrolled": "Enrolled", "n_analysed": "Analysed", "attrition_pct": "Attrition %",
             "overall_attrition_pct": "Overall attrition %", "differential_pct": "Differential (points)",
             "max_differential_pct": "Largest differential still low", "verdict": "Verdict"}
    if full:
        names.update({"reference": "Compared with", "n_enrolled_ref": "Control enrolled",
                      "n_analysed_ref": "Control analysed", "attrition_pct_ref": "Control attrition %",
                      "boundary": "WWC boundary"})
    return _renamed(_keep(t, list(names)), names)


def attrition_sentence(results: StudyResults) -> str:
    """One sentence explaining the WWC attrition verdict for this study."""
    att = results.attrition
    if att is None or not len(att):
        return "Attrition could not be assessed (no comparison with a control group)."
    high = att[att["verdict"] == "high"]
    boundary = str(att["boundary"].iloc[0]) if "boundary" in att.columns else "cautious"
    labels = arm_labels(results)
    intro = (f"The What Works Clearinghouse (WWC) calls attrition 'high' when, for the overall share of "
             f"participants lost, the gap in losses between an arm and the control group is larger than its "
             f"{boundary} boundary, because then the groups left to compare may no longer be alike")
    if not len(high):
        return intro + "; by that standard attrition was low for every arm."
    names = ", ".join(labels.get(a, a) for a in high["arm"])
    return intro + f"; by that standard attrition was high for {names}."


# --------------------------------------------------------------------------- baseline and psychometrics

_CATEGORY_WORDS = {
    "satisfies": "equivalent (difference of 0.05 SD or less)",
    "satisfies with adjustment": "close enough, as the analysis adjusts for it (0.05 to 0.25 SD)",
    "requires statistical adjustment": "needs adjustment, which the analysis does not make (0.05 to 0.25 SD)",
    "does not satisfy": "not equivalent (more than 0.25 SD)",
    "not computable": "could not be computed",
}


@_empty_safe
def baseline_table(results: StudyResults, *, full: bool = False) -> pd.DataFrame:
    """Baseline equivalence per variable and arm, with the WWC category in words.

    Returns
    -------
    pandas.DataFrame
        ``Characteristic``, ``Arm``, ``Arm mean``, ``Control mean``, ``Difference (g)``,
        ``WWC baseline equivalence`` (words); ``full`` adds ns, SDs and the kind.
    """
    _require_protected("baseline_table", results)
    t = _relabel(results.baseline, results, cols=("arm", "reference"))
    t["variable"] = [variable_label(results, v) for v in t["variable"]]
    t["category"] = [_CATEGORY_WORDS.get(c, c) for c in t["category"]]
    names = {"variable": "Characteristic", "arm": "Arm", "mean_arm": "Arm mean", "mean_ref": "Control mean",
             "g": "Difference (g)", "category": "WWC baseline equivalence"}
    if full:
        names.update({"n_arm": "n arm", "n_ref": "n control", "sd_arm": "SD arm", "sd_ref": "SD control",
                      "kind": "Kind", "note": "Note"})
    return _renamed(_keep(t, list(names)), names)






@_empty_safe
def reliability_table(results: StudyResults, *, full: bool = False) -> pd.DataFrame:
    """Reliability of each scale in this sample (all arms together), per wave.

    Returns
    -------
    pandas.DataFrame
        ``Instrument``, ``Scale``, ``Wave``, ``n``, ``Alpha``, ``95% CI low``,
        ``95% CI high``, ``Omega``, ``Below .70`` (``full`` adds ``k``, standardized
        alpha, average inter-item r and the note).
    """
    _require_protected("reliability_table", results)
    return _reliability_frame(results, results.reliability, full=full, by_arm=False)


@_empty_safe
def reliability_by_arm_table(results: StudyResults, *, full: bool = True) -> pd.DataFrame:
    """Reliability per wave and arm (flagged below the threshold), as :func:`reliability_table`."""
    _require_protected("reliability_by_arm_table", results)
    return _reliability_frame(results, results.reliability_by_arm, full=full, by_arm=True)


def _reliability_frame(results: StudyResults, t: pd.DataFrame, *, full: bool, by_arm: bool) -> pd.DataFrame:
    if t is None or not len(t):
        return pd.DataFrame({"Instrument": [], "Scale": []})
    t = t.copy()
    t["scale"] = [_scale_label(results, i, s) for i, s in zip(t["instrument"], t["scale"], strict=True)]
    t["instrument"] = [_instrument_name(results, i) for i in t["instrument"]]
    if by_arm:
        t = _relabel(t, results, cols=("arm",))
    names = {"instrument": "Instrument", "scale": "Scale", "wave": "Wave"}
    if by_arm:
        names["arm"] = "Arm"
    names.update({"n": "n", "alpha": "Alpha", "alpha_ci_low": "95% CI low", "alpha_ci_high": "95% CI high",
                  "omega_total": "Omega", "below_threshold": "Below .70"})
    if full:
        names.update({"k": "Items", "alpha_std": "Standardized alpha", "average_r": "Average inter-item r",
                      "note": "Note"})
    return _renamed(_keep(t, list(names)), names)


_INVARIANCE_WORDS = {
    "configural": "the same questions go together in every arm",
    "metric": "each question is as strongly tied to the scale in every arm",
    "scalar": "the same score means the same level in every arm, so averages can be compared",
}


@_empty_safe
def invariance_table(results: StudyResults, *, full: bool = False) -> pd.DataFrame:
    """Measurement invariance across arms per instrument and level, with the verdict.

    Returns
    -------
    pandas.DataFrame
        Funder view: ``Instrument``, ``Level`` (configural / metric / scalar),
        ``What it checks`` (the level in plain words), ``Verdict``. ``full``: ``Level``,
        ``CFI``, ``RMSEA``, ``SRMR``, ``Change in CFI``, ``Change in RMSEA``, ``Verdict``
        and the chi-square test and its difference test.
    """
    _require_protected("invariance_table", results)
    t = results.invariance
    if t is None or not len(t):
        return pd.DataFrame({"Instrument": [], "Verdict": []})
    t = t.copy()
    t["instrument"] = [_instrument_name(results, i) for i in t["instrument"]]
    t["checks"] = [_INVARIANCE_WORDS.get(str(lv), "") for lv in t["level"]]
    if not full:
        # funders get the level in plain words and the verdict; the fit indices are for researchers
        names = {"instrument": "Instrument", "level": "Level", "checks": "What it checks", "verdict": "Verdict"}
        return _renamed(_keep(t, list(names)), names)
    names = {"instrument": "Instrument", "level": "Level", "cfi": "CFI", "rmsea": "RMSEA", "srmr": "SRMR",
             "delta_cfi": "Change in CFI", "delta_rmsea": "Change in RMSEA", "verdict": "Verdict"}
    if full:
        names.update({"n": "n", "chisq": "Chi-square", "df": "df", "p": "p", "chisq_diff": "Chi-square change",
                      "df_diff": "df change", "p_diff": "p change"})
    return _renamed(_keep(t, list(names)), names)


def invariance_verdicts(results: StudyResults) -> dict[str, str]:
    """Instrument id -> the most demanding invariance level that holds, in words."""
    t = results.invariance
    out: dict[str, str] = {}
    if t is None or not len(t):
        return out
    for inst, part in t.groupby("instrument", sort=False):
        held = "configural"
        failed = None
        for lvl, verdict in zip(part["level"].iloc[1:], part["verdict"].iloc[1:], strict=True):
            if str(verdict).startswith("holds"):
                held = lvl
            else:
                failed = (lvl, verdict)
                break
        out[inst] = (f"{held} invariance holds" if failed is None else
                     f"{failed[0]} invariance {failed[1]} (holds up to {held})")
    return out


def item_statistics(results: StudyResults, instrument_id: str, wave: str | None = None,
                    min_cell: int | None = None) -> pd.DataFrame:
    """Item statistics (``psych::alpha``-style) of one instrument at one wave, all arms together.

    Parameters
    ----------
    results : StudyResults
        *Unprotected* results (item statistics need the item responses; the output is
        aggregate and suppressed).
    instrument_id : str
    wave : str, optional
        Default: the first wave the instrument was given.
    min_cell : int, optional
        Items answered by fewer respondents are suppressed.

    Returns
    -------
    pandas.DataFrame
        ``Scale``, ``Item``, ``Gist``, ``Reversed``, ``n``, ``Mean``, ``SD``,
        ``Item-rest r``, ``Alpha if dropped``, one row per scored item of each
        lowest-level scale.
    """
    from mentor_eval.psychometrics import item_stats

    if results.data is None:
        raise ParameterError("item_statistics needs the unprotected results of run_study (item responses).")
    st = results.study
    si = st.instrument(instrument_id)
    inst = si.instrument
    wave = wave or (si.waves[0] if si.waves else st.baseline)
    m = check_positive_int("item_statistics", "min_cell", st.privacy.min_cell if min_cell is None else min_cell)
    items = results.data.items(instrument_id, wave=wave)
    rs = inst.response_scale
    rows = []
    for sc in inst.scales:
        if sc.subscales:
            continue
        cols = [i for i in sc.item_ids if i in items.columns]
        if len(cols) < 2:
            continue
        rev = [i for i in cols if inst.item(i).reverse]
        st_frame = item_stats(items[cols].astype(float), reverse=rev, scale=(rs.min, rs.max))
        st_frame.insert(0, "scale", sc.label or sc.id)
        st_frame["gist"] = [inst.item(i).gist for i in st_frame["item"]]
        rows.append(st_frame)
    if not rows:
        return pd.DataFrame({"Scale": [], "Item": []})
    t = pd.concat(rows, ignore_index=True)
    t = _suppress(t, ["n"], ["mean", "sd", "r_drop", "alpha_if_dropped", "r_total"], m)
    names = {"scale": "Scale", "item": "Item", "gist": "Gist", "reversed": "Reversed", "n": "n", "mean": "Mean",
             "sd": "SD", "r_drop": "Item-rest r", "alpha_if_dropped": "Alpha if dropped"}
    return _renamed(_keep(t, list(names)), names)



@_empty_safe
def contrasts_table(results: StudyResults, *, full: bool = False) -> pd.DataFrame:
    """Arm-vs-control ANCOVA contrasts: difference, g, CIs, adjusted p.

    Returns
    -------
    pandas.DataFrame
        ``Outcome``, ``Arm``, ``Difference``, ``95% CI low``, ``95% CI high``, ``g``,
        ``g 95% CI low``, ``g 95% CI high``, ``Adjusted p``, ``Family``
        (``full`` adds ns, SE, df, t, unadjusted p).
    """
    _require_protected("contrasts_table", results)
    t = _relabel(results.contrasts, results)
    names = {"outcome": "Outcome", "arm": "Arm", "estimate": "Difference", "ci_low": "95% CI low",
             "ci_high": "95% CI high", "g": "g", "g_ci_low": "g 95% CI low", "g_ci_high": "g 95% CI high",
             "p_adj": "Adjusted p", "family": "Family"}
    if full:
        names.update({"n_arm": "n arm", "n_ref": "n control", "se": "SE", "se_unclustered": "SE (unclustered)",
                      "cluster_method": "SE method", "df": "df", "t": "t", "p": "p (unadjusted)",
                      "adjust": "Adjustment"})
    return _renamed(_keep(t, list(names)), names)



@_empty_safe
def prepost_table(results: StudyResults, *, full: bool = False) -> pd.DataFrame:
    """Within-arm change per outcome: means before and after, change with CI, g_av."""
    _require_protected("prepost_table", results)
    t = _relabel(results.prepost, results)
    names = {"outcome": "Outcome", "arm": "Arm", "n": "n", "mean_pre": "Mean before", "mean_post": "Mean after",
             "estimate": "Change", "ci_low": "95% CI low", "ci_high": "95% CI high", "g_av": "g (within arm)"}
    if full:
        names.update({"sd_pre": "SD before", "sd_post": "SD after", "r_pre_post": "r before-after", "t": "t",
                      "df": "df", "p": "p", "d_z": "d_z", "wilcoxon_p": "Wilcoxon p"})
    return _renamed(_keep(t, list(names)), names)



def hypotheses_table(results: StudyResults) -> pd.DataFrame:
    """Pre-registered hypotheses with estimate, CI, g, adjusted p and the verdict explained.

    Returns
    -------
    pandas.DataFrame
        ``Hypothesis``, ``Arm``, ``Outcome``, ``Expected``, ``Difference``,
        ``95% CI low``, ``95% CI high``, ``g``, ``Adjusted p``, ``Verdict``,
        ``What it means``.
    """
    _require_protected("hypotheses_table", results)
    h = results.hypotheses
    if h is None or not len(h):
        return pd.DataFrame({"Hypothesis": [], "Verdict": []})
    t = _relabel(h, results)
    t["direction"] = [f"an {d} compared with control" if d == "increase" else f"a {d} compared with control"
                      for d in t["direction"]]
    meaning = []
    for v in t["verdict"]:
        if v == "supported":
            meaning.append("The data support the expected direction, even after accounting for testing "
                           "several hypotheses.")
        elif v == "not supported":
            meaning.append("After accounting for testing several hypotheses, the data do not show the expected "
                           "change clearly enough; this is not proof that there is no effect.")
        else:
            meaning.append("No estimate could be published for this hypothesis.")
    t["meaning"] = meaning
    names = {"hypothesis": "Hypothesis", "arm": "Arm", "outcome": "Outcome", "direction": "Expected",
             "estimate": "Difference", "ci_low": "95% CI low", "ci_high": "95% CI high", "g": "g",
             "p_adj": "Adjusted p", "verdict": "Verdict", "meaning": "What it means"}
    return _renamed(_keep(t, list(names)), names)


def exploratory_table(results: StudyResults, kind: str, *, full: bool = False) -> pd.DataFrame:
    """Exploratory analyses: ``kind="dose"`` (dose-response) or ``"moderators"`` (subgroups).

    Moderators: the omnibus interaction tests (``full`` adds every interaction and
    subgroup effect). All rows are labelled exploratory.
    """
    _require_protected("exploratory_table", results)
    check_one_of("exploratory_table", "kind", kind, ("dose", "moderators"))
    t = results.dose_response if kind == "dose" else results.moderators
    if t is None or not len(t):
        return pd.DataFrame({"Outcome": [], "Status": []})
    t = _relabel(t, results)
    for col in ("moderator", "term"):
        if col in t.columns and (kind == "dose" or col == "moderator"):
            t[col] = [variable_label(results, v) if isinstance(v, str) and v else v for v in t[col]]
    if "level" in t.columns:
        t["level"] = [str(v).replace("_", " ") if isinstance(v, str) else v for v in t["level"]]
    if kind == "dose":
        names = {"outcome": "Outcome", "arm": "Arm", "term": "Dose", "estimate": "Change per unit",
                 "ci_low": "95% CI low", "ci_high": "95% CI high", "p": "p", "n": "n", "status": "Status"}
    else:
        if not full:
            t = t[t["test"] == "interaction F"]
        names = {"outcome": "Outcome", "moderator": "Moderator", "test": "Test", "term": "Term",
                 "level": "Category", "estimate": "Estimate", "ci_low": "95% CI low", "ci_high": "95% CI high",
                 "t": "t", "F": "F", "p": "p", "status": "Status"}
        if not full:
            for k in ("term", "level", "estimate", "ci_low", "ci_high", "t"):
                names.pop(k)
    return _renamed(_keep(t, list(names)), names)


def notes_table(results: StudyResults) -> pd.DataFrame:
    """Analyses that could not run, with the reason (participant ids scrubbed by :func:`protect`)."""
    _require_protected("notes_table", results)
    n = results.notes
    if n is None or not len(n):
        return pd.DataFrame({"Analysis": [], "Applies to": [], "Reason": []})
    return n.rename(columns={"step": "Analysis", "target": "Applies to", "reason": "Reason"})


# --------------------------------------------------------------------------- methods appendix


def versions_table(results: StudyResults) -> pd.DataFrame:
    """Software versions behind the results."""
    v = results.provenance.get("versions", {})
    return pd.DataFrame({"Software": list(v), "Version": [str(x) for x in v.values()]})


def parameters_table(results: StudyResults) -> pd.DataFrame:
    """Analysis parameters (outcomes, control arm, waves, covariates, clusters, thresholds)."""
    p = dict(results.provenance.get("parameters", {}))
    if is_protected(results):
        p["report_min_cell"] = results.provenance[_PROTECTED_KEY]["min_cell"]
    rows = []
    for k, v in p.items():
        rows.append({"Parameter": k, "Value": ", ".join(map(str, v)) if isinstance(v, list | tuple) else str(v)})
    rows.append({"Parameter": "design", "Value": results.study.design})
    return pd.DataFrame(rows)


def inputs_table(results: StudyResults) -> pd.DataFrame:
    """SHA-256 fingerprint of every input file (study file, participants, responses)."""
    rows = results.provenance.get("inputs", [])
    t = pd.DataFrame(rows, columns=["role", "file", "bytes", "sha256"])
    return t.rename(columns={"role": "Input", "file": "File", "bytes": "Bytes", "sha256": "SHA-256"})


def model_summary(results: StudyResults) -> list[str]:
    """Plain-language list of the statistical models used (methods appendix)."""
    st = results.study
    covs = ", ".join(st.covariates) or "none"
    clusters = ", ".join(st.clusters) or "none"
    return [
        f"Main effects: analysis of covariance (ANCOVA) of each outcome at the last wave ({st.final}) on arm, "
        f"the baseline ({st.baseline}) score and the covariates ({covs}); each arm is compared with the control "
        "group; the standardized effect size g is the adjusted difference divided by the pooled standard "
        "deviation, with a small-sample correction (Hedges).",
        "Multiplicity: Holm's step-down adjustment within the primary and within the secondary outcomes, and "
        "across the pre-registered hypotheses (one-sided in the pre-registered direction).",
        f"Change over all waves: linear mixed model (REML) with arm, wave and their interaction, the "
        f"covariates, and random intercepts for participants and clusters ({clusters}); adjusted means per arm "
        "and wave with Satterthwaite degrees of freedom. Uses everyone with at least one survey (valid if "
        "dropout depends only on what was observed).",
        "Within-arm change: paired t-test of last minus first wave with a Wilcoxon signed-rank check; "
        "g_av standardizes by the average of the two standard deviations.",
        "Reliable change: Jacobson-Truax reliable change index with this sample's baseline Cronbach alpha.",
        "Reliability: Cronbach's alpha with Feldt confidence interval and McDonald's omega (one-factor model); "
        "values below .70 are flagged.",
        "Measurement invariance: multi-group confirmatory factor analysis across arms at baseline "
        "(configural, metric, scalar), judged with Chen's (2007) change-in-fit criteria.",
        "Design checks: What Works Clearinghouse attrition boundaries and baseline equivalence (Hedges g; "
        "Cox index for binary characteristics).",
    ]

def title_html(results: StudyResults, title: str | None = None, kind: str = "Evaluation report") -> str:
    """The report's title block: ``<h1>`` (escaped) and a line with the study design and privacy rule.

    ``title`` defaults to ``"<study name>: <kind>"``.
    """
    st = results.study
    text = title if title else f"{st.name}: {kind.lower()}" if kind else st.name
    sub = f"{kind}; {st.design} study."
    if is_protected(results):
        m = results.provenance[_PROTECTED_KEY]["min_cell"]
        sub += (f" Only totals are shown: numbers about fewer than {m} people are hidden (marked "
                f"'{SUPPRESSED}').")
    return f'<h1 class="me-title">{escape(text)}</h1><p class="me-subtitle">{escape(sub)}</p>'



# --------------------------------------------------------------------------- researcher view


def icc_table(results: StudyResults) -> pd.DataFrame:
    """Intraclass correlations per outcome and level (mixed model), with the ANCOVA's own
    cluster ICCs when the pipeline provides them (``ancova_icc``).

    Returns
    -------
    pandas.DataFrame
        ``Outcome``, ``Model``, ``Level``, ``ICC`` and, from ``ancova_icc``, ``Variance``,
        ``Clusters``, ``Singletons``, ``Mean cluster size``, ``Method``.
    """
    _require_protected("icc_table", results)
    parts = []
    icc = results.icc
    if icc is not None and len(icc):
        t = icc.copy()
        t["model"] = "mixed model over all waves"
        parts.append(t)
    extra = getattr(results, "ancova_icc", None)
    if isinstance(extra, pd.DataFrame) and len(extra):
        t = extra.copy()
        t["model"] = "ANCOVA at the last wave"
        parts.append(t)
    if not parts:
        return pd.DataFrame()
    t = pd.concat(parts, ignore_index=True)
    # the mixed model's rows carry no suppression flags of their own: nothing of theirs is hidden
    for c in [c for c in t.columns if c == "suppressed" or str(c).endswith("_suppressed")]:
        t[c] = t[c].astype("boolean").fillna(False).astype(bool)
    if "n_groups" in t.columns:  # the mixed model names its number of units n_groups
        t["n_clusters"] = t["n_clusters"].astype(object).where(t["n_clusters"].notna(), t["n_groups"]) \
            if "n_clusters" in t.columns else t["n_groups"]
        t["n_clusters"] = pd.array(pd.to_numeric(t["n_clusters"], errors="coerce"), dtype="Int64")
    if "n_singletons" in t.columns:  # a count, though the mixed model's rows have none
        t["n_singletons"] = pd.array(pd.to_numeric(t["n_singletons"], errors="coerce"), dtype="Int64")
    t["outcome"] = [outcome_label(results, o) for o in t["outcome"]]
    t["level"] = [_level_label(results, v) if isinstance(v, str) else v for v in t["level"]]
    names = {"outcome": "Outcome", "model": "Model", "level": "Level", "icc": "ICC", "variance": "Variance",
             "n_clusters": "Clusters", "n_singletons": "Singletons", "mean_cluster_size": "Mean cluster size",
             "method": "Method"}
    return _renamed(_keep(t, list(names)), names)


def mixed_contrasts_table(results: StudyResults) -> pd.DataFrame:
    """Mixed-model contrasts of each arm with control per outcome and wave (Satterthwaite df)."""
    _require_protected("mixed_contrasts_table", results)
    mc = results.mixed_contrasts
    if mc is None or not len(mc):
        return pd.DataFrame()
    t = _relabel(mc, results)
    names = {"outcome": "Outcome", "wave": "Wave", "arm": "Arm", "type": "Contrast", "estimate": "Estimate",
             "se": "SE", "df": "df (Satterthwaite)", "ci_low": "95% CI low", "ci_high": "95% CI high",
             "p": "p", "p_adj": "Adjusted p", "family": "Family", "adjust": "Adjustment"}
    return _renamed(_keep(t, list(names)), names)


def contrast_methods_table(results: StudyResults) -> pd.DataFrame:
    """Every contrast family with how it was estimated and adjusted.

    Returns
    -------
    pandas.DataFrame
        ``Family``, ``Analysis``, ``Standard errors`` (the clustering method when the
        pipeline reports one, with the unclustered SE kept for comparison), ``Multiplicity``,
        ``Contrasts`` (how many).
    """
    _require_protected("contrast_methods_table", results)
    rows = []
    for name, frame, analysis in (("contrasts", results.contrasts, "ANCOVA at the last wave"),
                                  ("mixed_contrasts", results.mixed_contrasts, "mixed model over all waves"),
                                  ("hypotheses", results.hypotheses, "pre-registered, one-sided ANCOVA")):
        if frame is None or not len(frame):
            continue
        fams = frame["family"] if "family" in frame.columns else pd.Series([name] * len(frame))
        for fam, part in frame.groupby(fams.to_numpy(), sort=False):
            method = "model-based"
            if "cluster_method" in part.columns and part["cluster_method"].notna().any():
                method = ", ".join(sorted(set(part["cluster_method"].dropna().astype(str))))
                if "se_unclustered" in part.columns:
                    method += " (unclustered SE shown beside it)"
            elif name == "mixed_contrasts":
                method = "REML mixed model, Satterthwaite df"
            adjust = ", ".join(sorted(set(part["adjust"].dropna().astype(str)))) if "adjust" in part.columns else ""
            rows.append({"Family": str(fam), "Analysis": analysis, "Standard errors": method,
                         "Multiplicity": adjust or "none", "Contrasts": len(part)})
    return pd.DataFrame(rows)


_MODEL_NAMES = {"ancova": "ANCOVA at the last wave", "mixed_model": "mixed model over all waves"}


def _method_words(row: pd.Series) -> str:
    est, cm = str(row.get("estimation", "")), str(row.get("cluster_method", ""))
    if est in ("REML", "ML"):
        return f"{est} mixed model"
    return "OLS, CR2 cluster-robust SEs" if cm == "cr2" else "OLS, no clustering"


def _level_label(results: StudyResults, level: object) -> str:
    """A cluster level by the study's label, else its column name without ``_id``
    (``mentor_id`` -> ``Mentor``)."""
    v = str(level)
    labels = dict(getattr(results.study, "labels", {}) or {})
    if v in labels:
        return str(labels[v])
    return variable_label(results, v[:-3] if v.endswith("_id") and len(v) > 3 else v)


def _per_level(results: StudyResults, part: pd.DataFrame, value: str, digits: int | None) -> str:
    """``"Site 3, Mentor 275"``: one value per level of one model (levels outermost first)."""
    out = []
    for lv, v in zip(part["level"], part[value], strict=True):
        if pd.isna(v):
            continue
        out.append(f"{_level_label(results, lv)} {v:.{digits}f}" if digits is not None else
                   f"{_level_label(results, lv)} {int(v)}")
    return ", ".join(out)


def model_fit_table(results: StudyResults) -> pd.DataFrame:
    """Fit of every cluster-aware model: per outcome and model, size, clusters and ICC per
    level, likelihood and information criteria, singular-fit flag, estimation and df method.

    Every number comes from the models' own result tables (``model_fit`` from
    ``AncovaResult.fit`` / ``MixedModelResult.fit``, ``ancova_icc``, ``icc``), as
    protected by :func:`~mentor_eval.report.protect.protect`: a model's size (and its BIC,
    which reveals it) is hidden wherever an arm count behind it is.

    Returns
    -------
    pandas.DataFrame
        ``Outcome``, ``Model`` (ANCOVA at the last wave / mixed model over all waves),
        ``Method`` (REML mixed model, OLS with CR2 SEs or OLS, and the df method), ``n``
        (participants), ``Observations`` (scores used), ``Clusters per level``, ``ICC per
        level`` (text, levels outermost first; the mixed model adds participants),
        ``logLik``, ``AIC``, ``BIC``, ``Singular fit``, with the suppression flags.
        Empty when no model was fitted.
    """
    _require_protected("model_fit_table", results)
    fit = getattr(results, "model_fit", None)
    if fit is None or not len(fit):
        return pd.DataFrame()
    t = fit.copy()
    levels = {"ancova": getattr(results, "ancova_icc", None), "mixed_model": results.icc}
    clusters, iccs = [], []
    for o, mod in zip(t["outcome"], t["model"], strict=True):
        src = levels.get(str(mod))
        part = src[src["outcome"] == o] if isinstance(src, pd.DataFrame) and len(src) else pd.DataFrame()
        if not len(part):
            clusters.append("")
            iccs.append("")
            continue
        count = "n_clusters" if "n_clusters" in part.columns else "n_groups"
        # the participant level of the mixed model is not a cluster (its count is n)
        pid = part["level"].astype(str).str.fullmatch(r"participant(_id)?") if mod == "mixed_model" else \
            pd.Series(False, index=part.index)
        clusters.append(_per_level(results, part[~pid.to_numpy()], count, None))
        iccs.append(_per_level(results, part, "icc", 3))
    t["clusters"] = clusters
    t["icc"] = iccs
    t["model"] = [_MODEL_NAMES.get(str(m), str(m)) for m in t["model"]]
    t["estimation"] = [f"{_method_words(r)}; {r['df_method']} df" if isinstance(r.get("df_method"), str)
                       else _method_words(r) for _, r in t.iterrows()]
    t["outcome"] = [outcome_label(results, o) for o in t["outcome"]]
    names = {"outcome": "Outcome", "model": "Model", "estimation": "Method", "n": "n", "n_obs": "Observations",
             "clusters": "Clusters per level", "icc": "ICC per level", "logLik": "logLik", "AIC": "AIC",
             "BIC": "BIC", "singular": "Singular fit"}
    return _renamed(_keep(t, list(names)), names)


def model_fit_tables(results: StudyResults) -> list[tuple[str, pd.DataFrame]]:
    """:func:`model_fit_table` as shown on the page: one table per model, a row per outcome.

    The columns that are the same on every row of a model (its method; the number of
    observations of an ANCOVA, which is its n) move into the caption, so the table fits
    the page.

    Returns
    -------
    list of (str, pandas.DataFrame)
        Caption and table per model fitted (ANCOVA at the last wave first); empty when
        none was.
    """
    t = model_fit_table(results)
    if not len(t):
        return []
    out = []
    for model, part in t.groupby("Model", sort=False):
        part = part.drop(columns=["Model"])
        caption = f"Model fit: {model}"
        methods = part["Method"].dropna().unique()
        if len(methods) == 1:
            caption += f" ({methods[0]})"
            part = part.drop(columns=["Method"])
        same = part["Observations"].astype("Float64").equals(part["n"].astype("Float64"))
        if same:  # one row per participant: n says it
            part = part.drop(columns=[c for c in part.columns if str(c).startswith("Observations")])
        out.append((caption + ", per outcome: clusters and ICC per level, likelihood, information criteria",
                    part.reset_index(drop=True)))
    return out


@_empty_safe
def clustered_se_table(results: StudyResults) -> pd.DataFrame:
    """Each arm-vs-control ANCOVA contrast's standard error with and without the clustering.

    Returns
    -------
    pandas.DataFrame
        ``Outcome``, ``Arm``, ``SE (clustered)``, ``SE (unclustered)``, ``Ratio`` (clustered
        over unclustered: how much the clustering widens the interval), ``df``, ``SE
        method``; hidden wherever the contrast is (the ratio with it). Empty when the
        analysis was not clustered.
    """
    _require_protected("clustered_se_table", results)
    con = results.contrasts
    if con is None or not len(con) or "se_unclustered" not in con.columns or \
            not (con["cluster_method"].astype(str) != "none").any():
        return pd.DataFrame()
    t = _relabel(con, results)
    se = pd.to_numeric(t["se"], errors="coerce")
    ols = pd.to_numeric(t["se_unclustered"], errors="coerce")
    t["ratio"] = se / ols
    t["cluster_method"] = t["cluster_method"].map({"mixed": "REML mixed model", "cr2": "CR2 cluster-robust",
                                                   "none": "unclustered"}).fillna(t["cluster_method"])
    names = {"outcome": "Outcome", "arm": "Arm", "se": "SE (clustered)", "se_unclustered": "SE (unclustered)",
             "ratio": "Ratio", "df": "df", "cluster_method": "SE method"}
    return _renamed(_keep(t, list(names)), names)
