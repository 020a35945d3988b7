"""Make a study's results safe to publish: :func:`protect` applies disclosure control to every table."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval._params import check_positive_int
from mentor_eval.errors import ParameterError
from mentor_eval.pipeline import StudyResults
from mentor_eval.report.disclosure import suppress_small_cells

__all__ = ["EXCLUSION_COUNTS", "protect", "is_protected", "require_protected", "suppressed_count", "enrolled_total"]

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


_RANK = {"primary": 3, "secondary": 2, "derived": 1}


def _hide(frame: pd.DataFrame, mask: np.ndarray | pd.Series, cols: Iterable[str],
          counts: Iterable[str] = (), kind: str = "secondary") -> pd.DataFrame:
    """Hide ``cols`` (statistics, verdicts) and ``counts`` (count columns) in the rows of ``mask``.

    Flags follow :func:`mentor_eval.report.disclosure.suppress_small_cells`: counts get
    ``<count>_suppressed``; rows get ``suppressed`` and ``suppression``, the strongest
    reason seen so far: ``"primary"`` (the row describes fewer than ``min_cell``
    people), ``"secondary"`` (hidden so that a small cell elsewhere cannot be worked
    out from totals) or ``"derived"`` (computed from a value hidden elsewhere).
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
    old_rank = np.array([_RANK.get(r, 0) if isinstance(r, str) else 0 for r in reason])
    reason = np.where(mask & (old_rank < _RANK[kind]), kind, reason)
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
        columns (see :func:`mentor_eval.report.disclosure.suppress_small_cells`). ``data`` is
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
    # Two different things can hide a flow count. A *small* cell (fewer than min_cell
    # people) hides every statistic about that group everywhere. A *complement* (a
    # large count hidden only so that a small one cannot be worked out from the
    # totals) hides that same number wherever it is printed, nothing else: a mean of
    # 160 people does not reveal how many they were.
    small_wave, small_arm, count_wave = _flow_cells(results.flow, flow, m)
    at_post = {a for a, w in small_wave if w == post} | small_arm
    at_pre = {a for a, w in small_wave if w == pre} | small_arm
    count_post = {a for a, w in count_wave if w == post}
    count_pre = {a for a, w in count_wave if w == pre}
    enrolled_hidden = set(flow.loc[flow["n_enrolled_suppressed"].fillna(False).astype(bool), "arm"]) if len(
        flow) else set()

    # --- attrition: per arm vs control; percentages and the verdict derive from both counts
    att = results.attrition
    if len(att):
        pcts = [c for c in att.columns if c.endswith("_pct")]
        derived = [*pcts, "verdict"]
        att = _suppress(att, ["n_enrolled", "n_analysed", "n_enrolled_ref", "n_analysed_ref"], derived, m)
        att = _hide(att, att["arm"].isin(small_arm), derived, ["n_enrolled", "n_analysed"], kind="primary")
        att = _hide(att, att["reference"].isin(small_arm), derived, ["n_enrolled_ref", "n_analysed_ref"],
                    kind="primary")
        att = _hide(att, att["arm"].isin(enrolled_hidden), derived, ["n_enrolled"], kind="secondary")
        att = _hide(att, att["arm"].isin(count_post), derived, ["n_analysed"], kind="secondary")
        att = _hide(att, att["reference"].isin(enrolled_hidden), derived, ["n_enrolled_ref"], kind="secondary")
        att = _hide(att, att["reference"].isin(count_post), derived, ["n_analysed_ref"], kind="secondary")

    baseline = _protect_baseline(results.baseline, m, at_pre, count_pre)

    # --- psychometrics; "below .70" is derived from the alpha beside it
    rel = _drop_exclusions(results.reliability)
    if len(rel):
        rel = _suppress(rel, ["n"], [*_stat_cols(rel, ["n"]), "below_threshold"], m)
    else:
        rel = _flags(rel)
    rba = _drop_exclusions(results.reliability_by_arm)
    if len(rba):
        cols = [*_stat_cols(rba, ["n"]), "below_threshold"]
        rba = _suppress(rba, ["n"], cols, m)
        rba = _hide(rba, _in(rba, ["arm", "wave"], small_wave) | rba["arm"].isin(small_arm).to_numpy(), cols, ["n"],
                    kind="primary")
        rba = _hide(rba, _in(rba, ["arm", "wave"], count_wave), [], ["n"])
    inv = results.invariance
    inv = _suppress(inv, ["n"], [], m) if len(inv) and "n" in inv.columns else _flags(inv)

    # --- outcome x arm cells (pre/post pairs, ANCOVA): small here or small in the flow
    prepost = _drop_exclusions(results.prepost)
    means = results.ancova_means
    small: set[tuple[Any, Any]] = set()
    for t in (prepost, means):
        if len(t):
            small |= _pairs(t[pd.to_numeric(t["n"], errors="coerce").fillna(0) < m], "outcome", "arm")
            small |= {(o, a) for o, a in _pairs(t, "outcome", "arm") if a in at_post}
    if len(prepost):
        cols = _stat_cols(prepost, ["n"])
        prepost = _suppress(prepost, ["n"], cols, m)
        prepost = _hide(prepost, _in(prepost, ["outcome", "arm"], small), cols, ["n"], kind="primary")
        prepost = _hide(prepost, prepost["arm"].isin(count_post).to_numpy(), [], ["n"])
    if len(means):
        cols = _stat_cols(means, ["n"])
        means = _suppress(means, ["n"], cols, m)
        means = _hide(means, _in(means, ["outcome", "arm"], small), cols, ["n"], kind="primary")
        means = _hide(means, means["arm"].isin(count_post).to_numpy(), [], ["n"])
    con = results.contrasts
    if len(con):
        cols = _stat_cols(con, ["n_arm", "n_ref"]) + [c for c in ("verdict",) if c in con.columns]
        con = _suppress(con, ["n_arm", "n_ref"], cols, m)
        bad = _in(con, ["outcome", "arm"], small) | _in(con, ["outcome", "reference"], small)
        con = _hide(con, bad, cols, ["n_arm", "n_ref"], kind="primary")
        con = _hide(con, con["arm"].isin(count_post).to_numpy(), [], ["n_arm"])
        con = _hide(con, con["reference"].isin(count_post).to_numpy(), [], ["n_ref"])
    small_con = _pairs(con[con["suppressed"] & con["g"].isna()], "outcome", "arm") if len(con) else set()

    # --- mixed models: outcome x wave x arm
    mm = results.mixed_means
    hidden_mm: set[tuple[Any, Any, Any]] = set()
    if len(mm):
        cols = _stat_cols(mm, ["n"])
        mm = _suppress(mm, ["n"], cols, m)
        bad = _in(mm, ["arm", "wave"], small_wave) | mm["arm"].isin(small_arm).to_numpy()
        mm = _hide(mm, bad, cols, ["n"], kind="primary")
        mm = _hide(mm, _in(mm, ["arm", "wave"], count_wave), [], ["n"])
        gone = mm["estimate"].isna() & mm["suppressed"]
        hidden_mm = set(zip(mm.loc[gone, "outcome"], mm.loc[gone, "wave"], mm.loc[gone, "arm"], strict=True))
    mc = _flags(results.mixed_contrasts)
    if len(mc):
        o, w, a = mc["outcome"].tolist(), mc["wave"].tolist(), mc["arm"].tolist()
        change = (mc["type"] == "change_vs_control").to_numpy() if "type" in mc.columns else np.zeros(len(mc), bool)
        bad = np.array([
            (o[i], w[i], a[i]) in hidden_mm or (o[i], w[i], control) in hidden_mm
            or (change[i] and ((o[i], pre, a[i]) in hidden_mm or (o[i], pre, control) in hidden_mm))
            for i in range(len(mc))
        ], dtype=bool)
        mc = _hide(mc, bad, _stat_cols(mc, []), kind="derived")

    rc = _protect_reliable_change(_drop_exclusions(results.reliable_change), m, small, count_post)
    fit, ancova_icc = _protect_model_fit(results, m, means, mm)

    hyp = _flags(results.hypotheses)
    if len(hyp):
        bad = _in(hyp, ["outcome", "arm"], small_con)
        hyp = _hide(hyp, bad, ["estimate", "ci_low", "ci_high", "g", "p", "p_adj"], kind="derived")
        hyp["verdict"] = np.where(bad, f"not reported (the comparison involves a group of fewer than {m} people)",
                                  hyp["verdict"].astype(object))

    mods = _protect_moderators(results, m, at_post)
    dose = _drop_exclusions(results.dose_response)
    if len(dose):
        cols = _stat_cols(dose, ["n"])
        dose = _suppress(dose, ["n"], cols, m)
        dose = _hide(dose, dose["arm"].isin(at_post).to_numpy(), cols, ["n"], kind="primary")
        dose = _hide(dose, dose["arm"].isin(count_post).to_numpy(), [], ["n"])

    dist = results.item_distributions
    if len(dist):
        dist = _suppress(dist, ["n"], {"n": ["share"]}, m, keys=["item", "level"], margins=["level"])
        # a small n_item is a small cell too: hide the whole item
        small_item = pd.to_numeric(dist["n_item"], errors="coerce").fillna(0) < m
        dist = _hide(dist, small_item.to_numpy(), ["share", "n_item"], ["n"], kind="primary")

    ids = _participant_ids(results)
    notes = results.notes.copy() if len(results.notes) else results.notes
    scrubbed = 0
    if len(notes) and ids:
        notes, scrubbed = _scrub(notes, ids)
    if len(notes):
        notes = _scrub_counts(notes, m)

    sites = _sites(results)
    report = {"min_cell": m, "sites": sites, "n_enrolled": _enrolled_total(results.flow, flow, pre),
              "participant_ids_scrubbed": scrubbed}
    provenance = {**results.provenance, _PROTECTED_KEY: report}
    from mentor_eval.report.mechanisms import protect_mechanisms  # mediation, fidelity, complier tables

    mech = protect_mechanisms(results, m, at_post, count_post)
    return dataclasses.replace(
        results, data=None, flow=flow, attrition=att, baseline=baseline, reliability=rel,
        reliability_by_arm=rba, invariance=inv, prepost=prepost, ancova_means=means, contrasts=con,
        mixed_means=mm, mixed_contrasts=mc, reliable_change=rc, hypotheses=hyp, moderators=mods,
        dose_response=dose, item_distributions=dist, notes=notes, provenance=provenance, model_fit=fit,
        ancova_icc=ancova_icc, **mech,
    )


