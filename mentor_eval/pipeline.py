"""The end-to-end run: study -> validated data -> every analysis -> tidy results.

The CLI (``mentor-eval analyze`` / ``psychometrics`` / ``report``) and the report
notebooks call :func:`run_study`; nothing here formats output for people (that is
:mod:`mentor_eval.narrative`, :mod:`mentor_eval.figures` and the notebooks).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval import __version__
from mentor_eval.data import AnalysisData, load_analysis_data
from mentor_eval.errors import MentorEvalError, ParameterError
from mentor_eval.study import Study

__all__ = [
    "StudyResults",
    "StepNotes",
    "run_study",
    "run_psychometrics",
    "run_outcomes",
    "run_mechanisms",
    "write_tables",
    "write_table_files",
    "input_fingerprints",
    "package_versions",
]

RELIABILITY_THRESHOLD = 0.70

# Columns of each result table, so that a table that could not be computed is still well-formed
# (empty, with its columns) for the notebooks and writers that read it.
RESULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "flow": ("arm", "wave", "n_enrolled", "n_assessed", "pct_assessed", "n_analysed", "pct_analysed"),
    "attrition": ("arm", "reference", "n_enrolled", "n_analysed", "attrition_pct", "overall_attrition_pct",
                  "differential_pct", "boundary", "max_differential_pct", "verdict", "n_enrolled_ref",
                  "n_analysed_ref", "attrition_pct_ref", "boundary_note"),
    "baseline": ("variable", "arm", "reference", "n_arm", "n_ref", "mean_arm", "mean_ref", "sd_arm", "sd_ref", "g",
                 "kind", "category", "note"),
    "reliability": ("wave", "instrument", "scale", "n", "n_dropped", "k", "alpha", "alpha_std", "alpha_ci_low",
                    "alpha_ci_high", "ci_method", "omega_total", "average_r", "missing", "note", "below_threshold"),
    "reliability_by_arm": ("wave", "arm", "instrument", "scale", "n", "n_dropped", "k", "alpha", "alpha_std",
                           "alpha_ci_low", "alpha_ci_high", "ci_method", "omega_total", "average_r", "missing",
                           "note", "below_threshold"),
    "invariance": ("instrument", "wave", "group", "level", "chisq", "df", "p", "cfi", "tli", "rmsea",
                   "rmsea_ci_low", "rmsea_ci_high", "srmr", "npar", "n", "chisq_diff", "df_diff", "p_diff",
                   "delta_cfi", "delta_rmsea", "delta_srmr", "chen_noninvariant", "chisq_diff_significant",
                   "verdict"),
    "prepost": ("outcome", "arm", "n", "n_excluded", "n_pre_only", "n_post_only", "mean_pre", "sd_pre", "mean_post",
                "sd_post", "r_pre_post", "estimate", "se", "ci_low", "ci_high", "t", "df", "p", "wilcoxon_v",
                "wilcoxon_p", "wilcoxon_method", "n_zero_change", "d_z", "d_z_ci_low", "d_z_ci_high", "g_av",
                "g_av_ci_low", "g_av_ci_high", "g_av_ci_method", "ci_level", "note"),
    "ancova_means": ("outcome", "arm", "estimate", "se", "df", "ci_low", "ci_high", "n", "mean_post", "sd_post",
                     "cluster_method", "se_unclustered"),
    "contrasts": ("outcome", "contrast", "arm", "reference", "estimate", "se", "df", "t", "p", "family", "ci_low",
                  "ci_high", "ci_low_adj", "ci_high_adj", "g", "g_se", "g_ci_low", "g_ci_high", "standardizer",
                  "n_arm", "n_ref", "p_adj", "adjust", "cluster_method", "se_unclustered"),
    "ancova_icc": ("outcome", "level", "icc", "variance", "n_clusters", "n_singletons", "mean_cluster_size",
                   "method"),
    "mixed_means": ("outcome", "wave", "arm", "estimate", "se", "df", "ci_low", "ci_high", "n"),
    "mixed_contrasts": ("outcome", "type", "contrast", "arm", "wave", "estimate", "se", "df", "t", "p", "ci_low",
                        "ci_high"),
    "icc": ("outcome", "level", "icc"),
    "reliable_change": ("outcome", "reliability", "arm", "n", "n_excluded", "n_improved", "n_unchanged",
                        "n_deteriorated", "n_reliably_improved", "share_improved", "share_unchanged",
                        "share_deteriorated", "share_reliably_improved"),
    "hypotheses": ("hypothesis", "arm", "outcome", "direction", "estimate", "ci_low", "ci_high", "g", "p", "p_adj",
                   "adjust", "family", "verdict"),
    "moderators": ("outcome", "test", "term", "arm", "reference", "moderator", "level", "estimate", "se",
                   "t", "F", "df", "df_num", "df_denom", "ci_low", "ci_high", "p", "n", "n_excluded", "status"),
    "dose_response": ("outcome", "arm", "term", "model", "estimate", "se", "t", "df", "ci_low", "ci_high",
                      "p", "n", "n_excluded", "note", "status"),
    "item_distributions": ("instrument", "wave", "item", "item_id", "gist", "reverse", "level", "label", "n",
                           "n_item", "share", "midpoint"),
    "mediation": ("arm", "mediator", "outcome", "effect", "estimate", "se", "ci_low", "ci_high", "p", "n", "method",
                  "design", "ci_method", "n_excluded", "mediator_wave", "outcome_wave", "n_boot", "n_clusters",
                  "rho_at_zero"),
    "mediation_paths": ("arm", "mediator", "outcome", "path", "estimate", "se", "ci_low", "ci_high", "p", "n",
                        "method", "design", "ci_method", "n_boot", "n_clusters"),
    "fidelity": ("arm", "model", "indicator", "label", "type", "column", "expected", "primary", "n", "n_recorded",
                 "n_reached", "share_reached", "share_reached_all", "mean", "median"),
    "cace": ("model", "indicator", "outcome", "arm", "effect", "estimate", "se", "df", "ci_low", "ci_high", "p", "n",
             "n_arm", "n_compliers", "n_dose_missing", "n_clusters", "vcov", "first_stage_f", "wald", "rule"),
    "model_fit": ("outcome", "model", "n", "n_obs", "n_params", "estimation", "cluster_method", "vcov", "df_method",
                  "logLik", "AIC", "BIC", "singular", "converged"),
}


@dataclass(frozen=True)
class StudyResults:
    """Every result table of one study run (all tidy DataFrames; empty when not applicable).

    Attributes
    ----------
    flow : participant flow per arm x wave (enrolled, assessed, analysed)
    attrition : overall and differential attrition per arm with the WWC verdict
    baseline : baseline equivalence of outcomes and covariates (Hedges g / Cox index, WWC category)
    reliability : alpha (Feldt CI), omega per instrument x scale x wave (all arms together)
    reliability_by_arm : the same per wave x arm, flagged below the threshold
    invariance : measurement invariance across arms at baseline per instrument with subscales
    prepost : within-arm change per outcome x arm
    ancova_means : adjusted (estimated marginal) post means per outcome x arm
    contrasts : ANCOVA contrasts of each arm vs control per outcome, Holm within family; cluster-aware
        when the study declares clusters (columns ``cluster_method``, ``se_unclustered``)
    ancova_icc : per outcome x declared cluster level, the ICC behind the ANCOVA (see ``ancova``'s
        ``icc`` table); empty when the study declares no clusters
    mixed_means : mixed-model marginal means per outcome x wave x arm
    mixed_contrasts : mixed-model arm-vs-control contrasts per outcome x wave
    icc : intraclass correlations per outcome x level
    reliable_change : shares improved / unchanged / deteriorated per outcome x arm
    hypotheses : pre-registered hypotheses with estimates, adjusted p and verdict
    moderators : arm x moderator interaction tests (exploratory unless pre-registered)
    dose_response : change on dose within mentored arms (exploratory)
    item_distributions : share of each response level per instrument item at the final wave
    notes : analyses that could not run, with the reason
    provenance : versions, parameters and SHA-256 of every input
    mediation : indirect / direct / total / proportion per arm x mediator x outcome (belonging <-> hope)
    mediation_paths : the a, b and direct paths behind ``mediation`` (for path diagrams)
    fidelity : per arm x indicator, the share of participants reaching the model's expected dose
    cace : ITT, compliance share and complier average causal effect per outcome x arm
    model_fit : per outcome x model (``ancova`` at the last wave, ``mixed_model`` over all waves): n,
        likelihood, AIC/BIC, estimation, df method, singular fit (``AncovaResult.fit``,
        ``MixedModelResult.fit``)
    """

    study: Study
    data: AnalysisData
    flow: pd.DataFrame
    attrition: pd.DataFrame
    baseline: pd.DataFrame
    reliability: pd.DataFrame
    reliability_by_arm: pd.DataFrame
    invariance: pd.DataFrame
    prepost: pd.DataFrame
    ancova_means: pd.DataFrame
    contrasts: pd.DataFrame
    ancova_icc: pd.DataFrame
    mixed_means: pd.DataFrame
    mixed_contrasts: pd.DataFrame
    icc: pd.DataFrame
    reliable_change: pd.DataFrame
    hypotheses: pd.DataFrame
    moderators: pd.DataFrame
    dose_response: pd.DataFrame
    item_distributions: pd.DataFrame
    notes: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)
    mediation: pd.DataFrame = field(default_factory=pd.DataFrame)
    mediation_paths: pd.DataFrame = field(default_factory=pd.DataFrame)
    fidelity: pd.DataFrame = field(default_factory=pd.DataFrame)
    cace: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_fit: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Name -> result table (the DataFrame fields)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), pd.DataFrame)}


# ------------------------------------------------------------------ helpers
class StepNotes:
    """Collects why an analysis did not run, instead of failing the whole report."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def run(self, step: str, func: Callable[[], pd.DataFrame], *, target: str = "",
            columns: Sequence[str] = ()) -> pd.DataFrame:
        # Only user-data problems (MentorEvalError) become notes; bugs still raise. A failed step
        # returns an empty frame with the step's documented ``columns`` so later cells can read them.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return func()
        except MentorEvalError as exc:
            self.rows.append({"step": step, "target": target, "reason": str(exc)})
            return pd.DataFrame(columns=list(columns))

    def skip(self, step: str, target: str, reason: str, columns: Sequence[str] = ()) -> pd.DataFrame:
        """Record that a step cannot run (in plain words) and return its empty result."""
        self.rows.append({"step": step, "target": target, "reason": reason})
        return pd.DataFrame(columns=list(columns))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["step", "target", "reason"])


