"""What the report notebooks show: disclosure-safe results and the frames behind each table and figure.

The report notebooks stay thin: each cell calls one function of this module and
displays what it returns with :func:`mentor_eval.figures.show` or
:func:`mentor_eval.figures.show_table`. Everything that decides *what* reaches a
published page lives here, where it is unit-tested:

* :func:`protect` turns a :class:`~mentor_eval.pipeline.StudyResults` into a copy
  that is safe to publish: every count of fewer than ``min_cell`` respondents, and
  every statistic computed from such a cell, is suppressed (with secondary
  suppression where totals are published), counts of excluded respondents are
  dropped, and the row-level data are removed (``data`` is ``None``).
* The ``*_table`` functions return display frames (arm and outcome labels instead of
  keys, plain column names) for :func:`~mentor_eval.figures.show_table`.
* The ``*_figure`` functions return plotly figures built from the protected tables.

Every function that builds HTML escapes user-supplied strings with
:func:`mentor_eval.disclosure.escape`; frames are escaped by ``table_html`` and
figure labels by :mod:`mentor_eval.figures`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mentor_eval import figures
from mentor_eval._params import check_one_of, check_positive_int
from mentor_eval.disclosure import SUPPRESSED, escape, suppress_small_cells
from mentor_eval.errors import ParameterError
from mentor_eval.pipeline import StudyResults

__all__ = [
    "EXCLUSION_COUNTS",
    "protect",
    "is_protected",
    "arm_labels",
    "outcome_label",
    "outcome_labels",
    "suppressed_count",
    "enrolled_total",
    "AUDIENCES",
    "check_audience",
    "report_outcomes",
    "report_instruments",
    "instrument_name",
    "title_html",
    "write_report_tables",
    "paragraphs_html",
    "bullets_html",
    "arm_cards_html",
    "flow_table_for_report",
    "flow_figure",
    "attrition_table",
    "attrition_sentence",
    "baseline_table",
    "reliability_table",
    "reliability_by_arm_table",
    "invariance_table",
    "item_statistics",
    "means_figure",
    "forest_data",
    "forest_figure",
    "contrasts_table",
    "change_figure",
    "prepost_table",
    "reliable_change_data",
    "reliable_change_figure",
    "item_distribution_figure",
    "hypotheses_table",
    "exploratory_table",
    "notes_table",
    "versions_table",
    "parameters_table",
    "inputs_table",
    "model_summary",
    "invariance_verdicts",
]

#: Report variants: ``funder`` (condensed tables) or ``researcher`` (every table in full).
AUDIENCES = ("funder", "researcher")

#: Counts of respondents *left out* of an analysis (listwise deletion, unmatched waves).
#: They are not published: with the published respondent counts they would reveal how
#: many people skipped an item, which can be a small number.
EXCLUSION_COUNTS = ("n_dropped", "n_excluded", "n_pre_only", "n_post_only", "n_zero_change")

_PROTECTED_KEY = "report"  # provenance key written by protect()


# --------------------------------------------------------------------------- suppression helpers


def _flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Make sure the suppression flag columns exist (all False / <NA>)."""
    out = frame.copy()
    if "suppressed" not in out.columns:
        out["suppressed"] = False
    if "suppression" not in out.columns:
        out["suppression"] = pd.array([pd.NA] * len(out), dtype="string")
    return out