def _hidden_outcomes(frame: pd.DataFrame) -> set[Any]:
    """Outcomes with at least one arm (x wave) count hidden in a protected table."""
    if frame is None or not len(frame) or "n_suppressed" not in frame.columns:
        return set()
    return set(frame.loc[frame["n_suppressed"].fillna(False).to_numpy(dtype=bool), "outcome"])


def _protect_model_fit(results: StudyResults, m: int, means: pd.DataFrame, mm: pd.DataFrame
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model fit and the ANCOVA cluster table: a model's sizes are totals of published cells.

    A model's ``n`` (and ``n_obs``) is the sum of the arm counts published beside its
    means, so it is hidden wherever one of those counts is (else ``n`` minus the shown ones
    gives the hidden one), and so is ``BIC``: with ``AIC`` and the parameter count it
    gives ``log n``. A model of fewer than ``min_cell`` people is hidden whole. The cluster
    table's mean cluster size times the number of clusters is the number of clustered
    participants (the clustered arms' total), so it goes with those counts; a number of
    one-member clusters from 1 to ``min_cell - 1`` is a count of fewer than ``min_cell``
    people.
    """
    fit = _flags(results.model_fit) if results.model_fit is not None else _flags(pd.DataFrame())
    if len(fit):
        size = pd.to_numeric(fit["n"], errors="coerce").fillna(0).to_numpy()
        stats = [c for c in ("logLik", "AIC", "BIC", "singular", "converged") if c in fit.columns]
        fit = _hide(fit, size < m, stats, ["n", "n_obs"], kind="primary")
        model = fit["model"].astype(str).to_numpy()
        out = fit["outcome"].to_numpy(dtype=object)
        hid_a, hid_m = _hidden_outcomes(means), _hidden_outcomes(mm)
        bad = np.array([(model[i] == "ancova" and out[i] in hid_a) or (model[i] == "mixed_model" and out[i] in hid_m)
                        for i in range(len(fit))], dtype=bool)
        fit = _hide(fit, bad, ["BIC"], ["n", "n_obs"], kind="secondary")
    icc = results.ancova_icc
    icc = _flags(icc) if icc is not None else _flags(pd.DataFrame())
    if len(icc):
        single = pd.to_numeric(icc["n_singletons"], errors="coerce").fillna(0).to_numpy()
        icc = _hide(icc, (single > 0) & (single < m), [], ["n_singletons"], kind="primary")
        bad = icc["outcome"].isin(_hidden_outcomes(means)).to_numpy() if "outcome" in icc.columns else np.zeros(
            len(icc), dtype=bool)
        icc = _hide(icc, bad, ["mean_cluster_size"], kind="secondary")
    return fit, icc


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


def require_protected(func: str, results: StudyResults) -> None:
    if not isinstance(results, StudyResults):
        raise ParameterError(f"The 'results' parameter of {func} must be a StudyResults; got "
                             f"{type(results).__name__}.")
    if not is_protected(results):
        raise ParameterError(
            f"{func} shows results on a published page: pass protect(results, min_cell) so that small "
            "cells are suppressed first."
        )


def _protect_baseline(base: pd.DataFrame, m: int, at_pre: set[Any], count_pre: set[Any] = frozenset()
                      ) -> pd.DataFrame:
    """Baseline equivalence rows: each side (arm, control) is a group of people; a
    binary or categorical characteristic splits it into category counts."""
    if base is None or not len(base):
        return _flags(base if base is not None else pd.DataFrame())
    # g and the WWC category are computed from both sides: they go with either
    derived = ["g", "category"]
    arm_side = ["mean_arm", "sd_arm", *derived]
    ref_side = ["mean_ref", "sd_ref", *derived]
    # each side's statistics go with that side's count only (a small control group does
    # not hide the arm's own mean)
    out = _suppress(base, ["n_arm", "n_ref"], {"n_arm": arm_side, "n_ref": ref_side}, m)
    out = _hide(out, out["arm"].isin(at_pre).to_numpy(), arm_side, ["n_arm"], kind="primary")
    out = _hide(out, out["reference"].isin(at_pre).to_numpy(), ref_side, ["n_ref"], kind="primary")
    out = _hide(out, out["arm"].isin(count_pre).to_numpy(), [], ["n_arm"])
    out = _hide(out, out["reference"].isin(count_pre).to_numpy(), [], ["n_ref"])
    binary = (out["kind"] == "binary").to_numpy() if "kind" in out.columns else np.zeros(len(out), bool)
    if not binary.any():
        return out
    # Category counts: each proportion of a binary row is a count of people in the group
    # (proportion x n); within a group the categories of a variable sum to its n, which
    # is published, so one hidden category needs a complement in the same group.
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
    hidden: dict[tuple[str, str, str], str] = {}
    for (s, _g), part in cells.groupby(["stem", "group"], sort=False):
        shown = suppress_small_cells(part[["level", "count"]].reset_index(drop=True), "count", min_cell=m,
                                     group_keys=["level"], margins=["level"])
        for lv, why in zip(shown["level"], shown["suppression"], strict=True):
            if isinstance(why, str):
                hidden[(s, str(_g), lv)] = why
    arm_kind = np.array([None] * len(out), dtype=object)
    ref_kind = np.array([None] * len(out), dtype=object)
    for j, i in enumerate(np.flatnonzero(binary)):
        key = (stem.iloc[j], level[j])
        arm_kind[i] = hidden.get((key[0], str(out["arm"].iloc[i]), key[1]))
        ref_kind[i] = hidden.get((key[0], str(out["reference"].iloc[i]), key[1]))
    for kind in ("primary", "secondary"):
        out = _hide(out, arm_kind == kind, arm_side, kind=kind)
        out = _hide(out, ref_kind == kind, ref_side, kind=kind)
    return out


def _protect_reliable_change(rc: pd.DataFrame, m: int, small: set[tuple[Any, Any]],
                             count_post: set[Any] = frozenset()) -> pd.DataFrame:
    """Improved / unchanged / deteriorated counts per outcome x arm; they sum to the published n.

    A small category is hidden with one complement, chosen as ``unchanged`` whenever
    that is not the small one, and the two hidden categories are published merged
    (``share_not_improved`` = unchanged or deteriorated, ``share_not_deteriorated`` =
    improved or unchanged): the reader still sees how many improved, and nothing else.
    ``small_categories`` names the categories hidden for having fewer than ``min_cell``
    people (``"improved, deteriorated"``; empty otherwise): the reason, which the
    suppression already implies, never a number.
    """
    if rc is None or not len(rc):
        return _flags(rc if rc is not None else pd.DataFrame())
    cats = ["improved", "unchanged", "deteriorated"]
    out = _suppress(rc, ["n"], [], m)
    out["share_not_improved"] = np.nan
    out["share_not_deteriorated"] = np.nan
    # which categories are hidden for being small (the reason, no number), so a chart can say
    # "fewer than 10 improved" instead of leaving the row blank
    out["small_categories"] = ""
    share_all = [c for c in out.columns if c.startswith("share_")]
    n_all = [c for c in out.columns if c.startswith("n_") and c not in ("n_excluded",) and not c.endswith(
        "_suppressed")]
    whole = _in(out, ["outcome", "arm"], small) | out["n_suppressed"].to_numpy(dtype=bool)
    out = _hide(out, whole, share_all, ["n", *n_all], kind="primary")
    out = _hide(out, out["arm"].isin(count_post).to_numpy() & ~whole, [], ["n"])
    counts = np.column_stack([pd.to_numeric(rc[f"n_{c}"], errors="coerce").fillna(0).to_numpy() for c in cats])
    n = pd.to_numeric(rc["n"], errors="coerce").fillna(0).to_numpy()
    for i in range(len(out)):
        if whole[i]:
            continue
        tiny = [k for k in range(3) if 0 < counts[i, k] < m]
        if not tiny:
            continue
        out.loc[out.index[i], "small_categories"] = ", ".join(cats[k] for k in tiny)
        hide = set(tiny)
        if len(hide) == 1:
            k = tiny[0]
            # the complement: "unchanged" (keeps the improved share visible), else the other tail
            hide.add(1 if k != 1 else (0 if counts[i, 0] <= counts[i, 2] else 2))
        if sum(counts[i, k] for k in hide) < m:  # the hidden cells' sum (n minus the rest) is small too
            hide = {0, 1, 2}
        for k in sorted(hide):
            c = cats[k]
            tied = [f"share_{c}"] + (["share_reliably_improved"] if c == "improved" else [])
            cnts = [f"n_{c}"] + (["n_reliably_improved"] if c == "improved" else [])
            mask = np.zeros(len(out), dtype=bool)
            mask[i] = True
            out = _hide(out, mask, tied, cnts, kind="primary" if k in tiny else "secondary")
        if hide == {1, 2} and n[i] > 0:
            out.loc[out.index[i], "share_not_improved"] = (counts[i, 1] + counts[i, 2]) / n[i]
        elif hide == {0, 1} and n[i] > 0:
            out.loc[out.index[i], "share_not_deteriorated"] = (counts[i, 0] + counts[i, 1]) / n[i]
    return out


def _protect_moderators(results: StudyResults, m: int, at_post: set[Any]) -> pd.DataFrame:
    mods = _drop_exclusions(results.moderators)
    if mods is None or not len(mods):
        return _flags(mods if mods is not None else pd.DataFrame())
    stats_cols = [c for c in ("estimate", "se", "t", "F", "ci_low", "ci_high", "p") if c in mods.columns]
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
    return _hide(out, bad, stats_cols, kind="primary")


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


_COUNT_PHRASE = re.compile(
    r"\b(?:has|have|with|only|of)\s+(\d+)\s+(complete\s+rows?|rows?|participants?|respondents?|people|cases?|"
    r"observations?|members?)\b", re.I)


def _scrub_counts(notes: pd.DataFrame, m: int) -> pd.DataFrame:
    """Counts of fewer than ``m`` people in a note (\"Group x has 1 complete rows\") read "fewer than m"."""

    def fix(text: Any) -> Any:
        if not isinstance(text, str):
            return text

        def sub(match: re.Match[str]) -> str:
            n = int(match.group(1))
            if n >= m:
                return match.group(0)
            head = match.group(0)[: match.start(1) - match.start(0)]
            noun = re.sub(r"s$", "", match.group(2).split()[-1])
            noun = {"row": "complete rows" if "complete" in match.group(2).lower() else "rows"}.get(noun, noun + "s")
            return f"{head}fewer than {m} {noun}"

        return _COUNT_PHRASE.sub(sub, text)

    out = notes.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = [fix(v) for v in out[c].tolist()]
    return out


def _flow_cells(raw: pd.DataFrame, shown: pd.DataFrame, m: int
                ) -> tuple[set[tuple[Any, Any]], set[Any], set[tuple[Any, Any]]]:
    """(arm, wave) cells that are small, arms whose enrolled/analysed count is small, and
    (arm, wave) cells with any count hidden (small or complement)."""
    from mentor_eval.outcomes.design import ALL_ARMS

    if raw is None or not len(raw) or not len(shown):
        return set(), set(), set()
    cells = raw[raw["arm"] != ALL_ARMS]
    small_wave: set[tuple[Any, Any]] = set()
    small_arm: set[Any] = set()
    for c in ("n_enrolled", "n_assessed", "n_analysed"):
        v = pd.to_numeric(cells[c], errors="coerce").fillna(0)
        tiny = (v > 0) & (v < m)
        small_wave |= _pairs(cells[tiny], "arm", "wave")
        if c != "n_assessed":
            small_arm |= set(cells.loc[tiny, "arm"])
    part = shown[shown["arm"] != ALL_ARMS]
    count_wave = _pairs(part[part["suppressed"].fillna(False).astype(bool)], "arm", "wave")
    return small_wave, small_arm, count_wave


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




_require_protected = require_protected