def _shaped(tables: dict[str, Any]) -> dict[str, Any]:
    """Give every empty result table its documented columns (see RESULT_COLUMNS)."""
    for name, table in tables.items():
        if isinstance(table, pd.DataFrame) and not len(table) and name in RESULT_COLUMNS:
            tables[name] = table.reindex(columns=list(dict.fromkeys([*RESULT_COLUMNS[name], *table.columns])))
    return tables


def _concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _with(frame: pd.DataFrame, **cols: Any) -> pd.DataFrame:
    if frame is None or not len(frame):
        return pd.DataFrame()
    frame = frame.copy()
    for i, (k, v) in enumerate(cols.items()):
        if k in frame.columns:
            frame[k] = v
        else:
            frame.insert(i, k, v)
    return frame


def input_fingerprints(study: Study) -> pd.DataFrame:
    """SHA-256 of the study file and every data file (streamed; files may be large)."""
    rows = []
    paths = [("study", study.path), ("participants", study.files.participants.path),
             ("responses", study.files.responses.path)]
    for role, p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        rows.append({"role": role, "file": Path(p).name, "bytes": Path(p).stat().st_size,
                     "sha256": h.hexdigest()})
    return pd.DataFrame(rows)


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages whose code computes the results."""
    out = {"python": platform.python_version(), "mentor-eval": __version__}
    for pkg in ("numpy", "pandas", "scipy", "statsmodels", "pingouin", "pandera", "plotly", "papermill",
                "nbconvert"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _cluster_columns(data: AnalysisData) -> tuple[str, ...]:
    """The study's cluster columns that exist and vary in the analysis frame."""
    return tuple(c for c in data.study.clusters if c in data.analysis.columns)


