"""Reliable and clinically significant change (Jacobson & Truax 1991).

:func:`reliable_change` classifies every participant's pre/post change as reliable improvement,
no reliable change or reliable deterioration with the Reliable Change Index, and — when
functional and/or dysfunctional norms are given — flags recovery (reliable improvement that also
crosses the clinical cut-off). It returns a participant-level and an arm-level table.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mentor_eval._params import check_in_interval, check_one_of
from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes.inputs import pre_post_wide
from mentor_eval.outcomes.results import Result, table_result

__all__ = ["reliable_change", "ReliableChange", "clinical_cutoff", "retest_reliability", "CATEGORIES",
           "RELIABILITY_SOURCES"]

#: Change classes, best first.
CATEGORIES = ("recovered", "improved", "unchanged", "deteriorated")

#: Values of the ``reliability_source`` column, in the order :func:`retest_reliability` tries them.
RELIABILITY_SOURCES = ("published retest", "control arm baseline-post correlation",
                       "within-arm baseline-post correlation", "alpha (internal consistency)", "given")


def _retest_entries(o: Any, spec: Any) -> list[tuple[float, float, float, str]]:
    """``[(value, shortest_weeks, longest_weeks, citation), ...]`` from Retest objects or mappings."""
    if spec is None:
        return []
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    out = []
    for e in items:
        if isinstance(e, Mapping):
            value, iv, cite = e.get("value"), e.get("interval_weeks"), e.get("citation", "")
        else:
            value, iv, cite = getattr(e, "value", None), getattr(e, "interval_weeks", None), \
                getattr(e, "citation", "")
        iv = list(iv) if isinstance(iv, (list, tuple)) else [iv]
        try:
            v, lo, hi = float(value), float(iv[0]), float(iv[-1])
        except (TypeError, ValueError):
            raise ParameterError(
                f"The 'retest' parameter of retest_reliability for outcome {o!r} needs a 'value' and "
                f"'interval_weeks' (a number or [shortest, longest]); got {e!r}."
            ) from None
        if not 0 < v < 1 or not 0 < lo <= hi:
            raise ParameterError(
                f"The 'retest' parameter of retest_reliability for outcome {o!r} must have a value in (0, 1) "
                f"and interval_weeks > 0; got {e!r}."
            )
        out.append((v, lo, hi, str(cite or "")))
    return out


def retest_reliability(
    data: pd.DataFrame,
    outcome: str | Sequence[str] | None = None,
    *,
    retest: Mapping[str, Any] | None = None,
    interval_weeks: float | None = None,
    control: str | None = None,
    alpha: float | Mapping[str, float] | None = None,
    pre: str = "baseline",
    post: str = "post",
    score: str = "score",
    wave: str = "wave",
    arm: str = "arm",
    participant: str = "participant_id",
    outcome_col: str = "outcome",
    min_pairs: int = 20,
) -> pd.DataFrame:
    """The test-retest reliability to use for reliable change, and where it comes from.

    Parameters
    ----------
    data : pandas.DataFrame
        Long analysis frame (``participant``, ``wave``, ``score``, ``arm``, optionally ``outcome``).
    outcome : str or sequence of str, optional
        Outcome(s) (values of the ``outcome`` column); default all.
    retest : mapping, optional
        Outcome -> published retest entries: an :class:`mentor_eval.instruments.Retest`, a mapping
        with ``value``, ``interval_weeks`` (number or ``[shortest, longest]``) and ``citation``, or
        a list of them (one per published interval).
    interval_weeks : float, optional
        Weeks between the study's ``pre`` and ``post`` waves. Without it a published value is not
        checked against the interval.
    control : str, optional
        The control arm, whose baseline-post correlation is the second choice.
    alpha : float or mapping, optional
        Internal consistency (outcome -> alpha), the last resort.
    pre, post, score, wave, arm, participant, outcome_col : str
        Wave labels and column names.
    min_pairs : int, default 20
        Complete pairs needed to use the control arm's (or, without a control arm, the
        within-arm) correlation.

    Returns
    -------
    pandas.DataFrame
        One row per outcome: ``outcome``, ``reliability`` (the value to use; NaN when none),
        ``reliability_source`` (one of :data:`RELIABILITY_SOURCES`, or ``"none"``),
        ``reliability_detail`` (citation and interval, or the control pairs), ``n_pairs`` (complete
        pairs behind a correlation; 0 when none was used).

    Notes
    -----
    Order of preference, per outcome:

    1. a published retest whose interval is comparable to the study's: ``interval_weeks`` within
       [shortest / 2, longest x 2] of the published interval (the entry nearest the study's
       interval when several qualify; any entry when ``interval_weeks`` is not given);
    2. the Pearson correlation of ``pre`` and ``post`` scores in the control arm (at least
       ``min_pairs`` complete pairs and 0 < r < 1): a retest over exactly the study's interval in
       people who received no program (so a person's true change in the control arm counts as
       error, as it should for a "reliable change" claim);
    3. with no control arm (``control=None``: a single-arm study, or arms without one), the
       baseline-post correlation within arms (arm means removed; at least ``min_pairs`` pairs):
       a retest over the study's interval in participants who received the program. Differences
       in how much people gained lower it, so the index it gives is conservative (fewer people
       classed reliably changed), never liberal -- unlike alpha;
    4. ``alpha``, with a :class:`UserWarning`: internal consistency overstates the retest
       reliability when the trait itself varies over time, so too many people look "reliably
       changed" (Maassen 2004).

    References
    ----------
    Jacobson, N. S. & Truax, P. (1991). J. Consult. Clin. Psychol. 59(1), 12-19.
    Maassen, G. H. (2004). The standard error in the Jacobson and Truax Reliable Change Index: the
    classical approach to the assessment of reliable change. J. Clin. Exp. Neuropsychol. 26(7), 888-893.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"participant_id": ["a", "a"], "arm": "nw", "wave": ["baseline", "post"],
    ...                    "score": [20.0, 30.0], "outcome": "ahs.total"})
    >>> r = retest_reliability(df, retest={"ahs.total": {"value": 0.8, "interval_weeks": [3, 10]}},
    ...                        interval_weeks=8)
    >>> float(r["reliability"].iloc[0]), r["reliability_source"].iloc[0]
    (0.8, 'published retest')
    """
    func = "retest_reliability"
    if interval_weeks is not None:
        interval_weeks = check_in_interval(func, "interval_weeks", interval_weeks, 0, np.inf)
    if retest is not None and not isinstance(retest, Mapping):
        raise ParameterError(f"The 'retest' parameter of {func} must be a mapping outcome -> retest entries; "
                             f"got {type(retest).__name__}.")
    wide, keys = pre_post_wide(
        func, data, outcome, pre=pre, post=post, score=score, wave=wave, arm=arm, participant=participant,
        outcome_col=outcome_col,
    )
    outcomes = list(pd.unique(wide["outcome"])) if keys else [None]
    if control is not None and control not in set(wide["arm"].dropna()):
        raise ParameterError(f"The 'control' parameter of {func} names arm {control!r}, which is not in the data.")
    if isinstance(alpha, Mapping):
        alphas = {o: alpha.get(o) for o in outcomes}
    else:
        alphas = dict.fromkeys(outcomes, alpha)
    rows = []
    for o in outcomes:
        row: dict[str, Any] = {"outcome": o, "reliability": np.nan, "reliability_source": "none",
                               "reliability_detail": "", "n_pairs": 0}
        entries = _retest_entries(o, (retest or {}).get(o))
        if interval_weeks is not None:
            entries = [e for e in entries if e[1] / 2 <= interval_weeks <= 2 * e[2]]
            entries.sort(key=lambda e: min(abs(interval_weeks - e[1]), abs(interval_weeks - e[2])))
        if entries:
            v, lo, hi, cite = entries[0]
            weeks = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
            row.update(reliability=v, reliability_source=RELIABILITY_SOURCES[0],
                       reliability_detail=f"{cite} (retest over {weeks} weeks)".strip())
            rows.append(row)
            continue
        if control is not None:
            sel = wide["arm"] == control
            if keys:
                sel &= wide["outcome"] == o
            pair = wide.loc[sel, ["pre", "post"]].dropna()
            if len(pair) >= min_pairs and pair["pre"].std() > 0 and pair["post"].std() > 0:
                r = float(np.corrcoef(pair["pre"], pair["post"])[0, 1])
                if 0 < r < 1:
                    row.update(reliability=r, reliability_source=RELIABILITY_SOURCES[1], n_pairs=len(pair),
                               reliability_detail=f"{control!r} arm, {len(pair)} complete {pre}-{post} pairs")
                    rows.append(row)
                    continue
        if control is None:
            sel = wide["outcome"] == o if keys else np.ones(len(wide), dtype=bool)
            pair = wide.loc[sel, ["arm", "pre", "post"]].dropna()
            r = _within_arm_r(pair) if len(pair) >= min_pairs else np.nan
            if 0 < r < 1:
                n_arms = pair["arm"].nunique()
                row.update(reliability=r, reliability_source=RELIABILITY_SOURCES[2], n_pairs=len(pair),
                           reliability_detail=(f"{len(pair)} complete {pre}-{post} pairs"
                                               + (f" pooled within {n_arms} arms" if n_arms > 1 else "")
                                               + "; conservative when the program's benefit varies"))
                rows.append(row)
                continue
        a = alphas.get(o)
        if a is not None and np.isfinite(a) and 0 < a < 1:
            label = f" for outcome {o!r}" if o is not None else ""
            warnings.warn(
                f"{func}: no published retest reliability for this interval and no usable control arm{label}; "
                f"using internal consistency (alpha = {a:.3f}), which overstates retest reliability, so more "
                "participants look reliably changed than truly are.", UserWarning, stacklevel=2)
            row.update(reliability=float(a), reliability_source=RELIABILITY_SOURCES[3],
                       reliability_detail="internal consistency; overstates retest reliability")
        rows.append(row)
    out = pd.DataFrame(rows)
    return table_result(out if keys else out.drop(columns="outcome"), title="Test-retest reliability for reliable change",
                            method="published retest over a comparable interval, else the control arm's baseline-post correlation, else alpha")


def _within_arm_r(pair: pd.DataFrame) -> float:
    """Pearson correlation of pre and post after removing each arm's means."""
    pre = pair["pre"] - pair.groupby("arm")["pre"].transform("mean")
    post = pair["post"] - pair.groupby("arm")["post"].transform("mean")
    den = float(np.sqrt((pre**2).sum() * (post**2).sum()))
    return float((pre * post).sum()) / den if den > 0 else np.nan