def _hide(frame: pd.DataFrame, mask: np.ndarray | pd.Series, cols: Iterable[str],
          counts: Iterable[str] = ()) -> pd.DataFrame:
    """Hide ``cols`` (statistics) and ``counts`` (count columns) in the rows of ``mask``.

    Flags follow :func:`mentor_eval.disclosure.suppress_small_cells`: counts get
    ``<count>_suppressed``; rows get ``suppressed`` and, if not already primary,
    ``suppression = "secondary"`` (hidden to protect a small cell elsewhere).
    """
    mask = np.asarray(mask, dtype=bool)
    out = _flags(frame)
    if not mask.any():
        return out
    for c in counts:
        if c not in out.columns:
            continue
        flag = f"{c}_suppressed"
        if flag not in out.columns:
            out[flag] = False
        out[c] = pd.array(pd.to_numeric(out[c], errors="coerce"), dtype="Int64") if not isinstance(
            out[c].dtype, pd.Int64Dtype) else out[c]
        s = out[c].copy()
        s[mask] = pd.NA
        out[c] = s
        out[flag] = out[flag].to_numpy(dtype=bool) | mask
    for c in cols:
        if c not in out.columns:
            continue
        s = out[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            s = s.astype("boolean")
        elif pd.api.types.is_integer_dtype(s.dtype):
            s = s.astype("Int64")
        elif not pd.api.types.is_numeric_dtype(s.dtype):
            s = s.astype(object)
        s = s.copy()
        s[mask] = np.nan if s.dtype == float else pd.NA
        out[c] = s
    was = out["suppressed"].fillna(False).to_numpy(dtype=bool)
    reason = out["suppression"].astype(object).to_numpy()
    reason = np.where(mask & ~was, "secondary", reason)
    out["suppressed"] = was | mask
    out["suppression"] = pd.array([None if pd.isna(r) else r for r in reason], dtype="string")
    return out


def _suppress(frame: pd.DataFrame, counts: Sequence[str], values: Sequence[str] | dict[str, list[str]],
              min_cell: int, keys: Sequence[str] = (), margins: Any = None) -> pd.DataFrame:
    """suppress_small_cells on the columns that exist; empty frames pass through."""
    if frame is None or not len(frame):
        return _flags(frame if frame is not None else pd.DataFrame())
    counts = [c for c in counts if c in frame.columns]
    if isinstance(values, dict):
        vals: Any = {k: [c for c in v if c in frame.columns] for k, v in values.items() if k in counts}
    else:
        vals = [c for c in values if c in frame.columns]
    if not counts:
        return _flags(frame)
    work = frame.copy()
    for c in counts:  # a missing count (analysis not run for that cell) counts as 0 respondents
        work[c] = pd.to_numeric(work[c], errors="coerce").fillna(0).round().astype("int64")
    return suppress_small_cells(work, counts, min_cell=min_cell, value_cols=vals,
                                group_keys=[k for k in keys if k in work.columns], margins=margins)


def _stat_cols(frame: pd.DataFrame, exclude: Iterable[str]) -> list[str]:
    """Numeric columns of ``frame`` that are statistics (not keys, not flags)."""
    skip = set(exclude)
    return [c for c in frame.columns if c not in skip and not str(c).endswith("_suppressed")
            and c not in ("suppressed", "suppression")
            and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]


def _drop_exclusions(frame: pd.DataFrame) -> pd.DataFrame:
    if frame is None or not len(frame):
        return frame if frame is not None else pd.DataFrame()
    return frame.drop(columns=[c for c in EXCLUSION_COUNTS if c in frame.columns])


def _pairs(frame: pd.DataFrame, a: str, b: str) -> set[tuple[Any, Any]]:
    if not len(frame):
        return set()
    return set(zip(frame[a], frame[b], strict=True))


def _in(frame: pd.DataFrame, cols: Sequence[str], keys: set[tuple[Any, ...]]) -> np.ndarray:
    """Rows whose ``cols`` tuple is in ``keys``."""
    if not len(frame) or not keys:
        return np.zeros(len(frame), dtype=bool)
    tuples = list(zip(*(frame[c] for c in cols), strict=True))
    return np.fromiter((t in keys for t in tuples), dtype=bool, count=len(frame))


# --------------------------------------------------------------------------- protect


def protect(results: StudyResults, min_cell: int | None = None) -> StudyResults:
    """A copy of ``results`` that is safe to publish (small cells suppressed, no row-level data).

    Parameters
    ----------
    results : StudyResults
        Output of :func:`mentor_eval.pipeline.run_study`.
    min_cell : int, optional
        Smallest reportable cell; default: the study's ``privacy.min_cell`` (10 unless
        the study says otherwise).

    Returns
    -------
    StudyResults
        Same tables, where every count below ``min_cell`` and every statistic computed
        from such a cell is missing, flagged with ``suppressed`` (bool),
        ``suppression`` (``"primary"``/``"secondary"``) and ``<count>_suppressed``
        columns (see :func:`mentor_eval.disclosure.suppress_small_cells`). ``data`` is
        ``None``. ``provenance["report"]`` holds ``min_cell``, ``sites`` (site ids),
        ``n_enrolled`` (total, or None when withheld) and ``participant_ids_scrubbed``.

    Notes
    -----
    Cells and how they are protected:

    * ``flow``: arm x wave counts (enrolled, assessed, analysed); totals over arms are
      published (the report states the number enrolled), so complementary
      suppression protects them; percentages are hidden with either count behind them.
    * Every table whose cells are an arm at a wave (attrition, baseline, reliability
      by arm, mixed-model means, pre/post, ANCOVA means, contrasts, reliable change,
      dose-response) is suppressed on its own counts **and** wherever the flow hides
      that arm at that wave, so a number hidden in one table cannot be read in another.
    * Baseline proportions of a binary or categorical covariate are cells too
      (e.g. 7 non-binary participants in an arm); each category's count is protected,
      with complementary suppression across the categories of the variable.
    * Reliable change: improved / unchanged / deteriorated counts, whose sum is the
      published n. Item distributions: response-level counts, whose sum is published.
    * Subgroup (moderator) estimates of a categorical moderator are hidden when the
      arm x category cell of analysed participants is small.
    * Exclusion counts (:data:`EXCLUSION_COUNTS`) are dropped from every table.
    * Notes: participant ids that appear in a message are replaced by
      ``[participant id]``.

    Examples
    --------
    >>> from mentor_eval.pipeline import run_study  # doctest: +SKIP
    >>> safe = protect(run_study(None), min_cell=10)  # doctest: +SKIP
    >>> safe.data is None  # doctest: +SKIP
    True
    """
    if not isinstance(results, StudyResults):
        raise ParameterError(
            f"The 'results' parameter of protect must be the StudyResults of run_study; got {type(results).__name__}."
        )
    if is_protected(results):
        done = results.provenance[_PROTECTED_KEY]["min_cell"]
        if min_cell is None or min_cell == done:
            return results
        raise ParameterError(
            f"These results were already protected with min_cell={done}; protect the original results "
            f"of run_study with min_cell={min_cell} instead."
        )
    study = results.study
    m = study.privacy.min_cell if min_cell is None else min_cell
    m = check_positive_int("protect", "min_cell", m, minimum=1)
    control = study.control_arm
    pre, post = study.baseline, study.final

    # --- participant flow: arm x wave cells; the all-arms rows are the published totals
    flow = _protect_flow(results.flow, m, study.wave_keys)
    hidden_wave: set[tuple[Any, Any]] = set()  # (arm, wave) with any hidden count
    hidden_arm: set[Any] = set()  # arms with hidden enrolled or analysed counts
    if len(flow):
        hidden_wave = _pairs(flow[flow["suppressed"]], "arm", "wave")
        hidden_arm = set(flow.loc[flow["n_enrolled_suppressed"] | flow["n_analysed_suppressed"], "arm"])
    at_post = {a for a, w in hidden_wave if w == post} | hidden_arm
    at_pre = {a for a, w in hidden_wave if w == pre} | hidden_arm

    # --- attrition: per arm vs control
    att = results.attrition
    if len(att):
        pcts = [c for c in att.columns if c.endswith("_pct")]
        att = _suppress(att, ["n_enrolled", "n_analysed", "n_enrolled_ref", "n_analysed_ref"], pcts, m)
        att = _hide(att, att["arm"].isin(hidden_arm), pcts, ["n_enrolled", "n_analysed"])
        att = _hide(att, att["reference"].isin(hidden_arm), pcts, ["n_enrolled_ref", "n_analysed_ref"])

    baseline = _protect_baseline(results.baseline, m, at_pre)

    # --- psychometrics
    rel = _drop_exclusions(results.reliability)
    rel = _suppress(rel, ["n"], _stat_cols(rel, ["n"]), m) if len(rel) else _flags(rel)
    rba = _drop_exclusions(results.reliability_by_arm)
    if len(rba):
        rba = _suppress(rba, ["n"], _stat_cols(rba, ["n"]), m)
        rba = _hide(rba, _in(rba, ["arm", "wave"], hidden_wave), _stat_cols(rba, ["n"]), ["n"])
    inv = results.invariance
    inv = _suppress(inv, ["n"], [], m) if len(inv) and "n" in inv.columns else _flags(inv)

    # --- outcome x arm cells (pre/post pairs, ANCOVA): small or hidden in the flow
    prepost = _drop_exclusions(results.prepost)
    means = results.ancova_means
    small: set[tuple[Any, Any]] = set()
    for t in (prepost, means):
        if len(t):
            small |= _pairs(t[pd.to_numeric(t["n"], errors="coerce").fillna(0) < m], "outcome", "arm")
    for t in (prepost, means):
        if len(t):
            small |= {(o, a) for o, a in _pairs(t, "outcome", "arm") if a in at_post}
    if len(prepost):
        cols = _stat_cols(prepost, ["n"])
        prepost = _suppress(prepost, ["n"], cols, m)
        prepost = _hide(prepost, _in(prepost, ["outcome", "arm"], small), cols, ["n"])
    if len(means):
        cols = _stat_cols(means, ["n"])
        means = _suppress(means, ["n"], cols, m)
        means = _hide(means, _in(means, ["outcome", "arm"], small), cols, ["n"])
    con = results.contrasts
    if len(con):
        cols = _stat_cols(con, ["n_arm", "n_reference"])
        con = _suppress(con, ["n_arm", "n_reference"], cols, m)
        bad = _in(con, ["outcome", "arm"], small) | _in(con, ["outcome", "reference"], small)
        con = _hide(con, bad, cols, ["n_arm", "n_reference"])
    small_con = _pairs(con[con["suppressed"]], "outcome", "arm") if len(con) else set()

    # --- mixed models: outcome x wave x arm
    mm = results.mixed_means
    hidden_mm: set[tuple[Any, Any, Any]] = set()
    if len(mm):
        cols = _stat_cols(mm, ["n"])
        mm = _suppress(mm, ["n"], cols, m)
        mm = _hide(mm, _in(mm, ["arm", "wave"], hidden_wave | {(a, w) for a in hidden_arm
                                                              for w in study.wave_keys}), cols, ["n"])
        hidden_mm = set(zip(mm.loc[mm["suppressed"], "outcome"], mm.loc[mm["suppressed"], "wave"],
                            mm.loc[mm["suppressed"], "arm"], strict=True))
    mc = _flags(results.mixed_contrasts)
    if len(mc):
        o, w, a = mc["outcome"].tolist(), mc["wave"].tolist(), mc["arm"].tolist()
        change = (mc["type"] == "change_vs_control").to_numpy() if "type" in mc.columns else np.zeros(len(mc), bool)
        bad = np.array([
            (o[i], w[i], a[i]) in hidden_mm or (o[i], w[i], control) in hidden_mm
            or (change[i] and ((o[i], pre, a[i]) in hidden_mm or (o[i], pre, control) in hidden_mm))
            for i in range(len(mc))
        ], dtype=bool)
        mc = _hide(mc, bad, _stat_cols(mc, []))

    rc = _protect_reliable_change(_drop_exclusions(results.reliable_change), m, small)

    hyp = _flags(results.hypotheses)
    if len(hyp):
        bad = _in(hyp, ["outcome", "arm"], small_con)
        hyp = _hide(hyp, bad, ["estimate", "ci_low", "ci_high", "g", "p", "p_adj"])
        hyp["verdict"] = np.where(bad, "not reported (too few participants)", hyp["verdict"].astype(object))

    mods = _protect_moderators(results, m, at_post)
    dose = _drop_exclusions(results.dose_response)
    if len(dose):
        cols = _stat_cols(dose, ["n"])
        dose = _suppress(dose, ["n"], cols, m)
        dose = _hide(dose, dose["arm"].isin(at_post).to_numpy(), cols, ["n"])

    dist = results.item_distributions
    if len(dist):
        dist = _suppress(dist, ["n"], {"n": ["share"]}, m, keys=["item", "level"], margins=["level"])
        # a small n_item is a small cell too: hide the whole item
        small_item = pd.to_numeric(dist["n_item"], errors="coerce").fillna(0) < m
        dist = _hide(dist, small_item.to_numpy(), ["share", "n_item"], ["n"])

    ids = _participant_ids(results)
    notes = results.notes.copy() if len(results.notes) else results.notes
    scrubbed = 0
    if len(notes) and ids:
        notes, scrubbed = _scrub(notes, ids)

    sites = _sites(results)
    report = {"min_cell": m, "sites": sites, "n_enrolled": _enrolled_total(results.flow, flow, pre),
              "participant_ids_scrubbed": scrubbed}
    provenance = {**results.provenance, _PROTECTED_KEY: report}
    return dataclasses.replace(
        results, data=None, flow=flow, attrition=att, baseline=baseline, reliability=rel,
        reliability_by_arm=rba, invariance=inv, prepost=prepost, ancova_means=means, contrasts=con,
        mixed_means=mm, mixed_contrasts=mc, reliable_change=rc, hypotheses=hyp, moderators=mods,
        dose_response=dose, item_distributions=dist, notes=notes, provenance=provenance,
    )


def _protect_flow(raw: pd.DataFrame, m: int, waves: Sequence[str]) -> pd.DataFrame:
    """Flow cells (arm x wave) with complementary suppression against the all-arms totals."""
    from mentor_eval.outcomes.design import ALL_ARMS

    if raw is None or not len(raw):
        return _flags(raw if raw is not None else pd.DataFrame())
    counts = ["n_enrolled", "n_assessed", "n_analysed"]
    is_total = (raw["arm"] == ALL_ARMS).to_numpy()
    cells = raw[~is_total]
    flow = _suppress(cells, counts, {"n_assessed": ["pct_assessed"], "n_analysed": ["pct_analysed"]}, m,
                     keys=["arm", "wave"], margins=["arm"])
    attrs = flow.attrs
    if len(flow):
        # enrolled / analysed are one number per arm repeated at every wave, and the analysed
        # count equals the count assessed at the last wave: hide each everywhere it appears
        last = waves[-1] if waves else None
        for _ in range(2):
            for c in ("n_enrolled", "n_analysed"):
                arms = set(flow.loc[flow[f"{c}_suppressed"], "arm"])
                flow = _hide(flow, flow["arm"].isin(arms).to_numpy(), [], [c])
            final = (flow["wave"] == last).to_numpy()
            post_hidden = set(flow.loc[final & flow["n_assessed_suppressed"].to_numpy(dtype=bool), "arm"])
            flow = _hide(flow, flow["arm"].isin(post_hidden).to_numpy(), [], ["n_analysed"])
            ana_hidden = set(flow.loc[flow["n_analysed_suppressed"], "arm"])
            flow = _hide(flow, final & flow["arm"].isin(ana_hidden).to_numpy(), [], ["n_assessed"])
        # a percentage reveals its count when the denominator is shown
        flow = _hide(flow, flow["n_enrolled_suppressed"] | flow["n_assessed_suppressed"], ["pct_assessed"])
        flow = _hide(flow, flow["n_enrolled_suppressed"] | flow["n_analysed_suppressed"], ["pct_analysed"])
    totals = _flags(raw[is_total])
    for c in counts:
        totals[f"{c}_suppressed"] = False
        totals[c] = pd.array(pd.to_numeric(totals[c], errors="coerce"), dtype="Int64")
        flow[c] = pd.array(flow[c], dtype="Int64")
    # totals that would reveal a hidden cell (or are small) are withheld
    for w in attrs.get("suppression", {}).get("withheld_totals", []):
        bad = (totals["wave"] == w.get("wave")).to_numpy()
        pct = {"n_assessed": ["pct_assessed"], "n_analysed": ["pct_analysed"]}.get(w["count"], [])
        totals = _hide(totals, bad, pct, [w["count"]])
    out = pd.concat([flow, totals[flow.columns]], ignore_index=True)
    out.attrs = attrs
    return out


def is_protected(results: StudyResults) -> bool:
    """True when ``results`` came out of :func:`protect`."""
    return isinstance(results.provenance, dict) and _PROTECTED_KEY in results.provenance


def _require_protected(func: str, results: StudyResults) -> None:
    if not isinstance(results, StudyResults):
        raise ParameterError(f"The 'results' parameter of {func} must be a StudyResults; got "
                             f"{type(results).__name__}.")
    if not is_protected(results):
        raise ParameterError(
            f"{func} shows results on a published page: pass protect(results, min_cell) so that small "
            "cells are suppressed first."
        )


def _protect_baseline(base: pd.DataFrame, m: int, at_pre: set[Any]) -> pd.DataFrame:
    if base is None or not len(base):
        return _flags(base if base is not None else pd.DataFrame())
    out = _suppress(base, ["n_arm", "n_ref"], ["mean_arm", "mean_ref", "sd_arm", "sd_ref", "g"], m)
    arm_side = ["mean_arm", "sd_arm", "g"]
    ref_side = ["mean_ref", "sd_ref", "g"]
    out = _hide(out, out["arm"].isin(at_pre).to_numpy(), arm_side, ["n_arm"])
    out = _hide(out, out["reference"].isin(at_pre).to_numpy(), ref_side, ["n_ref"])
    binary = (out["kind"] == "binary").to_numpy() if "kind" in out.columns else np.zeros(len(out), bool)
    if not binary.any():
        return out
    # Category counts: each proportion of a binary row is a count of people in the arm.
    b = base[binary]
    var = b["variable"].astype(str)
    stem = var.str.split("=", n=1).str[0]
    level = np.where(var.str.contains("=", regex=False), var.str.split("=", n=1).str[-1], "1")
    cells = []
    for grp, mean, n in ((b["arm"], b["mean_arm"], b["n_arm"]), (b["reference"], b["mean_ref"], b["n_ref"])):
        cnt = (pd.to_numeric(mean, errors="coerce") * pd.to_numeric(n, errors="coerce")).round()
        cells.append(pd.DataFrame({"stem": stem.to_numpy(), "group": grp.astype(str).to_numpy(),
                                   "level": level, "count": cnt.fillna(0).to_numpy(), "n": n.to_numpy()}))
    cells = pd.concat(cells, ignore_index=True).drop_duplicates(["stem", "group", "level"])
    # a variable coded as one indicator: its complement ("not 1") is a cell too
    single = cells.groupby("stem")["level"].transform("nunique") == 1
    comp = cells[single & (cells["level"] == "1")].assign(
        level="0", count=lambda d: pd.to_numeric(d["n"], errors="coerce").fillna(0) - d["count"])
    cells = pd.concat([cells, comp], ignore_index=True)
    cells["count"] = cells["count"].clip(lower=0).astype("int64")
    hidden: set[tuple[str, str, str]] = set()
    for s, part in cells.groupby("stem", sort=False):
        shown = suppress_small_cells(part[["group", "level", "count"]].reset_index(drop=True), "count",
                                     min_cell=m, group_keys=["group", "level"], margins=["level"])
        hidden |= {(s, g, lv) for g, lv in zip(shown.loc[shown["suppressed"], "group"],
                                               shown.loc[shown["suppressed"], "level"], strict=True)}
    hidden_stem_group = {(s, g) for s, g, _ in hidden}
    # hiding one category of a variable hides that arm's proportions for every category of it
    arm_bad = np.zeros(len(out), dtype=bool)
    ref_bad = np.zeros(len(out), dtype=bool)
    idx = np.flatnonzero(binary)
    for j, i in enumerate(idx):
        s = stem.iloc[j]
        arm_bad[i] = (s, str(out["arm"].iloc[i])) in hidden_stem_group
        ref_bad[i] = (s, str(out["reference"].iloc[i])) in hidden_stem_group
    out = _hide(out, arm_bad, arm_side)
    out = _hide(out, ref_bad, ref_side)
    return out


def _protect_reliable_change(rc: pd.DataFrame, m: int, small: set[tuple[Any, Any]]) -> pd.DataFrame:
    if rc is None or not len(rc):
        return _flags(rc if rc is not None else pd.DataFrame())
    cats = ["improved", "unchanged", "deteriorated"]
    long = rc.melt(id_vars=["outcome", "arm"], value_vars=[f"n_{c}" for c in cats], var_name="cat",
                   value_name="count")
    long["count"] = pd.to_numeric(long["count"], errors="coerce").fillna(0).astype("int64")
    shown = suppress_small_cells(long, "count", min_cell=m, group_keys=["outcome", "arm", "cat"],
                                 margins=["cat"])
    hid = set(zip(shown.loc[shown["suppressed"], "outcome"], shown.loc[shown["suppressed"], "arm"],
                  shown.loc[shown["suppressed"], "cat"], strict=True))
    out = _suppress(rc, ["n"], [], m)
    share_all = [c for c in out.columns if c.startswith("share_")]
    n_all = [c for c in out.columns if c.startswith("n_") and c not in ("n_excluded",)]
    # the row's n itself: small or hidden elsewhere -> everything
    out = _hide(out, _in(out, ["outcome", "arm"], small) | out["n_suppressed"].to_numpy(dtype=bool),
                share_all, ["n", *n_all])
    for c in cats:
        bad = _in(out, ["outcome", "arm"], {(o, a) for o, a, k in hid if k == f"n_{c}"})
        tied = [f"share_{c}"] + (["share_reliably_improved"] if c == "improved" else [])
        counts = [f"n_{c}"] + (["n_reliably_improved"] if c == "improved" else [])
        out = _hide(out, bad, tied, counts)
    return out


def _protect_moderators(results: StudyResults, m: int, at_post: set[Any]) -> pd.DataFrame:
    mods = _drop_exclusions(results.moderators)
    if mods is None or not len(mods):
        return _flags(mods if mods is not None else pd.DataFrame())
    stats_cols = [c for c in ("estimate", "se", "statistic", "ci_low", "ci_high", "p") if c in mods.columns]
    out = _flags(mods)
    if "level" in out.columns:
        lv = out["level"]
        has_level = (lv.notna() & (lv.astype(str).str.strip() != "")).to_numpy(dtype=bool)
    else:
        has_level = np.zeros(len(out), dtype=bool)
    bad = np.zeros(len(out), dtype=bool)
    if has_level.any() and results.data is not None:
        # analysed participants (score at post on the outcome) per outcome x arm x moderator category
        a = results.data.analysis
        post = a[(a["wave"] == results.study.final) & a["score"].notna()]
        counts: dict[tuple[Any, Any, str, str], int] = {}
        for mod in out.loc[has_level, "moderator"].dropna().unique():
            if mod not in post.columns:
                continue
            c = post.groupby(["outcome", "arm", post[mod].astype(str)], observed=True).size()
            counts.update({(o, arm, mod, lv): int(v) for (o, arm, lv), v in c.items()})
        for i in np.flatnonzero(has_level):
            r = out.iloc[i]
            lv = str(r["level"])
            for arm in (r["arm"], r.get("reference")):
                if pd.isna(arm) or str(arm) == "":
                    continue
                if counts.get((r["outcome"], arm, r["moderator"], lv), 0) < m:
                    bad[i] = True
    if "arm" in out.columns:
        bad |= out["arm"].isin(at_post).to_numpy()
    return _hide(out, bad, stats_cols)


def _participant_ids(results: StudyResults) -> list[str]:
    if results.data is None:
        return []
    return [str(x) for x in results.data.participants["participant_id"].dropna().unique()]


def _scrub(notes: pd.DataFrame, ids: list[str]) -> tuple[pd.DataFrame, int]:
    """Replace participant ids in free text by a placeholder (longest first, whole tokens)."""
    ids = sorted(set(ids), key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(i) for i in ids) + r")(?![\w-])")
    out = notes.copy()
    total = 0
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            vals = []
            for v in out[c].tolist():
                if isinstance(v, str):
                    v, k = pattern.subn("[participant id]", v)
                    total += k
                vals.append(v)
            out[c] = vals
    return out, total