def _has_answers(rows: pd.DataFrame, si: Any) -> bool:
    cols = [c for c in si.item_columns().values() if c in rows.columns]
    return bool(len(rows)) and bool(cols) and bool(rows[cols].notna().to_numpy().any())


def _no_answers_reason(data: AnalysisData, si: Any) -> str:
    """Why an instrument has nothing to analyse, in plain words."""
    waves = ", ".join(si.waves)
    if not len(data.responses):
        return ("cannot be computed: no clean response rows at all (every row was quarantined or the "
                "responses file has none); see the validation quarantine")
    return (f"cannot be computed: no answers to {si.id} at its wave(s) {waves} yet (no rows, or every "
            "row there was quarantined)")


# ------------------------------------------------------------------ steps
def run_psychometrics(data: AnalysisData, *, threshold: float = RELIABILITY_THRESHOLD,
                      notes: StepNotes | None = None) -> dict[str, pd.DataFrame]:
    """Reliability per instrument x scale x wave (overall and per arm) and invariance across arms."""
    from mentor_eval.psychometrics import invariance, scale_reliability

    notes = notes or StepNotes()
    st = data.study
    overall, by_arm, inv = [], [], []
    participants = data.participants[["participant_id", "arm"]]
    for si in st.instruments:
        rows = data.responses[data.responses["wave"].isin(si.waves)]
        if not _has_answers(rows, si):
            notes.skip("reliability", si.id, _no_answers_reason(data, si))
            continue
        overall.append(notes.run("reliability", lambda si=si, rows=rows: scale_reliability(
            rows, si.instrument, si.columns, by=("wave",), threshold=threshold), target=si.id))
        with_arm = rows.merge(participants, on="participant_id", how="left")
        # Only arms that were given the instrument (e.g. no relationship measure for control).
        items_cols = [c for c in si.item_columns().values() if c in with_arm.columns]
        answered = with_arm[items_cols].notna().any(axis=1)
        with_arm = with_arm[with_arm["arm"].isin(with_arm.loc[answered, "arm"].unique())]
        by_arm.append(notes.run("reliability by arm", lambda si=si, w=with_arm: scale_reliability(
            w, si.instrument, si.columns, by=("wave", "arm"), threshold=threshold), target=si.id))
        inst = si.instrument
        subscales = [s for s in inst.scales if not s.subscales]
        multi = [s for s in inst.scales if s.subscales]
        if not multi or len(subscales) < 2:
            continue  # invariance needs a multi-factor model; single scales are judged by reliability
        model = {s.id: [f"i{i}" for i in s.item_ids] for s in subscales}
        first = si.waves[0] if si.waves else st.baseline
        items = data.items(si.id, wave=first)
        rev = [i for i in inst.reverse_item_ids if i in items.columns]
        rs = inst.response_scale
        if rev:
            items[rev] = (rs.min + rs.max) - items[rev]
        items = items.rename(columns={i: f"i{i}" for i in inst.item_ids if i in items.columns})
        res = notes.run("invariance", lambda items=items, model=model: invariance(items, model, "arm"),
                        target=si.id)
        inv.append(_with(res, instrument=si.id, wave=first, group="arm"))
    return _shaped({"reliability": _concat(overall), "reliability_by_arm": _concat(by_arm),
                    "invariance": _concat(inv)})