@dataclass(frozen=True)
class ReliableChange(Result):
    """Result of :func:`reliable_change`.

    Attributes
    ----------
    participants : pandas.DataFrame
        One row per participant (and outcome): ``outcome`` (when present), ``participant_id``,
        ``arm``, ``pre``, ``post``, ``change`` (post - pre), ``rci``, ``category`` (ordered
        categorical: recovered, improved, unchanged, deteriorated; missing when the participant
        lacks a pre or post score) and ``functional_post`` (post score on the functional side of
        the cut-off; only when a cut-off applies).
    by_arm : pandas.DataFrame
        One row per (outcome,) arm (this table was called ``summary`` before ``summary()`` became
        the printable overview every result has): ``n`` (complete pairs classified), ``n_excluded`` (participants
        without both scores), ``n_improved``, ``n_unchanged``, ``n_deteriorated``,
        ``n_reliably_improved`` (improved + recovered) and ``share_*`` (counts / ``n``) for each;
        ``n_recovered`` and ``share_recovered`` when a cut-off applies.
    parameters : pandas.DataFrame
        One row per outcome: ``reliability``, ``reliability_source`` (see
        :data:`RELIABILITY_SOURCES`), ``reliability_detail`` (citation and interval, or control
        pairs), ``sd_pre``, ``sd_pre_source``, ``n_sd_pre``, ``sem``, ``s_diff``, ``critical``,
        ``higher_is_better``, ``cutoff``, ``cutoff_kind``.

    The object unpacks as ``participants, by_arm = result``. ``method`` states the index and
    critical value, ``notes`` where each outcome's reliability came from, and ``summary()`` shows
    ``by_arm``.
    """

    title: ClassVar[str] = "Reliable change (Jacobson-Truax)"
    headline: ClassVar[str] = "by_arm"

    participants: pd.DataFrame
    by_arm: pd.DataFrame
    parameters: pd.DataFrame

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter((self.participants, self.by_arm))

    @property
    def method(self) -> str:
        crit = self.parameters["critical"].iloc[0] if len(self.parameters) else 1.96
        return f"Jacobson-Truax reliable change index, |RCI| > {crit:g} is reliable change"

    @property
    def notes(self) -> tuple[str, ...]:
        out = []
        for _, r in self.parameters.iterrows():
            who = f"{r['outcome']}: " if "outcome" in self.parameters.columns else ""
            detail = f" ({r['reliability_detail']})" if r.get("reliability_detail") else ""
            out.append(f"{who}reliability {r['reliability']:.3f} from {r['reliability_source']}{detail}")
        return tuple(out)