def _sites(results: StudyResults) -> list[str]:
    if results.data is None or "site_id" not in results.data.participants.columns:
        return []
    return [str(s) for s in pd.unique(results.data.participants["site_id"].dropna())]


def _enrolled_total(raw: pd.DataFrame, shown: pd.DataFrame, baseline: str) -> int | None:
    """Total enrolled (sum over arms at the first wave), or None when it must be withheld."""
    if raw is None or not len(raw):
        return None
    withheld = shown.attrs.get("suppression", {}).get("withheld_totals", [])
    if any(w.get("count") == "n_enrolled" and w.get("wave") == baseline for w in withheld):
        return None
    from mentor_eval.outcomes.design import ALL_ARMS

    cells = raw[(raw["wave"] == baseline) & (raw["arm"] != ALL_ARMS)]
    return int(pd.to_numeric(cells["n_enrolled"], errors="coerce").fillna(0).sum())


# --------------------------------------------------------------------------- labels and small helpers


def arm_labels(results: StudyResults) -> dict[str, str]:
    """Arm key -> label from the study (user-supplied: escape before putting into HTML).

    The flow's total rows (arm ``"all"``) are labelled ``"All arms"``.
    """
    from mentor_eval.outcomes.design import ALL_ARMS

    return {ALL_ARMS: "All arms", **{a.key: a.label or a.key for a in results.study.arms}}