def _published_or_sample_reliability(data: AnalysisData, outcome: str, rel: pd.DataFrame) -> float | None:
    si, sc = data.study.resolve_outcome(outcome)
    if len(rel) and {"instrument", "scale", "wave", "alpha"} <= set(rel.columns):
        hit = rel[(rel["instrument"] == si.id) & (rel["scale"] == sc.id) & (rel["wave"] == data.study.baseline)]
        if len(hit) and np.isfinite(hit["alpha"].iloc[0]) and 0 < hit["alpha"].iloc[0] < 1:
            return float(hit["alpha"].iloc[0])
    return si.instrument.published_alpha


def _unusable_alpha_reason(data: AnalysisData, outcome: str, rel: pd.DataFrame | None) -> str | None:
    """Why this sample's alpha cannot stand in for the reliability (negative or >= 1), if so."""
    si, sc = data.study.resolve_outcome(outcome)
    if rel is not None and len(rel) and {"instrument", "scale", "wave", "alpha"} <= set(rel.columns):
        hit = rel[(rel["instrument"] == si.id) & (rel["scale"] == sc.id) & (rel["wave"] == data.study.baseline)]
        if len(hit) and np.isfinite(hit["alpha"].iloc[0]) and not 0 < hit["alpha"].iloc[0] < 1:
            return (f"this sample's baseline alpha is {hit['alpha'].iloc[0]:.2f}, outside 0-1 (the items do not "
                    "hang together here; check the reverse keys), so it cannot serve as the reliability; add "
                    "published_reliability or a retest entry to the instrument definition")
    return None