def _norm_pair(func: str, name: str, value) -> tuple[float, float]:
    try:
        m, s = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"The '{name}' parameter of {func} must be a (mean, sd) pair of numbers; got {value!r}."
        ) from None
    if not np.isfinite(m) or not np.isfinite(s) or s <= 0:
        raise ParameterError(
            f"The '{name}' parameter of {func} must be a (mean, sd) pair with a finite mean and sd > 0; "
            f"got {value!r}."
        )
    return m, s


def clinical_cutoff(
    kind: str,
    *,
    functional: tuple[float, float] | None = None,
    dysfunctional: tuple[float, float] | None = None,
    higher_is_better: bool = True,
) -> float:
    """Jacobson–Truax clinical cut-off *a*, *b* or *c*.

    Parameters
    ----------
    kind : {"a", "b", "c"}
        ``a``: two SDs beyond the dysfunctional mean, towards health (needs ``dysfunctional``);
        ``b``: two SDs from the functional mean, towards dysfunction (needs ``functional``);
        ``c``: the point between the two means weighted by the SDs (needs both).
    functional, dysfunctional : (mean, sd)
        Norms of the functional (healthy) and dysfunctional populations.
    higher_is_better : bool
        Direction of the scale.

    Returns
    -------
    float

    Notes
    -----
    Higher is better: :math:`a = M_{dys} + 2 SD_{dys}`, :math:`b = M_{fun} - 2 SD_{fun}`;
    lower is better: :math:`a = M_{dys} - 2 SD_{dys}`, :math:`b = M_{fun} + 2 SD_{fun}`;
    both: :math:`c = (SD_{dys} M_{fun} + SD_{fun} M_{dys})/(SD_{dys} + SD_{fun})`.

    Examples
    --------
    >>> clinical_cutoff("c", functional=(40, 5), dysfunctional=(30, 5))
    35.0
    """
    func = "clinical_cutoff"
    check_one_of(func, "kind", kind, ("a", "b", "c"))
    sign = 1.0 if higher_is_better else -1.0
    if kind in ("a", "c") and dysfunctional is None:
        raise ParameterError(f"Cut-off {kind!r} needs the dysfunctional (mean, sd) norms.")
    if kind in ("b", "c") and functional is None:
        raise ParameterError(f"Cut-off {kind!r} needs the functional (mean, sd) norms.")
    if kind == "a":
        m, s = _norm_pair(func, "dysfunctional", dysfunctional)
        return m + sign * 2 * s
    if kind == "b":
        m, s = _norm_pair(func, "functional", functional)
        return m - sign * 2 * s
    mf, sf = _norm_pair(func, "functional", functional)
    md, sd = _norm_pair(func, "dysfunctional", dysfunctional)
    return (sd * mf + sf * md) / (sd + sf)