def outcome_label(results: StudyResults, outcome: str) -> str:
    """``"instrument.scale"`` -> ``"Adult Hope Scale: Total hope"`` (the id itself if unknown)."""
    try:
        si, sc = results.study.resolve_outcome(outcome)
    except Exception:  # an outcome id the study does not know: show it as is
        return str(outcome)
    return f"{si.instrument.name}: {sc.label or sc.id}"


def outcome_labels(results: StudyResults, outcomes: Iterable[str] | None = None) -> dict[str, str]:
    """Outcome id -> label for ``outcomes`` (default: the study's outcomes)."""
    outs = list(outcomes) if outcomes is not None else list(results.study.outcomes.all)
    return {o: outcome_label(results, o) for o in outs}


def _relabel(frame: pd.DataFrame, results: StudyResults, cols: Sequence[str] = ("arm", "reference", "outcome")
             ) -> pd.DataFrame:
    out = frame.copy()
    arms = arm_labels(results)
    for c in cols:
        if c not in out.columns:
            continue
        if c == "outcome":
            labels = {o: outcome_label(results, o) for o in pd.unique(out[c].dropna())}
        else:
            labels = arms
        out[c] = [labels.get(v, v) if isinstance(v, str) else v for v in out[c].tolist()]
    return out


def _results_outcomes(results: StudyResults) -> list[str]:
    outs = results.provenance.get("parameters", {}).get("outcomes") if results.provenance else None
    return list(outs) if outs else list(results.study.outcomes.all)