def run_outcomes(data: AnalysisData, *, outcomes: Sequence[str] | None = None, reliability: pd.DataFrame | None = None,
                 notes: StepNotes | None = None, mixed: bool = True) -> dict[str, pd.DataFrame]:
    """Design checks, pre/post, ANCOVA, mixed models, reliable change, hypotheses, moderators."""
    from mentor_eval.outcomes import (
        ancova,
        attrition,
        baseline_equivalence,
        dose_response,
        mixed_model,
        participant_flow,
        prepost,
        reliable_change,
    )
    from mentor_eval.outcomes.multiplicity import adjust_family

    notes = notes or StepNotes()
    st = data.study
    outs = list(outcomes) if outcomes else list(st.outcomes.all)
    primary = [o for o in outs if o in st.outcomes.primary]
    control = st.control_arm
    pre, post = st.baseline, st.final
    frame = data.analysis
    covs = [c for c in st.covariates if c in frame.columns]
    res: dict[str, Any] = {}
    scored = set(frame["outcome"].dropna().unique()) if "outcome" in frame.columns and len(frame) else set()
    for o in [o for o in outs if o not in scored]:
        notes.skip("outcome analyses", o, "cannot be computed: no clean scores for this outcome (no response "
                   "rows, every row quarantined, or too few items answered to score); see the validation "
                   "quarantine")
    outs = [o for o in outs if o in scored]
    primary = [o for o in primary if o in scored]

    # design checks
    primary_scores = frame[frame["outcome"].isin(primary or outs)]
    res["flow"] = notes.run("participant flow", lambda: participant_flow(
        data.participants, primary_scores, waves=list(st.wave_keys)))
    res["attrition"] = notes.run("attrition", lambda: attrition(
        data.participants, primary_scores, baseline_wave=pre, final_wave=post, control=control))
    base = frame[frame["wave"] == pre].pivot_table(index="participant_id", columns="outcome", values="score")
    base = base[[o for o in outs if o in base.columns]].reset_index()
    base = data.participants.merge(base, on="participant_id", how="left")
    binary = [c for c in covs if base[c].dropna().nunique() == 2 and not pd.api.types.is_float_dtype(base[c])]
    from mentor_eval.outcomes.design import BASELINE_COLUMNS

    n_arms = base["arm"].dropna().nunique() if "arm" in base.columns else 0
    if n_arms < 2:
        res["baseline"] = notes.skip(
            "baseline equivalence", "", "cannot be computed: it compares arms at baseline and the data hold "
            f"{n_arms} arm(s)" + (" (a single-arm design)" if st.design == "single-arm" else ""), BASELINE_COLUMNS)
    else:
        res["baseline"] = notes.run("baseline equivalence", lambda: baseline_equivalence(
            base, variables=[o for o in outs if o in base.columns] + covs, control=control, binary=binary,
            adjusted=[*covs, *outs]), columns=BASELINE_COLUMNS)

    # within-arm change
    # mentees of one mentor change together: the within-arm intervals see the declared clusters
    res["prepost"] = notes.run("pre/post", lambda: prepost(frame, outs, pre=pre, post=post,
                                                           clusters=list(_cluster_columns(data)) or None))

    # ANCOVA per outcome; contrasts adjusted within the primary and secondary families. The study's
    # declared clusters (mentors, groups, sites) enter the analysis (ancova's default cluster method).
    means, contrasts, ancova_icc, fits = [], [], [], []
    ancova_clusters = list(_cluster_columns(data))
    if control is not None:
        for o in outs:
            r = notes.run("ANCOVA", lambda o=o: ancova(frame, o, pre=pre, post=post, covariates=covs,
                                                       control=control, contrasts=("control",),
                                                       adjust="none", clusters=ancova_clusters,
                                                       cluster_method=st.analysis.cluster_method if ancova_clusters
                                                       else None,
                                                       on_bad_clusters=st.analysis.on_bad_clusters), target=o)
            if isinstance(r, pd.DataFrame):  # failed: note recorded
                continue
            for _, row in r.info[r.info["status"] == "cluster fallback"].iterrows():
                notes.rows.append({"step": "ANCOVA", "target": o,
                                   "reason": f"clusters: {row['reason']} (analysis.on_bad_clusters: fallback)"})
            means.append(_with(r.emmeans, outcome=o))
            fam = "primary" if o in st.outcomes.primary else "secondary"
            contrasts.append(_with(r.contrasts, outcome=o, family=fam))
            ancova_icc.append(_with(r.icc, outcome=o))
            fits.append(_with(r.fit, outcome=o))
    elif len(frame["arm"].dropna().unique()) < 2:
        notes.rows.append({"step": "ANCOVA", "target": "",
                           "reason": "the study has a single arm, so there are no arms to compare; see pre/post"})
    res["ancova_means"] = _concat(means)
    res["ancova_icc"] = _concat(ancova_icc)
    con = _concat(contrasts)
    if len(con):
        con = con.drop(columns=[c for c in ("p_adj", "adjust") if c in con.columns])
        con = adjust_family(con, by=("family",), method="holm")
        # Holm has no simultaneous intervals; give the family's Bonferroni ones (as emmeans does),
        # so that the "_adj" columns never carry per-comparison limits.
        from scipy import stats

        k = con.groupby("family")["p"].transform("count").to_numpy(dtype=float)
        crit = stats.t.ppf(1 - 0.05 / (2 * k), con["df"].to_numpy(dtype=float))
        con["ci_low_adj"] = con["estimate"] - crit * con["se"]
        con["ci_high_adj"] = con["estimate"] + crit * con["se"]
    res["contrasts"] = con

    # mixed models (all waves, likelihood-based under MAR)
    mm_means, mm_con, iccs = [], [], []
    clusters = _cluster_columns(data)
    if mixed and len(st.waves) >= 2:
        # Participants without a cluster value (control: no mentor) carry no random effect of
        # that level, and a level created by matching acts after baseline (cluster_waves="auto").
        for o in outs:
            r = notes.run("mixed model", lambda o=o: mixed_model(
                frame, o, covariates=covs, clusters=clusters, control=control), target=o)
            if isinstance(r, pd.DataFrame):
                continue
            mm_means.append(_with(r.emmeans, outcome=o))
            mm_con.append(_with(r.contrasts, outcome=o))
            iccs.append(_with(r.icc, outcome=o))
            fits.append(r.fit)
    res["mixed_means"] = _concat(mm_means)
    res["mixed_contrasts"] = _concat(mm_con)
    res["icc"] = _concat(iccs)
    res["model_fit"] = _concat(fits)

    # reliable change with a test-retest reliability: published retest over a comparable interval,
    # else the control arm's baseline-post correlation (no control arm: the within-arm one), else
    # alpha (noted: it overstates reliability)
    rc = []
    weeks = {w.key: w.week for w in st.waves}
    for o in outs:
        alpha = _published_or_sample_reliability(data, o, reliability if reliability is not None else pd.DataFrame())
        why = _unusable_alpha_reason(data, o, reliability) if alpha is None else None
        if why:
            notes.rows.append({"step": "reliable change", "target": o, "reason": why})
        si, sc = st.resolve_outcome(o)
        retest = [e for e in getattr(si.instrument, "retest", ()) if e.scale == sc.id]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            r = notes.run("reliable change", lambda o=o, alpha=alpha, retest=retest: reliable_change(
                frame, o, reliability="auto", retest={o: retest}, interval_weeks=weeks[post] - weeks[pre],
                control=control, alpha=alpha, pre=pre, post=post), target=o)
        for w in caught:
            if issubclass(w.category, UserWarning) and "retest" in str(w.message):
                notes.rows.append({"step": "reliable change", "target": o, "reason": str(w.message)})
        if isinstance(r, pd.DataFrame):
            continue
        par = r.parameters.iloc[0]
        rc.append(_with(r.by_arm, outcome=o, reliability=float(par["reliability"]),
                        reliability_source=par["reliability_source"]))
    res["reliable_change"] = _concat(rc)

    # pre-registered hypotheses: the arm-vs-control ANCOVA contrast, Holm across the hypotheses
    res["hypotheses"] = _hypotheses(st, res["contrasts"])

    # moderators and dose-response: exploratory
    mods = []
    for c in covs:
        for o in primary:
            mods.append(notes.run("moderation", lambda c=c, o=o: _moderation(frame, o, c, pre, post, control),
                                  target=f"{o} x {c}"))
    res["moderators"] = _concat(mods)
    doses = []
    mentored = [a for a in st.arm_keys if a != control]
    for d in st.dosage:
        if d not in frame.columns:
            continue
        for o in primary:
            doses.append(notes.run("dose-response", lambda d=d, o=o: dose_response(
                frame, o, dose=d, pre=pre, post=post, arms=mentored), target=f"{o} on {d}"))
    res["dose_response"] = _concat(doses)
    return _shaped(res)