def _per_outcome(func: str, name: str, value, outcomes: list, *, low: float, high: float) -> dict:
    if value is None:
        return dict.fromkeys(outcomes)
    if isinstance(value, Mapping):
        missing = [o for o in outcomes if o not in value]
        if missing:
            raise ParameterError(
                f"The '{name}' parameter of {func} has no value for outcome(s) {', '.join(map(repr, missing))}."
            )
        return {o: check_in_interval(func, name, value[o], low, high) for o in outcomes}
    if len(outcomes) > 1:
        raise ParameterError(
            f"The '{name}' parameter of {func} is a single number but the data hold {len(outcomes)} outcomes; "
            "give a mapping {outcome: value} (each instrument has its own value) or select one outcome."
        )
    return {outcomes[0]: check_in_interval(func, name, value, low, high)}


def reliable_change(
    data: pd.DataFrame,
    outcome: str | Sequence[str] | None = None,
    *,
    reliability: float | Mapping[str, float] | str = "auto",
    retest: Mapping[str, Any] | None = None,
    interval_weeks: float | None = None,
    control: str | None = None,
    alpha: float | Mapping[str, float] | None = None,
    sd_pre: float | Mapping[str, float] | None = None,
    pre: str = "baseline",
    post: str = "post",
    score: str = "score",
    wave: str = "wave",
    arm: str = "arm",
    participant: str = "participant_id",
    outcome_col: str = "outcome",
    higher_is_better: bool = True,
    cutoff: str | float | None = None,
    functional: tuple[float, float] | None = None,
    dysfunctional: tuple[float, float] | str | None = None,
    critical: float = 1.96,
) -> ReliableChange:
    """Jacobson–Truax Reliable Change Index and clinical significance, per participant and arm.

    Parameters
    ----------
    data : pandas.DataFrame
        Long analysis frame (``participant``, ``wave``, ``score``, ``arm``, optionally ``outcome``).
    outcome : str or sequence of str, optional
        Outcome(s) to analyse (values of the ``outcome`` column); default all.
    reliability : float, mapping or "auto", default "auto"
        Reliability :math:`r_{xx}` in (0, 1) of the score, or a mapping ``{outcome: r}`` when
        several outcomes are analysed (``reliability_source`` "given"). ``"auto"``: chosen per
        outcome by :func:`retest_reliability` from ``retest``, ``interval_weeks``, ``control`` and
        ``alpha`` (published retest over a comparable interval, else the control arm's
        baseline-post correlation, else -- no control arm -- the within-arm one, else alpha with
        a warning).
    retest, interval_weeks, control, alpha
        Passed to :func:`retest_reliability` when ``reliability="auto"``.
    sd_pre : float or mapping, optional
        Baseline SD used for the standard error of measurement. Default: the sample SD
        (n - 1 denominator) of the baseline scores of every participant with a baseline score,
        all arms pooled into one sample (whether or not they have a post score).
    pre, post : str
        Wave labels.
    score, wave, arm, participant, outcome_col : str
        Column names.
    higher_is_better : bool
        Direction of the scale: whether an increase is an improvement.
    cutoff : {"a", "b", "c"} or float, optional
        Clinical cut-off: a Jacobson–Truax criterion computed from the norms (see
        :func:`clinical_cutoff`) or a number. When ``None``: ``"c"`` if both norms are given,
        ``"a"`` if only ``dysfunctional``, ``"b"`` if only ``functional``, else no cut-off.
    functional, dysfunctional : (mean, sd), optional
        Norms of the functional and dysfunctional populations. ``dysfunctional="sample"`` uses the
        baseline mean and SD of this sample (as Jacobson & Truax did for a treated sample).
    critical : float
        Critical value for |RCI| (1.96 for two-sided 95 %).

    Returns
    -------
    ReliableChange
        Frozen dataclass with ``participants``, ``by_arm`` and ``parameters`` frames (columns
        described in :class:`ReliableChange`); unpacks as ``participants, by_arm``.

    Notes
    -----
    :math:`SE_m = SD_{pre}\\sqrt{1 - r_{xx}}`, :math:`S_{diff} = \\sqrt{2 SE_m^2}`,
    :math:`RCI = (post - pre)/S_{diff}`. With higher scores better, ``RCI > critical`` is a reliable
    improvement and ``RCI < -critical`` a reliable deterioration (signs swap when lower is better);
    the boundary itself counts as unchanged (strict inequality, as "|RCI| > 1.96").
    Classes are mutually exclusive: *recovered* = reliable improvement, baseline on the
    dysfunctional side of the cut-off (at or below it when higher is better) and post-test on the
    functional side (strictly above it); *improved* = any other reliable improvement;
    *unchanged*; *deteriorated*. Without a cut-off nobody is classed *recovered*.

    Missing-data policy: participants without both scores are listed with a missing ``rci`` and
    ``category`` and counted in ``by_arm``'s ``n_excluded``; they still contribute their baseline
    score to the default ``sd_pre``.

    References
    ----------
    Jacobson, N. S. & Truax, P. (1991). Clinical significance: a statistical approach to defining
    meaningful change in psychotherapy research. J. Consult. Clin. Psychol. 59(1), 12–19.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"participant_id": ["a", "a", "b", "b"], "arm": "nw",
    ...                    "wave": ["baseline", "post"] * 2, "score": [20.0, 30.0, 25.0, 26.0]})
    >>> res = reliable_change(df, reliability=0.8, sd_pre=5.0)
    >>> res.participants["category"].tolist()
    ['improved', 'unchanged']
    """
    func = "reliable_change"
    crit = check_in_interval(func, "critical", critical, 0, np.inf)
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise ParameterError(f"The 'higher_is_better' parameter of {func} must be True or False; got "
                             f"{higher_is_better!r}.")
    wide, keys = pre_post_wide(
        func, data, outcome, pre=pre, post=post, score=score, wave=wave, arm=arm, participant=participant,
        outcome_col=outcome_col,
    )
    outcomes = list(pd.unique(wide["outcome"])) if keys else [None]
    if isinstance(reliability, str):
        check_one_of(func, "reliability", reliability, ("auto",))
        chosen = retest_reliability(data, outcome, retest=retest, interval_weeks=interval_weeks, control=control,
                                    alpha=alpha, pre=pre, post=post, score=score, wave=wave, arm=arm,
                                    participant=participant, outcome_col=outcome_col)
        if not keys:
            chosen = chosen.assign(outcome=None)
        chosen = chosen.set_index("outcome")
        missing = [o for o in outcomes if not np.isfinite(chosen.loc[o, "reliability"])]
        if missing:
            label = f" for outcome {missing[0]!r}" if missing[0] is not None else ""
            raise AnalysisError(
                f"{func}: no reliability{label}: no published retest for this interval, no control arm with "
                "enough complete baseline-post pairs and no alpha. Pass 'reliability' explicitly.")
        rel = {o: float(chosen.loc[o, "reliability"]) for o in outcomes}
        rel_source = {o: str(chosen.loc[o, "reliability_source"]) for o in outcomes}
        rel_detail = {o: str(chosen.loc[o, "reliability_detail"]) for o in outcomes}
    else:
        rel = _per_outcome(func, "reliability", reliability, outcomes, low=0, high=1)
        rel_source = dict.fromkeys(outcomes, "given")
        rel_detail = dict.fromkeys(outcomes, "")
    sdp_given = _per_outcome(func, "sd_pre", sd_pre, outcomes, low=0, high=np.inf)

    # cut-off
    if isinstance(dysfunctional, str) and dysfunctional != "sample":
        raise ParameterError(
            f"The 'dysfunctional' parameter of {func} must be a (mean, sd) pair or 'sample'; got {dysfunctional!r}."
        )
    if cutoff is None:
        if functional is not None and dysfunctional is not None:
            cutoff_kind = "c"
        elif dysfunctional is not None:
            cutoff_kind = "a"
        elif functional is not None:
            cutoff_kind = "b"
        else:
            cutoff_kind = None
    elif isinstance(cutoff, str):
        cutoff_kind = check_one_of(func, "cutoff", cutoff, ("a", "b", "c"))
    else:
        try:
            cut_value = float(cutoff)
        except (TypeError, ValueError):
            raise ParameterError(
                f"The 'cutoff' parameter of {func} must be 'a', 'b', 'c' or a number; got {cutoff!r}."
            ) from None
        if not np.isfinite(cut_value):
            raise ParameterError(f"The 'cutoff' parameter of {func} must be finite; got {cutoff!r}.")
        cutoff_kind = "value"
    if cutoff_kind is not None and len(outcomes) > 1:
        raise ParameterError(
            f"{func}: clinical cut-offs are specific to one instrument; the data hold {len(outcomes)} "
            "outcomes. Select one with the 'outcome' parameter."
        )

    okey = wide["outcome"] if keys else pd.Series("_all", index=wide.index, dtype=object)
    has_pre = np.isfinite(wide["pre"].to_numpy())
    base_stats = (
        pd.DataFrame({"o": okey.to_numpy(dtype=object), "pre": wide["pre"].to_numpy()})[has_pre]
        .groupby("o", dropna=False, sort=False)["pre"]
        .agg(["mean", "std", "count"])
    )
    rows = []
    for o in outcomes:  # one iteration per outcome, not per participant
        bkey = o if keys else "_all"
        if bkey in base_stats.index:
            b_mean, b_sd, b_n = base_stats.loc[bkey, ["mean", "std", "count"]]
        else:
            b_mean, b_sd, b_n = np.nan, np.nan, 0
        if sdp_given[o] is None:
            if not b_n >= 2 or not np.isfinite(b_sd) or b_sd <= 0:
                label = f" for outcome {o!r}" if o is not None else ""
                raise AnalysisError(
                    f"{func}: cannot compute the baseline SD{label}: it needs at least 2 baseline scores "
                    f"that vary (got {int(b_n)}). Pass 'sd_pre' (e.g. the instrument's published SD)."
                )
            sdp, source = float(b_sd), "sample (all arms pooled)"
        else:
            sdp, source = float(sdp_given[o]), "given"
        sem = sdp * np.sqrt(1 - rel[o])
        cut = np.nan
        if cutoff_kind == "value":
            cut = cut_value
        elif cutoff_kind is not None:
            dys = (b_mean, b_sd) if isinstance(dysfunctional, str) else dysfunctional
            if isinstance(dysfunctional, str) and not (b_n >= 2 and b_sd > 0):
                raise AnalysisError(f"{func}: dysfunctional='sample' needs at least 2 varying baseline scores.")
            cut = clinical_cutoff(cutoff_kind, functional=functional, dysfunctional=dys,
                                  higher_is_better=bool(higher_is_better))
        rows.append(
            {
                **({"outcome": o} if keys else {}),
                "reliability": rel[o],
                "reliability_source": rel_source[o],
                "reliability_detail": rel_detail[o],
                "sd_pre": sdp,
                "sd_pre_source": source,
                "n_sd_pre": int(b_n),
                "sem": sem,
                "s_diff": np.sqrt(2 * sem**2),
                "critical": crit,
                "higher_is_better": bool(higher_is_better),
                "cutoff": cut,
                "cutoff_kind": cutoff_kind,
            }
        )
    params = pd.DataFrame(rows)

    if keys:
        s_diff = wide["outcome"].map(params.set_index("outcome")["s_diff"]).to_numpy(float)
    else:
        s_diff = np.full(len(wide), params["s_diff"].iloc[0])
    parts = wide[[*keys, "participant_id", "arm", "pre", "post"]].copy()
    parts["change"] = parts["post"] - parts["pre"]
    rci = parts["change"].to_numpy(float) / s_diff
    parts["rci"] = rci
    sign = 1.0 if higher_is_better else -1.0
    complete = np.isfinite(rci)
    better = sign * rci > crit
    worse = sign * rci < -crit
    cat = np.full(len(parts), "unchanged", dtype=object)
    cat[better] = "improved"
    cat[worse] = "deteriorated"
    has_cut = cutoff_kind is not None
    if has_cut:
        cut = float(params["cutoff"].iloc[0])
        post_functional = sign * (parts["post"].to_numpy(float) - cut) > 0
        pre_dysfunctional = sign * (parts["pre"].to_numpy(float) - cut) <= 0
        cat[better & post_functional & pre_dysfunctional] = "recovered"
        parts["functional_post"] = pd.array(np.where(np.isfinite(parts["post"]), post_functional, None),
                                            dtype="boolean")
    cat[~complete] = None
    parts["category"] = pd.Categorical(cat, categories=list(CATEGORIES), ordered=True)

    gkeys = [*keys, "arm"]
    counts = pd.crosstab(
        [parts.loc[complete, k] for k in gkeys], parts.loc[complete, "category"], dropna=False
    ).reindex(columns=list(CATEGORIES), fill_value=0)
    all_groups = parts.groupby(gkeys, sort=True).size().index
    counts = counts.reindex(all_groups, fill_value=0)
    summary = pd.DataFrame(index=all_groups)
    summary["n"] = counts.sum(axis=1).astype(int)
    summary["n_excluded"] = (~pd.Series(complete, index=parts.index)).groupby(
        [parts[k] for k in gkeys], sort=True
    ).sum().reindex(all_groups).astype(int)
    if has_cut:
        summary["n_recovered"] = counts["recovered"].astype(int)
    summary["n_improved"] = counts["improved"].astype(int)
    summary["n_unchanged"] = counts["unchanged"].astype(int)
    summary["n_deteriorated"] = counts["deteriorated"].astype(int)
    summary["n_reliably_improved"] = (counts["improved"] + counts["recovered"]).astype(int)
    denom = summary["n"].where(summary["n"] > 0)
    for c in [c for c in summary.columns if c.startswith("n_") and c != "n_excluded"]:
        summary["share_" + c[2:]] = summary[c] / denom
    if not complete.any():
        raise AnalysisError(
            f"{func}: nobody has both a {pre!r} and a {post!r} score; reliable change cannot be computed."
        )
    return ReliableChange(
        participants=parts.reset_index(drop=True), by_arm=summary.reset_index(), parameters=params
    )