def suppressed_count(results: StudyResults) -> int:
    """Number of table rows in which something was suppressed (0 for unprotected results)."""
    total = 0
    for name, t in results.tables().items():
        if name == "notes" or not len(t) or "suppressed" not in t.columns:
            continue
        total += int(t["suppressed"].fillna(False).astype(bool).sum())
    return total


def enrolled_total(results: StudyResults) -> int | None:
    """Participants enrolled in the study, as it may be published (None: withheld or unknown)."""
    if is_protected(results):
        return results.provenance[_PROTECTED_KEY]["n_enrolled"]
    if results.data is not None:
        return int(len(results.data.participants))
    return None


def check_audience(audience: str) -> str:
    """Validate the report's ``audience`` parameter (``"funder"`` or ``"researcher"``) and return it."""
    return check_one_of("report", "audience", audience, AUDIENCES)


def report_outcomes(results: StudyResults) -> list[str]:
    """Outcomes the run analysed, in the study's order (primary first)."""
    return _results_outcomes(results)


def report_instruments(results: StudyResults) -> list[str]:
    """Instrument ids of the study that have item distributions (or, unprotected, are administered)."""
    d = results.item_distributions
    if d is not None and len(d):
        return [i for i in results.study.instrument_ids if i in set(d["instrument"])]
    return list(results.study.instrument_ids)