MECHANISM_SEED = 14  # fixed, so a report's Monte Carlo (and any bootstrap) intervals are reproducible
# No cluster bootstrap by default: the report shows the Monte Carlo interval, which holds 95%
# coverage with few mentors or circles where the bootstrap's were too narrow (docs/calibration.md);
# computing the bootstrap anyway took a third of the analysis time. n_boot > 0 adds its rows.
MECHANISM_BOOT = 0


def _mediation_pairs(study: Study, outcomes: Sequence[str]) -> list[tuple[str, str]]:
    """Belonging -> hope for every hope outcome (and subscale), hope totals -> belonging."""
    constructs, totals = {}, set()
    for o in outcomes:
        si, sc = study.resolve_outcome(o)
        constructs[o] = si.instrument.construct
        if sc.subscales or len([s for s in si.instrument.scales if not s.subscales]) <= 1:
            totals.add(o)
    bel = [o for o in outcomes if constructs[o] == "belonging"]
    hope = [o for o in outcomes if constructs[o] == "hope"]
    return [(b, h) for b in bel for h in hope] + [(h, b) for h in hope if h in totals for b in bel]


def run_mechanisms(data: AnalysisData, *, outcomes: Sequence[str] | None = None, notes: StepNotes | None = None,
                   n_boot: int = MECHANISM_BOOT, seed: int = MECHANISM_SEED) -> dict[str, pd.DataFrame]:
    """How it worked: mediation (belonging <-> hope), fidelity per arm, complier effects.

    Mediation intervals: delta method and the Monte Carlo CR2 interval; ``n_boot > 0`` adds the
    cluster bootstrap's percentile and BCa intervals (``n_boot`` replicates).

    Also returns ``dose_response``: the slope on each arm's own fidelity indicators that are
    not already study ``dosage`` columns (``run_study`` appends it to the dose-response table).
    """
    from mentor_eval.fidelity import fidelity_summary, primary_columns
    from mentor_eval.outcomes import cace, mediation

    notes = notes or StepNotes()
    st = data.study
    frame = data.analysis
    outs = list(outcomes) if outcomes else list(st.outcomes.all)
    covs = [c for c in st.covariates if c in frame.columns]
    clusters = _cluster_columns(data)
    cluster = clusters[-1] if clusters else None  # the innermost level the program creates (mentor, group)
    control = st.control_arm
    res: dict[str, pd.DataFrame] = {}

    med, paths = [], []
    pairs = _mediation_pairs(st, outs)
    if not len(frame):
        notes.rows.append({"step": "mechanisms", "target": "", "reason": "no clean scores to analyse"})
        return _shaped({k: pd.DataFrame() for k in ("mediation", "mediation_paths", "fidelity", "cace",
                                                    "dose_response")})
    if control is None:
        notes.rows.append({"step": "mediation", "target": "", "reason": "no control arm to compare with"})
    elif not pairs:
        notes.rows.append({"step": "mediation", "target": "", "reason": "needs a belonging and a hope outcome"})
    else:
        for m, o in pairs:
            r = notes.run("mediation", lambda m=m, o=o: mediation(
                frame, m, o, pre=st.baseline, post=st.final, waves=list(st.wave_keys), control=control,
                covariates=covs, cluster=cluster, n_boot=n_boot, seed=seed,
                ci_method=("monte-carlo", "percentile", "bca") if n_boot else ("monte-carlo",)), target=f"{m} -> {o}")
            if isinstance(r, pd.DataFrame):
                continue
            med.append(r.effects)
            paths.append(r.paths)
    res["mediation"], res["mediation_paths"] = _concat(med), _concat(paths)

    if st.fidelity:
        res["fidelity"] = notes.run("fidelity", lambda: fidelity_summary(data))
    else:
        res["fidelity"] = pd.DataFrame()
        notes.rows.append({"step": "fidelity", "target": "", "reason": "study.yaml maps no fidelity indicators "
                                                                        "(key 'fidelity')"})
    ca = []
    prim = primary_columns(st.fidelity)
    primary = [o for o in outs if o in st.outcomes.primary] or outs
    for a, fc in prim.items() if control is not None else ():
        r = notes.run("complier effect", lambda a=a, fc=fc: cace(
            frame, primary, dose=fc.column, threshold=fc.indicator.expected, pre=st.baseline, post=st.final,
            control=control, arms=[a], covariates=covs, cluster=cluster, missing_dose="drop"), target=a)
        ca.append(_with(r, model=fc.model, indicator=fc.indicator.key))
    res["cace"] = _concat(ca)
    # dose-response on each arm's own indicators (those not already analysed as study dosage)
    from mentor_eval.outcomes import dose_response

    doses = []
    for fc in st.fidelity:
        if fc.column in st.dosage or fc.indicator.type == "boolean" or fc.column not in frame.columns:
            continue
        for o in primary:
            doses.append(_with(notes.run("dose-response", lambda fc=fc, o=o: dose_response(
                frame, o, dose=fc.column, pre=st.baseline, post=st.final, arms=[fc.arm]),
                target=f"{o} on {fc.column}"), indicator=fc.indicator.key))
    res["dose_response"] = _concat(doses)
    if not prim:
        notes.rows.append({"step": "complier effect", "target": "", "reason": "no arm maps its model's primary "
                                                                               "fidelity indicator"})
    return _shaped(res)