def instrument_name(results: StudyResults, instrument_id: str) -> str:
    """Full name of a study instrument (the id if unknown)."""
    return _instrument_name(results, instrument_id)


def title_html(results: StudyResults, title: str | None = None, kind: str = "Evaluation report") -> str:
    """The report's title block: ``<h1>`` (escaped) and a line with the study design and privacy rule.

    ``title`` defaults to ``"<study name>: <kind>"``.
    """
    st = results.study
    text = title if title else f"{st.name}: {kind.lower()}" if kind else st.name
    sub = f"{kind} for the {st.design} study {st.name}."
    if is_protected(results):
        m = results.provenance[_PROTECTED_KEY]["min_cell"]
        sub += (f" Only aggregate results are shown; any group of fewer than {m} participants is suppressed "
                f"(marked '{SUPPRESSED}').")
    return f'<h1 class="me-title">{escape(text)}</h1><p class="me-subtitle">{escape(sub)}</p>'


def write_report_tables(results: StudyResults, output_dir: str | None, name: str) -> list[Any]:
    """Write the protected result tables as CSV/JSON into ``<output_dir>/<name>_tables`` (None: nothing).

    Only protected (aggregate, suppressed) results may be written.
    """
    from pathlib import Path

    from mentor_eval.pipeline import write_tables

    _require_protected("write_report_tables", results)
    if output_dir is None:
        return []
    return write_tables(results, Path(output_dir) / f"{name}_tables")


def _fmt(x: Any, digits: int = 2) -> str:
    return "" if x is None or pd.isna(x) else f"{float(x):.{digits}f}"


def paragraphs_html(paragraphs: Iterable[str], *, css_class: str = "me-prose") -> str:
    """Plain-text paragraphs as escaped ``<p>`` elements inside one ``<div>``.

    Examples
    --------
    >>> paragraphs_html(["a < b"])
    '<div class="me-prose"><p>a &lt; b</p></div>'
    """
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f'<div class="{escape(css_class)}">{body}</div>'


def bullets_html(items: Iterable[str]) -> str:
    """Plain-text items as an escaped ``<ul>`` (an empty list gives ``""``)."""
    items = list(items)
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def arm_cards_html(cards: Sequence[dict[str, Any]]) -> str:
    """The arm cards of :func:`mentor_eval.narrative.arm_cards` as escaped HTML.

    One ``<section class="me-arm-card">`` per arm with its label as a heading, the
    model name and format, the description and the two mechanisms.
    """
    parts = ['<div class="me-arm-cards">']
    for c in cards:
        n = c.get("n_enrolled")
        n_text = "number withheld (small group)" if n is None else f"{n} enrolled"
        # The control "model" has no delivery format; its name already says "no mentoring".
        fmt_text = "" if c.get("is_control") else f" ({escape(c['format_words'])})"
        mech = ""
        if not c.get("is_control"):
            mech = (f"<p><strong>How it is meant to build belonging:</strong> {escape(c['belonging_mechanism'])}</p>"
                    f"<p><strong>How it is meant to build hope:</strong> {escape(c['hope_mechanism'])}</p>")
        parts.append(
            '<section class="me-arm-card" style="border:1px solid #ccc;border-radius:6px;padding:0.6em 1em;'
            'margin:0.6em 0">'
            f"<h4>{escape(c['label'])}</h4>"
            f"<p><em>Model: {escape(c['model_name'])}{fmt_text}; {escape(n_text)}.</em></p>"
            f"<p>{escape(c['description'])}</p>{mech}</section>"
        )
    parts.append("</div>")
    return "".join(parts)


def _keep(frame: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    flags = [c for c in frame.columns if c in ("suppressed", "suppression") or str(c).endswith("_suppressed")]
    return frame[[c for c in cols if c in frame.columns] + flags]


def _renamed(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Rename columns and their ``_suppressed`` flags together (so markers still line up)."""
    ren = dict(names)
    ren.update({f"{k}_suppressed": f"{v}_suppressed" for k, v in names.items()})
    return frame.rename(columns=ren)


# --------------------------------------------------------------------------- flow and attrition


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


def flow_figure(results: StudyResults) -> go.Figure:
    """Participant flow figure (enrolled, assessed, analysed) from the protected flow."""
    from mentor_eval.outcomes.design import ALL_ARMS

    _require_protected("flow_figure", results)
    cells = results.flow[results.flow["arm"] != ALL_ARMS] if len(results.flow) else results.flow
    flow = _relabel(cells, results).rename(
        columns={"n_enrolled": "enrolled", "n_assessed": "assessed", "n_analysed": "analysed",
                 "n_enrolled_suppressed": "enrolled_suppressed", "n_assessed_suppressed": "assessed_suppressed",
                 "n_analysed_suppressed": "analysed_suppressed"})
    flow.attrs = results.flow.attrs
    order = {k: i for i, k in enumerate(results.study.wave_keys)}
    flow = flow.sort_values("wave", key=lambda s: s.map(order), kind="stable")
    return figures.flow_figure(flow, title="Participants at each survey wave")


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
                      "n_analysed_ref": "Control analysed", "reference_attrition_pct": "Control attrition %",
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
    outs = outcome_labels(results, pd.unique(t["variable"]))
    t["variable"] = [outs.get(v, v) if "." in str(v) else v for v in t["variable"]]
    t["category"] = [_CATEGORY_WORDS.get(c, c) for c in t["category"]]
    names = {"variable": "Characteristic", "arm": "Arm", "mean_arm": "Arm mean", "mean_ref": "Control mean",
             "g": "Difference (g)", "category": "WWC baseline equivalence"}
    if full:
        names.update({"n_arm": "n arm", "n_ref": "n control", "sd_arm": "SD arm", "sd_ref": "SD control",
                      "kind": "Kind", "note": "Note"})
    return _renamed(_keep(t, list(names)), names)


def _instrument_name(results: StudyResults, instrument_id: str) -> str:
    try:
        return results.study.instrument(instrument_id).instrument.name
    except Exception:
        return str(instrument_id)


def _scale_label(results: StudyResults, instrument_id: str, scale: str) -> str:
    try:
        return results.study.instrument(instrument_id).instrument.scale(scale).label or scale
    except Exception:
        return str(scale)


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


def invariance_table(results: StudyResults, *, full: bool = False) -> pd.DataFrame:
    """Measurement invariance across arms per instrument and level, with the verdict.

    Returns
    -------
    pandas.DataFrame
        ``Instrument``, ``Level`` (configural / metric / scalar), ``CFI``, ``RMSEA``,
        ``SRMR``, ``Change in CFI``, ``Change in RMSEA``, ``Verdict`` (``full`` adds
        the chi-square test and its difference test).
    """
    _require_protected("invariance_table", results)
    t = results.invariance
    if t is None or not len(t):
        return pd.DataFrame({"Instrument": [], "Verdict": []})
    t = t.copy()
    t["instrument"] = [_instrument_name(results, i) for i in t["instrument"]]
    names = {"instrument": "Instrument", "level": "Level", "cfi": "CFI", "rmsea": "RMSEA", "srmr": "SRMR",
             "delta_cfi": "Change in CFI", "delta_rmsea": "Change in RMSEA", "verdict": "Verdict"}
    if full:
        names.update({"n": "n", "chisq": "Chi-square", "df": "df", "pvalue": "p", "chisq_diff": "Chi-square change",
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


# --------------------------------------------------------------------------- outcomes


def means_figure(results: StudyResults, outcome: str) -> go.Figure:
    """Mixed-model adjusted means per arm and wave for one outcome, with 95% CIs."""
    _require_protected("means_figure", results)
    mm = results.mixed_means
    part = mm[mm["outcome"] == outcome] if len(mm) else mm
    if not len(part):
        raise ParameterError(f"No mixed-model means for outcome {outcome!r}; the model may not have run "
                             "(see the notes).")
    order = {k: i for i, k in enumerate(results.study.wave_keys)}
    part = _relabel(part, results, cols=("arm",)).sort_values("wave", key=lambda s: s.map(order), kind="stable")
    part.attrs = mm.attrs
    label = outcome_label(results, outcome)
    return figures.means_figure(part, title=f"{label}: adjusted means by arm and wave", y_title=label)


def forest_data(results: StudyResults, *, scale: str = "g", outcomes: Sequence[str] | None = None) -> pd.DataFrame:
    """Effects of every arm versus control on every outcome, for the forest plot.

    Parameters
    ----------
    results : StudyResults
        Protected results.
    scale : {"g", "raw"}, default "g"
        ``"g"``: standardized difference (Hedges g of the ANCOVA-adjusted difference,
        columns ``g``, ``g_ci_low``, ``g_ci_high``), comparable across outcomes;
        ``"raw"``: the adjusted difference in scale points.
    outcomes : list of str, optional
        Default: every outcome with a contrast, in the study's order.

    Returns
    -------
    pandas.DataFrame
        ``outcome`` (label), ``arm`` (label), ``estimate``, ``ci_low``, ``ci_high``,
        ``p_adj``, ``family``, ``scale`` and the suppression flags.
    """
    _require_protected("forest_data", results)
    check_one_of("forest_data", "scale", scale, ("g", "raw"))
    con = results.contrasts
    if con is None or not len(con):
        return pd.DataFrame(columns=["outcome", "arm", "estimate", "ci_low", "ci_high", "p_adj", "family", "scale"])
    order = list(outcomes) if outcomes is not None else [o for o in _results_outcomes(results)
                                                          if o in set(con["outcome"])]
    part = con[con["outcome"].isin(order)].copy()
    part["_o"] = part["outcome"].map({o: i for i, o in enumerate(order)})
    arm_order = {k: i for i, k in enumerate(results.study.arm_keys)}
    part["_a"] = part["arm"].map(arm_order)
    part = part.sort_values(["_o", "_a"], kind="stable")
    if scale == "g":
        est = part[["g", "g_ci_low", "g_ci_high"]].to_numpy(dtype=float)
    else:
        est = part[["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float)
    out = pd.DataFrame({"outcome": part["outcome"].to_numpy(), "arm": part["arm"].to_numpy(),
                        "estimate": est[:, 0], "ci_low": est[:, 1], "ci_high": est[:, 2],
                        "p_adj": part["p_adj"].to_numpy(dtype=float), "family": part["family"].to_numpy(),
                        "scale": "standardized (g)" if scale == "g" else "scale points"})
    out["suppressed"] = part["suppressed"].to_numpy(dtype=bool)
    out = _relabel(out, results, cols=("arm", "outcome"))
    out.attrs = con.attrs
    return out


def forest_figure(results: StudyResults, *, scale: str = "g") -> go.Figure:
    """Forest plot of every arm-vs-control effect (standardized g by default)."""
    data = forest_data(results, scale=scale)
    x_title = ("Standardized difference from control (Hedges g)" if scale == "g"
               else "Adjusted difference from control (scale points)")
    fig = figures.forest_figure(data, title="Effects of each mentorship model compared with control",
                                x_title=x_title)
    what = ("standardized differences (Hedges g: the adjusted difference divided by the pooled standard "
            "deviation)" if scale == "g" else "adjusted differences in scale points")
    cap = (f"Effect of each arm compared with control at the last wave, from the baseline-adjusted analysis "
           f"(ANCOVA), as {what}, with 95% confidence intervals; the dashed line marks no difference.")
    fig.layout.meta = {**fig.layout.meta, "caption": cap}
    return fig


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
        names.update({"n_arm": "n arm", "n_reference": "n control", "se": "SE", "df": "df", "t": "t",
                      "p": "p (unadjusted)"})
    return _renamed(_keep(t, list(names)), names)


def change_figure(results: StudyResults, outcome: str) -> go.Figure:
    """Mean change from first to last wave within each arm for one outcome."""
    _require_protected("change_figure", results)
    pp = results.prepost
    part = pp[pp["outcome"] == outcome] if len(pp) else pp
    if not len(part):
        raise ParameterError(f"No pre/post results for outcome {outcome!r}.")
    arm_order = {k: i for i, k in enumerate(results.study.arm_keys)}
    part = part.sort_values("arm", key=lambda s: s.map(arm_order), kind="stable")
    part = _relabel(part, results, cols=("arm",))
    part.attrs = pp.attrs
    label = outcome_label(results, outcome)
    st = results.study
    return figures.change_figure(part, title=f"{label}: change from {st.baseline} to {st.final}",
                                 y_title=f"Mean change ({st.final} minus {st.baseline})")


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


def reliable_change_data(results: StudyResults, outcome: str) -> pd.DataFrame:
    """Reliable-change shares per arm for one outcome (protected; labels)."""
    _require_protected("reliable_change_data", results)
    rc = results.reliable_change
    part = rc[rc["outcome"] == outcome] if len(rc) else rc
    arm_order = {k: i for i, k in enumerate(results.study.arm_keys)}
    part = part.sort_values("arm", key=lambda s: s.map(arm_order), kind="stable")
    out = _relabel(part, results, cols=("arm",))
    out.attrs = {"suppression": {"min_cell": results.provenance[_PROTECTED_KEY]["min_cell"]}}
    return out


def reliable_change_figure(results: StudyResults, outcome: str) -> go.Figure:
    """Stacked bars: shares who reliably improved, did not change, deteriorated, per arm."""
    part = reliable_change_data(results, outcome)
    if not len(part):
        raise ParameterError(f"No reliable-change results for outcome {outcome!r}.")
    label = outcome_label(results, outcome)
    return figures.reliable_change_figure(part, title=f"{label}: reliable change")


def item_distribution_figure(results: StudyResults, instrument_id: str) -> go.Figure:
    """Diverging bars of item response distributions of one instrument at its last wave."""
    _require_protected("item_distribution_figure", results)
    d = results.item_distributions
    part = d[d["instrument"] == instrument_id] if len(d) else d
    if not len(part):
        raise ParameterError(f"No item distributions for instrument {instrument_id!r}.")
    part = part.copy()
    part["item"] = [f"{i}. {g}" for i, g in zip(part["item_id"], part["gist"], strict=True)]
    part.attrs = {"suppression": {"min_cell": results.provenance[_PROTECTED_KEY]["min_cell"]}}
    name = _instrument_name(results, instrument_id)
    wave = part["wave"].iloc[0]
    fig = figures.item_distribution_figure(part, title=f"{name}: answers to each item ({wave})")
    return fig


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
    if kind == "dose":
        names = {"outcome": "Outcome", "arm": "Arm", "term": "Dose", "estimate": "Change per unit",
                 "ci_low": "95% CI low", "ci_high": "95% CI high", "p": "p", "n": "n", "status": "Status"}
    else:
        if not full:
            t = t[t["test"] == "interaction F"]
        names = {"outcome": "Outcome", "moderator": "Moderator", "test": "Test", "term": "Term",
                 "level": "Category", "estimate": "Estimate", "ci_low": "95% CI low", "ci_high": "95% CI high",
                 "statistic": "Statistic", "p": "p", "status": "Status"}
        if not full:
            for k in ("term", "level", "estimate", "ci_low", "ci_high"):
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