def _mechanisms_worker(data: AnalysisData, outcomes: Sequence[str] | None
                       ) -> tuple[dict[str, pd.DataFrame], list[dict[str, str]], list[Any]]:
    """:func:`run_mechanisms` in a worker process: its tables, its notes and the warnings it raised."""
    from threadpoolctl import threadpool_limits

    notes = StepNotes()
    # one BLAS thread: the other core runs the psychometrics and outcomes (idle BLAS threads
    # spin, and two processes' spinning threads slowed both steps 2.5-fold)
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
        warnings.simplefilter("always")
        tables = run_mechanisms(data, outcomes=outcomes, notes=notes)
    return tables, notes.rows, [(w.message, w.category) for w in caught]


def _start_mechanisms(data: AnalysisData, outcomes: Sequence[str] | None) -> Any:
    """Submit the mechanisms step to a second process; None where no process can be started."""
    # A private executor, shut down when the step is done: loky's global reusable one is also
    # joblib's, which expects its own subclass there (and would keep a worker alive after us).
    try:
        from joblib.externals.loky import ProcessPoolExecutor

        executor = ProcessPoolExecutor(max_workers=1)
        return executor, executor.submit(_mechanisms_worker, data, outcomes)
    except (OSError, RuntimeError, ImportError):
        return None


def _finish_mechanisms(pending: Any, notes: StepNotes) -> dict[str, pd.DataFrame] | None:
    """The worker's tables, its notes and warnings merged in; None if the worker process failed
    (killed, or the data could not be sent), so that the step runs here instead. Errors of the
    analysis itself are raised as in this process."""
    import concurrent.futures
    import pickle

    executor, future = pending
    try:
        tables, rows, caught = future.result()
    except (concurrent.futures.BrokenExecutor, pickle.PicklingError):
        return None
    finally:
        executor.shutdown(wait=True)
    notes.rows.extend(rows)
    for message, category in caught:
        warnings.warn(message, category, stacklevel=3)
    return tables


def _moderation(frame: pd.DataFrame, outcome: str, moderator: str, pre: str, post: str,
                    control: str | None) -> pd.DataFrame:
    from mentor_eval.outcomes import moderation

    out = moderation(frame, outcome, moderator=moderator, pre=pre, post=post, control=control)
    return _with(out, moderator=moderator) if "moderator" not in out.columns else out


def _hypotheses(study: Study, contrasts: pd.DataFrame) -> pd.DataFrame:
    """One row per pre-registered hypothesis with its one-sided test and Holm-adjusted p."""
    from scipy import stats

    from mentor_eval.outcomes import adjust_pvalues

    if not study.hypotheses:
        return pd.DataFrame()
    rows = []
    for h in study.hypotheses:
        hit = contrasts[(contrasts["outcome"] == h.outcome) & (contrasts["arm"] == h.arm)] \
            if len(contrasts) else contrasts
        if not len(hit):
            rows.append({"hypothesis": h.id, "arm": h.arm, "outcome": h.outcome, "direction": h.direction,
                         "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "g": np.nan, "p": np.nan})
            continue
        r = hit.iloc[0]
        t = r["estimate"] / r["se"]
        # One-sided in the pre-registered direction.
        p = stats.t.sf(t, r["df"]) if h.direction == "increase" else stats.t.cdf(t, r["df"])
        rows.append({"hypothesis": h.id, "arm": h.arm, "outcome": h.outcome, "direction": h.direction,
                     "estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "g": r.get("g", np.nan), "p": float(p)})
    out = pd.DataFrame(rows)
    ok = out["p"].notna()
    out["p_adj"] = np.nan
    if ok.any():
        out.loc[ok, "p_adj"] = adjust_pvalues(out.loc[ok, "p"].to_numpy(), method="holm")
    out["adjust"] = "holm"
    out["family"] = "pre-registered hypotheses"
    out["verdict"] = np.where(out["p"].isna(), "not tested (no estimate)",
                              np.where(out["p_adj"] < 0.05, "supported", "not supported"))
    return out


def _item_distributions(data: AnalysisData) -> pd.DataFrame:
    """Share of each response level for every scored item at the final wave an instrument was given."""
    rows = []
    for si in data.study.instruments:
        inst = si.instrument
        wave = si.waves[-1] if si.waves else data.study.final
        frame = data.responses[data.responses["wave"] == wave]
        rs = inst.response_scale
        levels = np.arange(rs.min, rs.max + 1)
        for item_id, col in si.item_columns().items():
            if item_id not in inst.scored_item_ids or col not in frame.columns:
                continue
            v = frame[col].dropna().to_numpy(dtype=float)
            if not len(v):
                continue
            counts = (v[:, None] == levels[None, :]).sum(axis=0)
            for lev, cnt in zip(levels, counts, strict=True):
                rows.append({"instrument": si.id, "wave": wave, "item": f"{si.id}:{item_id}",
                             "item_id": item_id, "gist": inst.item(item_id).gist,
                             "reverse": inst.item(item_id).reverse, "level": int(lev),
                             "label": rs.labels.get(int(lev), str(int(lev))), "n": int(cnt),
                             "n_item": len(v), "share": cnt / len(v), "midpoint": rs.midpoint})
    return pd.DataFrame(rows)


def run_study(
    study: Study | str | Path | None = None,
    *,
    outcomes: Sequence[str] | None = None,
    psychometrics: bool = True,
    mixed: bool = True,
    threshold: float = RELIABILITY_THRESHOLD,
    validation: Any = None,
    n_jobs: int = 1,
) -> StudyResults:
    """Validate, score and analyse a study; return every result table.

    Parameters
    ----------
    study : Study, path or None
        None runs the bundled sample study.
    outcomes : list of str, optional
        Outcomes to analyse (default: the study's primary and secondary outcomes).
    psychometrics, mixed : bool
        Run the psychometric checks / the mixed models (both on by default).
    threshold : float
        Reliability below which a scale is flagged.
    validation : ValidationResult, optional
        A validation already run on this study (e.g. to decide first whether to analyse it).
    n_jobs : int
        1 (default): everything in this process. 2 or more, or -1 (every core, if there are two
        or more): the mechanisms (mediation, fidelity, complier effects), which need nothing the
        other steps compute, run in a second process while the psychometrics and outcomes run
        here. The results are identical; the report uses it.

    Returns
    -------
    StudyResults
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ParameterError(f"The 'n_jobs' parameter of run_study must be a positive integer or -1; got {n_jobs!r}.")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    from threadpoolctl import threadpool_limits

    data = load_analysis_data(study, validation=validation)
    notes = StepNotes()
    pending = _start_mechanisms(data, outcomes) if n_jobs > 1 else None
    # one BLAS thread: the steps are many small matrix products, where idle threads spinning cost
    # more than they give (the sample's analysis took 5.4-6.0 s with two threads, 4.9 s with one)
    with threadpool_limits(1):
        psy = run_psychometrics(data, threshold=threshold, notes=notes) if psychometrics else _shaped({
            "reliability": pd.DataFrame(), "reliability_by_arm": pd.DataFrame(), "invariance": pd.DataFrame()})
        res = run_outcomes(data, outcomes=outcomes, reliability=psy["reliability"], notes=notes, mixed=mixed)
        mech = _finish_mechanisms(pending, notes) if pending is not None else None
        if mech is None:
            mech = run_mechanisms(data, outcomes=outcomes, notes=notes)
    extra_doses = mech.pop("dose_response")
    if len(extra_doses):
        res["dose_response"] = _concat([res["dose_response"], extra_doses])
    dist = _shaped({"item_distributions": _item_distributions(data)})["item_distributions"]
    from mentor_eval.outcomes.mediation import N_MC

    st = data.study
    provenance = {
        "study": st.name,
        "versions": package_versions(),
        "parameters": {"outcomes": list(outcomes or st.outcomes.all), "reliability_threshold": threshold,
                       "control": st.control_arm, "pre": st.baseline, "post": st.final,
                       "covariates": list(st.covariates), "clusters": list(st.clusters),
                       "min_cell": st.privacy.min_cell, "multiplicity": "holm within family",
                       "mechanism_intervals": {"method": "monte-carlo", "draws": N_MC, "bootstrap_replicates": MECHANISM_BOOT,
                                               "seed": MECHANISM_SEED}},
        "inputs": input_fingerprints(st).to_dict(orient="records"),
    }
    return StudyResults(study=st, data=data, **psy, **res, item_distributions=dist, notes=notes.frame(),
                        provenance=provenance, **mech)


def write_tables(results: StudyResults, out_dir: str | Path, *, names: Sequence[str] | None = None) -> list[Path]:
    """Write each result table as CSV and JSON (records) into ``out_dir``; return the paths.

    Only aggregate tables are written (never row-level data).
    """
    return write_table_files(results.tables(), results.provenance, out_dir, names=names)


def write_table_files(tables: dict[str, pd.DataFrame], provenance: dict[str, Any], out_dir: str | Path, *,
                      names: Sequence[str] | None = None) -> list[Path]:
    """Write tables as CSV + JSON (records) and ``provenance.json`` into ``out_dir``; return the paths.

    The one writer of every command's result tables (``analyze``, ``psychometrics``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        if names is not None and name not in names:
            continue
        csv = out / f"{name}.csv"
        table.to_csv(csv, index=False)
        js = out / f"{name}.json"
        js.write_text(table.to_json(orient="records", indent=1, default_handler=str))
        written += [csv, js]
    prov = out / "provenance.json"
    prov.write_text(json.dumps(provenance, indent=1, default=str))
    written.append(prov)
    return written

