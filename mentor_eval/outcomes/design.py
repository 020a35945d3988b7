"""Design checks a funder report states before any outcome: participant flow, attrition against
the What Works Clearinghouse (WWC) boundary, and baseline equivalence between arms.

All three read the project's public tables: ``participants`` (one row per enrolled participant,
with its arm) and either ``responses`` (one row per participant x wave with item columns),
``scores`` (tidy long) or the analysis frame (anything with ``participant_id``, ``wave`` and
``score``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval._params import check_columns, check_one_of
from mentor_eval.errors import DataValidationError, ParameterError
from mentor_eval.outcomes.inputs import levels as _arm_order
from mentor_eval.outcomes.results import table_result
from mentor_eval.outcomes.wwc import boundary_note, classify_attrition, max_differential_attrition

__all__ = ["participant_flow", "attrition", "baseline_equivalence"]

# Columns of responses / scores / analysis frames that never hold an answer or a score.
_NOT_VALUES = frozenset(
    {
        "participant_id", "wave", "arm", "completed_at", "site_id", "mentor_id", "group_id",
        "instrument", "scale", "outcome", "n_answered", "n_items", "prorated", "source_row",
    }
)  # fmt: skip

ALL_ARMS = "all"

# WWC baseline-equivalence thresholds on |g| (Standards Handbook v4.1, Section II.D).
_SATISFIES = 0.05
_ADJUSTABLE = 0.25
# Cox (1970) logit-to-d scaling used by the WWC.
_COX_SCALE = 1.65


# --------------------------------------------------------------------------- shared helpers


def _check_participants(func: str, participants: pd.DataFrame, participant: str, arm: str) -> pd.DataFrame:
    check_columns(func, participants, [participant, arm], what="participants")
    ids = participants[participant]
    if ids.isna().any():
        raise DataValidationError(
            f"{func}: {int(ids.isna().sum())} row(s) of participants have no '{participant}'; "
            "every enrolled participant needs an id."
        )
    dup = ids[ids.duplicated()]
    if len(dup):
        shown = ", ".join(map(repr, pd.unique(dup)[:5]))
        raise DataValidationError(
            f"{func}: participants must have one row per participant, but '{participant}' repeats "
            f"({len(dup)} duplicate row(s), e.g. {shown})."
        )
    no_arm = participants[arm].isna()
    if no_arm.any():
        shown = ", ".join(map(repr, ids[no_arm].head(5)))
        raise DataValidationError(
            f"{func}: {int(no_arm.sum())} participant(s) have no '{arm}' (e.g. {shown}); assign every "
            "enrolled participant to an arm before counting flow or attrition."
        )
    if (participants[arm].astype(str) == ALL_ARMS).any():
        raise DataValidationError(
            f"{func}: an arm is named {ALL_ARMS!r}, which is reserved for the all-arms total rows; "
            "rename that arm."
        )
    return participants[[participant, arm]]


def _value_columns(
    func: str, frame: pd.DataFrame, participant: str, wave: str, arm: str, items: Sequence[str] | None
) -> list[str]:
    if items is not None:
        items = [items] if isinstance(items, str) else list(items)
        if not items:
            raise ParameterError(f"The 'items' parameter of {func} must name at least one column; got [].")
        check_columns(func, frame, items, what="responses_or_scores")
        return items
    if "score" in frame.columns:
        return ["score"]
    skip = _NOT_VALUES | {participant, wave, arm}
    cols = [c for c in frame.columns if c not in skip]
    if not cols:
        raise DataValidationError(
            f"{func}: responses_or_scores has no item or 'score' column, so nobody can be counted as assessed; "
            f"its columns are: {', '.join(map(str, frame.columns))}."
        )
    return cols


def _assessed_pairs(
    func: str,
    frame: pd.DataFrame,
    enrolled: pd.DataFrame,
    *,
    participant: str,
    wave: str,
    arm: str,
    waves: Sequence[Any],
    items: Sequence[str] | None,
) -> pd.DataFrame:
    """Unique (participant, wave) pairs with at least one non-missing value, at the given waves."""
    check_columns(func, frame, [participant, wave], what="responses_or_scores")
    unknown = ~frame[participant].isin(enrolled[participant])
    if unknown.any():
        shown = ", ".join(map(repr, pd.unique(frame.loc[unknown, participant])[:5]))
        raise DataValidationError(
            f"{func}: {int(unknown.sum())} row(s) of responses_or_scores belong to participants who are "
            f"not in the participants table (e.g. {shown}); add them to participants or remove the rows."
        )
    present = set(pd.unique(frame[wave].dropna()))
    if not any(w in present for w in waves):
        raise DataValidationError(
            f"{func}: none of the waves {list(waves)!r} occurs in the '{wave}' column of "
            f"responses_or_scores, which holds {sorted(map(str, present))!r}."
        )
    cols = _value_columns(func, frame, participant, wave, arm, items)
    answered = frame[cols].notna().any(axis=1) & frame[wave].isin(list(waves))
    return frame.loc[answered, [participant, wave]].drop_duplicates()


def _analysed_ids(
    func: str,
    analysed: Any,
    participants: pd.DataFrame,
    enrolled: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    participant: str,
    wave: str,
    first: Any,
    last: Any,
) -> pd.Index:
    if analysed is None:
        at_first = pairs.loc[pairs[wave] == first, participant]
        at_last = pairs.loc[pairs[wave] == last, participant]
        return pd.Index(pd.unique(at_first[at_first.isin(at_last)]))
    if isinstance(analysed, str):
        if analysed not in participants.columns:
            raise ParameterError(
                f"The 'analysed' parameter of {func} must be a set of participant ids, a boolean Series "
                f"indexed by participant id, or the name of a boolean column of participants; got "
                f"{analysed!r}, which is not a column of participants."
            )
        flags = participants[analysed]
        if not pd.api.types.is_bool_dtype(flags.dtype) or flags.isna().any():
            raise DataValidationError(
                f"{func}: the analysed-flag column {analysed!r} must hold True/False for every participant."
            )
        return pd.Index(participants.loc[flags.to_numpy(dtype=bool), participant])
    if isinstance(analysed, pd.Series) and pd.api.types.is_bool_dtype(analysed.dtype):
        if analysed.isna().any():
            raise DataValidationError(f"{func}: the 'analysed' flags contain missing values.")
        ids = pd.Index(analysed.index[analysed.to_numpy(dtype=bool)])
    else:
        ids = pd.Index(pd.unique(pd.Series(list(analysed))))
    outside = ids[~ids.isin(enrolled[participant])]
    if len(outside):
        shown = ", ".join(map(repr, list(outside[:5])))
        raise DataValidationError(
            f"{func}: {len(outside)} analysed participant id(s) are not in the participants table "
            f"(e.g. {shown})."
        )
    return ids


def _check_waves(func: str, waves: Any) -> list[Any]:
    if isinstance(waves, str) or not isinstance(waves, Iterable):
        raise ParameterError(
            f"The 'waves' parameter of {func} must be a list of wave labels in time order; got {waves!r}."
        )
    waves = list(waves)
    if not waves:
        raise ParameterError(f"The 'waves' parameter of {func} must list at least one wave; got [].")
    if len(set(waves)) != len(waves):
        raise ParameterError(f"The 'waves' parameter of {func} lists a wave twice: {waves!r}.")
    return waves


# --------------------------------------------------------------------------- participant flow


def participant_flow(
    participants: pd.DataFrame,
    responses_or_scores: pd.DataFrame,
    *,
    waves: Sequence[Any],
    arm: str = "arm",
    participant: str = "participant_id",
    wave: str = "wave",
    analysed: Iterable[Any] | pd.Series | None = None,
    items: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Count enrolled, assessed and analysed participants per arm and wave (CONSORT flow).

    Parameters
    ----------
    participants : pandas.DataFrame
        One row per enrolled (randomized) participant, with ``participant`` and ``arm`` columns.
    responses_or_scores : pandas.DataFrame
        Responses (one row per participant x wave, item columns), tidy scores or the analysis
        frame; needs ``participant`` and ``wave`` columns.
    waves : sequence
        Wave labels in time order. The first and last define the default analysed sample.
    arm, participant, wave : str
        Column names.
    analysed : iterable of ids, boolean Series indexed by id, or column name, optional
        The analysed sample: ids, True/False flags by id, or the name of a boolean column of
        ``participants``. Default: participants assessed at both the first and last wave.
    items : sequence of str, optional
        Columns whose non-missing values count as "assessed". Default: ``score`` when present,
        otherwise every column except ids, wave, arm and known metadata (``completed_at``,
        ``site_id``, ``mentor_id``, ``group_id``, ``instrument``, ``scale``, ``outcome``,
        ``n_answered``, ``n_items``, ``prorated``).

    Returns
    -------
    pandas.DataFrame
        One row per arm x wave (arms sorted, or in categorical order; waves as given), then one
        row per wave with ``arm == "all"`` totalling the arms:

        - ``arm``, ``wave``: keys.
        - ``n_enrolled``: participants enrolled in the arm.
        - ``n_assessed``: enrolled participants with at least one non-missing item (or score)
          at the wave.
        - ``pct_assessed``: ``100 * n_assessed / n_enrolled``.
        - ``n_analysed``: participants of the arm in the analysed sample. This is a
          participant-level count, the same on every wave row of the arm.
        - ``pct_analysed``: ``100 * n_analysed / n_enrolled``.

    Notes
    -----
    A participant counts as assessed at a wave when any listed column holds a value in any of
    their rows at that wave (rows of several instruments or outcomes are pooled). Rows at waves
    not listed in ``waves`` are ignored. Rows of participants missing from ``participants`` are
    an error (they cannot be placed in an arm), as are participants without an arm.

    References
    ----------
    Schulz, K. F., Altman, D. G., & Moher, D. (2010). CONSORT 2010 statement. BMJ, 340, c332.

    Examples
    --------
    >>> import pandas as pd
    >>> people = pd.DataFrame({"participant_id": ["a", "b", "c"], "arm": ["ctrl", "nw", "nw"]})
    >>> scores = pd.DataFrame({"participant_id": ["a", "b", "c", "a", "b"],
    ...                        "wave": ["pre", "pre", "pre", "post", "post"],
    ...                        "score": [3.0, 4.0, 2.0, 3.5, None]})
    >>> participant_flow(people, scores, waves=["pre", "post"])[["arm", "wave", "n_assessed", "n_analysed"]]
        arm  wave  n_assessed  n_analysed
    0  ctrl   pre           1           1
    1  ctrl  post           1           1
    2    nw   pre           2           0
    3    nw  post           0           0
    4   all   pre           3           1
    5   all  post           1           1
    """
    func = "participant_flow"
    waves = _check_waves(func, waves)
    enrolled = _check_participants(func, participants, participant, arm)
    pairs = _assessed_pairs(
        func, responses_or_scores, enrolled, participant=participant, wave=wave, arm=arm, waves=waves,
        items=items,
    )
    ids = _analysed_ids(
        func, analysed, participants, enrolled, pairs, participant=participant, wave=wave, first=waves[0], last=waves[-1]
    )
    arms = _arm_order(enrolled[arm])
    arm_of = enrolled.set_index(participant)[arm]

    n_enrolled = enrolled[arm].value_counts().reindex(arms, fill_value=0)
    n_analysed = arm_of.loc[ids].value_counts().reindex(arms, fill_value=0)
    assessed = (
        pd.DataFrame({"arm": arm_of.loc[pairs[participant]].to_numpy(), "wave": pairs[wave].to_numpy()})
        .groupby(["arm", "wave"], sort=False)
        .size()
    )
    grid = pd.MultiIndex.from_product([arms, waves], names=["arm", "wave"])
    n_assessed = assessed.reindex(grid, fill_value=0).to_numpy()

    per_arm = pd.DataFrame(
        {
            "arm": grid.get_level_values("arm"),
            "wave": grid.get_level_values("wave"),
            "n_enrolled": np.repeat(n_enrolled.to_numpy(), len(waves)),
            "n_assessed": n_assessed,
            "n_analysed": np.repeat(n_analysed.to_numpy(), len(waves)),
        }
    )
    totals = per_arm.groupby("wave", sort=False)[["n_enrolled", "n_assessed", "n_analysed"]].sum()
    totals = totals.reindex(waves).reset_index().assign(arm=ALL_ARMS)
    out = pd.concat([per_arm, totals[per_arm.columns]], ignore_index=True)
    out["arm"] = out["arm"].astype(object)
    for col in ("n_enrolled", "n_assessed", "n_analysed"):
        out[col] = out[col].astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["pct_assessed"] = 100.0 * out["n_assessed"] / out["n_enrolled"]
        out["pct_analysed"] = 100.0 * out["n_analysed"] / out["n_enrolled"]
    return table_result(out[["arm", "wave", "n_enrolled", "n_assessed", "pct_assessed", "n_analysed", "pct_analysed"]], title="Participant flow",
                            method="counts of enrolled, assessed and analysed participants per arm and wave")


# --------------------------------------------------------------------------- attrition


def attrition(
    participants: pd.DataFrame,
    responses_or_scores: pd.DataFrame,
    *,
    baseline_wave: Any,
    final_wave: Any,
    control: Any = None,
    boundary: str = "cautious",
    arm: str = "arm",
    participant: str = "participant_id",
    wave: str = "wave",
    analysed: Iterable[Any] | pd.Series | None = None,
    items: Sequence[str] | None = None,
    rounding: str = "conservative",
) -> pd.DataFrame:
    """Overall and differential attrition per arm contrast, judged by the WWC boundary.

    Parameters
    ----------
    participants : pandas.DataFrame
        One row per randomized (enrolled) participant, with ``participant`` and ``arm``.
    responses_or_scores : pandas.DataFrame
        Responses, tidy scores or the analysis frame (see :func:`participant_flow`).
    baseline_wave, final_wave : wave labels
        The analysed sample defaults to participants assessed at both waves.
    control : arm label, optional
        Each other arm is compared with ``control``. Default: every pair of arms.
    boundary : {"cautious", "optimistic", "both"}
        Which WWC boundary to apply; ``"both"`` gives one row per boundary.
    arm, participant, wave : str
        Column names.
    analysed : iterable of ids, boolean Series indexed by id, or column name, optional
        The analytic sample, when it is not "assessed at baseline and final wave" (see
        :func:`participant_flow`).
    items : sequence of str, optional
        Columns that count as an answer (see :func:`participant_flow`).
    rounding : {"conservative", "nearest"}
        How a non-whole overall attrition is read from the whole-percent boundary table
        (see :mod:`mentor_eval.outcomes.wwc`).

    Returns
    -------
    pandas.DataFrame
        One row per contrast (x boundary):

        - ``arm``, ``reference``: the two arms compared (``reference`` is the control).
        - ``n_enrolled``, ``n_analysed``: randomized and analysed participants of ``arm``.
        - ``attrition_pct``: attrition of ``arm``, ``100 * (1 - n_analysed / n_enrolled)``.
        - ``overall_attrition_pct``: attrition of both arms pooled, the WWC "overall" rate for
          this contrast.
        - ``differential_pct``: ``|attrition_pct - attrition_pct_ref|``, percentage points.
        - ``boundary``: ``"cautious"`` or ``"optimistic"``.
        - ``max_differential_pct``: highest differential still "low" at this overall rate
          (NaN: every differential is high).
        - ``verdict``: ``"low"`` or ``"high"`` attrition.
        - ``n_enrolled_ref``, ``n_analysed_ref``, ``attrition_pct_ref``: the same counts
          and rate for the reference arm.
        - ``boundary_note``: source of the boundary and how it was read between rows.

    Notes
    -----
    Attrition is the share of randomized participants missing from the analytic sample. The
    WWC computes overall and differential attrition for the two groups of each contrast, so in a
    multi-arm study each contrast has its own overall rate. Differential attrition is absolute.
    The verdict is "low" when the differential does not exceed the boundary at the contrast's
    overall attrition; the cautious boundary calls 58 percent or more overall always high.
    Between whole-percent rows of the boundary, ``rounding="conservative"`` uses the smaller of
    the two neighbouring limits, so a study is never called low that either row would call high.

    References
    ----------
    What Works Clearinghouse (2020). Standards Handbook, Version 4.1, Section II.B and
    Table II.1. U.S. Department of Education, Institute of Education Sciences.

    Examples
    --------
    >>> import pandas as pd
    >>> people = pd.DataFrame({"participant_id": list("abcdefgh"), "arm": ["c"] * 4 + ["t"] * 4})
    >>> scores = pd.DataFrame({"participant_id": list("abcdefgh") * 2,
    ...                        "wave": ["pre"] * 8 + ["post"] * 8,
    ...                        "score": [1.0] * 8 + [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, None]})
    >>> attrition(people, scores, baseline_wave="pre", final_wave="post", control="c")[
    ...     ["arm", "attrition_pct", "overall_attrition_pct", "differential_pct", "verdict"]]
      arm  attrition_pct  overall_attrition_pct  differential_pct verdict
    0   t           25.0                   12.5              25.0    high
    """
    func = "attrition"
    check_one_of(func, "boundary", boundary, ("cautious", "optimistic", "both"))
    check_one_of(func, "rounding", rounding, ("conservative", "nearest"))
    if baseline_wave == final_wave:
        raise ParameterError(
            f"The 'final_wave' parameter of {func} must differ from 'baseline_wave'; both are {final_wave!r}."
        )
    flow = participant_flow(
        participants, responses_or_scores, waves=[baseline_wave, final_wave], arm=arm,
        participant=participant, wave=wave, analysed=analysed, items=items,
    )
    per_arm = flow[(flow["arm"] != ALL_ARMS) & (flow["wave"] == final_wave)].set_index("arm")
    arms = list(per_arm.index)
    if len(arms) < 2:
        raise ParameterError(
            f"{func} needs at least two arms to compute differential attrition; the participants "
            f"table has {arms!r}."
        )
    if control is not None:
        if control not in arms:
            raise ParameterError(
                f"The 'control' parameter of {func} must be one of the arms {arms!r}; got {control!r}."
            )
        pairs = [(a, control) for a in arms if a != control]
    else:
        pairs = list(combinations(arms, 2))
    a_idx = [p[0] for p in pairs]
    r_idx = [p[1] for p in pairs]
    ne_a = per_arm.loc[a_idx, "n_enrolled"].to_numpy()
    na_a = per_arm.loc[a_idx, "n_analysed"].to_numpy()
    ne_r = per_arm.loc[r_idx, "n_enrolled"].to_numpy()
    na_r = per_arm.loc[r_idx, "n_analysed"].to_numpy()
    att_a = 100.0 * (1.0 - na_a / ne_a)
    att_r = 100.0 * (1.0 - na_r / ne_r)
    overall = 100.0 * (1.0 - (na_a + na_r) / (ne_a + ne_r))
    diff = np.abs(att_a - att_r)
    base = pd.DataFrame(
        {
            "arm": pd.Series(a_idx, dtype=object),
            "reference": pd.Series(r_idx, dtype=object),
            "n_enrolled": ne_a,
            "n_analysed": na_a,
            "attrition_pct": att_a,
            "overall_attrition_pct": overall,
            "differential_pct": diff,
        }
    )
    boundaries = ["cautious", "optimistic"] if boundary == "both" else [boundary]
    frames = []
    for b in boundaries:
        part = base.copy()
        part["boundary"] = b
        part["max_differential_pct"] = max_differential_attrition(overall, b, rounding=rounding)
        part["verdict"] = classify_attrition(overall, diff, b, rounding=rounding)
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    n = len(boundaries)
    out["n_enrolled_ref"] = np.tile(ne_r, n)
    out["n_analysed_ref"] = np.tile(na_r, n)
    out["attrition_pct_ref"] = np.tile(att_r, n)
    out["boundary_note"] = boundary_note(rounding)  # type: ignore[arg-type]
    return table_result(out, title="Attrition against the WWC boundary",
                            method="overall and differential attrition against the What Works Clearinghouse boundary")


# --------------------------------------------------------------------------- baseline equivalence


def _is_binary(values: pd.Series) -> bool:
    """True for boolean columns and numeric columns whose non-missing values are all 0 or 1."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return True
    if not pd.api.types.is_numeric_dtype(values.dtype):
        return False
    v = values.dropna().to_numpy(dtype=float)
    return v.size > 0 and bool(np.all((v == 0) | (v == 1)))


def _category(g: np.ndarray, variables: np.ndarray, adjusted: set[str]) -> np.ndarray:
    a = np.abs(g)
    in_model = np.isin(variables, list(adjusted)) if adjusted else np.zeros(len(g), dtype=bool)
    # A hair of tolerance keeps a difference sitting exactly on a threshold on the lenient side
    # of it, as the handbook writes the thresholds with "<=".
    tol = 1e-12
    out = np.where(
        a <= _SATISFIES + tol,
        "satisfies",
        np.where(
            a <= _ADJUSTABLE + tol,
            np.where(in_model, "satisfies with adjustment", "requires statistical adjustment"),
            "does not satisfy",
        ),
    ).astype(object)
    out[~np.isfinite(g)] = "not computable"
    return out


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def _expand_variables(
    func: str, data: pd.DataFrame, variables: list[str], binary_set: set[str]
) -> tuple[dict[str, pd.Series], dict[str, str], dict[str, str], dict[str, str]]:
    """Numeric columns as they are; text / categorical ones as 0/1 indicators.

    A two-category variable becomes one indicator (event = its second category, sorted or in
    categorical order); one with more categories becomes one indicator per category, named
    ``"variable=category"``, as the WWC assesses each category of a categorical characteristic.
    """
    columns: dict[str, pd.Series] = {}
    kinds: dict[str, str] = {}
    origin: dict[str, str] = {}
    notes: dict[str, str] = {}
    for v in variables:
        x = data[v]
        if _is_numeric(x):
            columns[v] = x.astype(float)
            kinds[v] = "binary" if v in binary_set else "continuous"
            origin[v], notes[v] = v, ""
            continue
        levels = _arm_order(x)
        if len(levels) < 2:
            raise DataValidationError(
                f"{func}: variable '{v}' has fewer than two categories ({levels!r}); nothing to compare."
            )
        missing = x.isna().to_numpy()
        targets = [levels[1]] if len(levels) == 2 else levels
        for lvl in targets:
            name = v if len(levels) == 2 else f"{v}={lvl}"
            ind = (x == lvl).to_numpy(dtype=float, na_value=0.0)
            ind[missing] = np.nan
            columns[name] = pd.Series(ind, index=data.index)
            kinds[name], origin[name] = "binary", v
            notes[name] = f"proportion with {v} = {lvl!r}" if len(levels) == 2 else ""
    return columns, kinds, origin, notes


#: Columns of :func:`baseline_equivalence` (also of the empty table when it cannot run).
BASELINE_COLUMNS = ("variable", "arm", "reference", "n_arm", "n_ref", "mean_arm", "mean_ref", "sd_arm", "sd_ref",
                    "g", "kind", "category", "note")


def baseline_equivalence(
    data: pd.DataFrame,
    *,
    variables: Sequence[str],
    arm: str = "arm",
    control: Any = None,
    binary: Sequence[str] | None = None,
    adjusted: Iterable[str] | None = None,
    participant: str = "participant_id",
) -> pd.DataFrame:
    """WWC baseline equivalence: Hedges' g (continuous) or Cox index (binary) between arms.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant at baseline (the analytic sample), with ``arm`` and every
        column in ``variables``.
    variables : sequence of str
        Baseline characteristics to compare (the baseline outcome and pre-registered covariates).
        Text or categorical columns are compared as proportions: a two-category variable as the
        proportion in its second category (sorted, or categorical order), a variable with more
        categories as one row per category (``variable == "gender=nb"``).
    arm : str
        Arm column.
    control : arm label, optional
        Reference arm; each other arm is compared with it. Default: every pair of arms.
    binary : sequence of str, optional
        Numeric variables to treat as binary (coded 0/1 or boolean); text variables are always
        binary. Default: numeric variables whose non-missing values are all 0 or 1, and
        boolean ones.
    adjusted : iterable of str, optional
        Variables that the impact model adjusts for (its covariates); for a categorical
        variable, naming the variable covers all of its categories.
    participant : str
        Id column; when present it must not repeat (pass one row per participant).

    Returns
    -------
    pandas.DataFrame
        One row per contrast x variable:

        - ``variable``, ``arm``, ``reference``: keys (``"name=category"`` for one category of a
          variable with more than two categories).
        - ``n_arm``, ``n_ref``: non-missing values of the variable in each arm.
        - ``mean_arm``, ``mean_ref``: means (for binary variables, proportions).
        - ``sd_arm``, ``sd_ref``: standard deviations (n - 1 denominator; for binary variables the
          SD of the 0/1 values).
        - ``g``: Hedges' g for continuous variables, the corrected Cox index for binary ones,
          arm minus reference.
        - ``kind``: ``"continuous"`` or ``"binary"``.
        - ``category``: ``"satisfies"`` (|g| <= 0.05), ``"requires statistical adjustment"`` or
          ``"satisfies with adjustment"`` (0.05 < |g| <= 0.25; the latter when the variable is in
          ``adjusted``), ``"does not satisfy"`` (|g| > 0.25), or ``"not computable"``.
        - ``note``: which category a text variable's proportion counts, and what was done to
          compute a row when anything unusual was (empty otherwise).

    Notes
    -----
    Hedges' g follows the WWC Procedures Handbook (v4.1, Appendix E):
    ``g = omega * (mean_arm - mean_ref) / s_pooled`` with
    ``s_pooled = sqrt(((n_arm - 1) sd_arm^2 + (n_ref - 1) sd_ref^2) / (n_arm + n_ref - 2))`` and
    the small-sample correction ``omega = 1 - 3 / (4 N - 9)``, ``N = n_arm + n_ref``.

    The Cox index is ``d_cox = omega * (logit(p_arm) - logit(p_ref)) / 1.65`` with the same
    ``omega``. When a proportion is 0 or 1 the log odds ratio is infinite; then 0.5 is added to
    each of the four cells of the 2 x 2 table (Haldane-Anscombe) and the ``note`` says so.
    (The correction ``omega`` on the Cox index follows the Procedures Handbook as this project
    reads it; some tools omit it, which changes |d_cox| by a factor ``omega``, under 1 percent for
    N >= 80.)

    Missing values are dropped per variable (available cases), so ``n_arm`` / ``n_ref`` may
    differ between variables; they are reported on every row. A variable with fewer than two
    values in an arm, or no spread in either arm, is "not computable" with a note.

    References
    ----------
    What Works Clearinghouse (2020). Procedures Handbook, Version 4.1, Appendix E; Standards
    Handbook, Version 4.1, Section II.D. U.S. Department of Education.
    Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size and related
    estimators. Journal of Educational Statistics, 6(2), 107-128.
    Sanchez-Meca, J., Marin-Martinez, F., & Chacon-Moscoso, S. (2003). Effect-size indices for
    dichotomized outcomes in meta-analysis. Psychological Methods, 8(4), 448-467.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"arm": ["t", "t", "t", "c", "c", "c"], "pretest": [5, 6, 7, 4, 5, 6]})
    >>> baseline_equivalence(d, variables=["pretest"], control="c")[["variable", "g", "category"]]
      variable    g          category
    0  pretest  0.8  does not satisfy
    """
    func = "baseline_equivalence"
    if isinstance(variables, str):
        variables = [variables]
    variables = list(variables)
    if not variables:
        raise ParameterError(f"The 'variables' parameter of {func} must name at least one column; got [].")
    check_columns(func, data, [arm, *variables], what="data")
    if participant in data.columns and data[participant].duplicated().any():
        raise DataValidationError(
            f"{func}: '{participant}' repeats in data; pass one row per participant (e.g. the baseline "
            "wave of one outcome, or a wide participant table)."
        )
    if data[arm].isna().any():
        raise DataValidationError(f"{func}: {int(data[arm].isna().sum())} row(s) of data have no '{arm}'.")
    adjusted_set = set(adjusted) if adjusted is not None else set()
    if isinstance(adjusted, str):
        adjusted_set = {adjusted}

    if binary is None:
        binary_set = {v for v in variables if _is_binary(data[v])}
    else:
        binary_set = {binary} if isinstance(binary, str) else set(binary)
        extra = binary_set - set(variables)
        if extra:
            raise ParameterError(
                f"The 'binary' parameter of {func} names column(s) not in 'variables': {sorted(extra)!r}."
            )
        bad = [v for v in binary_set if _is_numeric(data[v]) and not _is_binary(data[v])]
        if bad:
            raise DataValidationError(
                f"{func}: binary variable(s) {sorted(bad)!r} must be boolean, coded 0/1 or have two "
                "categories (missing values allowed)."
            )
    columns, kinds, origin, event_note = _expand_variables(func, data, variables, binary_set)
    arms = _arm_order(data[arm])
    if len(arms) < 2:
        raise ParameterError(f"{func} needs at least two arms in '{arm}'; data has {arms!r}.")
    if control is not None:
        if control not in arms:
            raise ParameterError(
                f"The 'control' parameter of {func} must be one of the arms {arms!r}; got {control!r}."
            )
        pairs = [(a, control) for a in arms if a != control]
    else:
        pairs = list(combinations(arms, 2))

    names = list(columns)
    values = pd.DataFrame(columns, index=data.index)
    grouped = values.groupby(data[arm].to_numpy(), sort=False)
    n = grouped.count().reindex(arms)
    mean = grouped.mean().reindex(arms)
    sd = grouped.std(ddof=1).reindex(arms)

    a_idx = np.repeat(np.array([p[0] for p in pairs], dtype=object), len(names))
    r_idx = np.repeat(np.array([p[1] for p in pairs], dtype=object), len(names))
    var = np.tile(np.array(names, dtype=object), len(pairs))
    rows_a = np.repeat([arms.index(p[0]) for p in pairs], len(names))
    rows_r = np.repeat([arms.index(p[1]) for p in pairs], len(names))
    col = np.tile(np.arange(len(names)), len(pairs))

    def take(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        return frame.to_numpy(dtype=float)[rows, col]

    n1, n2 = take(n, rows_a), take(n, rows_r)
    m1, m2 = take(mean, rows_a), take(mean, rows_r)
    s1, s2 = take(sd, rows_a), take(sd, rows_r)
    big_n = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        omega = 1.0 - 3.0 / (4.0 * big_n - 9.0)
        pooled = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (big_n - 2))
        g_cont = omega * (m1 - m2) / pooled

        is_bin = np.array([kinds[v] == "binary" for v in var], dtype=bool)
        e1, e2 = m1 * n1, m2 * n2  # event counts
        zero_cell = is_bin & ((e1 == 0) | (e1 == n1) | (e2 == 0) | (e2 == n2))
        add = np.where(zero_cell, 0.5, 0.0)
        p1 = (e1 + add) / (n1 + 2 * add)
        p2 = (e2 + add) / (n2 + 2 * add)
        log_or = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
        g_bin = omega * log_or / _COX_SCALE
    g = np.where(is_bin, g_bin, g_cont)

    note = np.array([event_note[v] for v in var], dtype=object)
    too_few = (n1 < 2) | (n2 < 2)
    flat = ~is_bin & ~too_few & ~(pooled > 0)
    g = np.where(too_few | flat, np.nan, g)
    zero_msg = "a proportion is 0 or 1: 0.5 added to each cell before the log odds ratio"
    note[zero_cell & ~too_few] = [_join(a, zero_msg) for a in note[zero_cell & ~too_few]]
    note[flat] = "no spread in either arm: g is undefined"
    note[too_few] = "fewer than 2 non-missing values in an arm"

    out = pd.DataFrame(
        {
            "variable": var,
            "arm": pd.Series(a_idx, dtype=object),
            "reference": pd.Series(r_idx, dtype=object),
            "n_arm": n1.astype(int),
            "n_ref": n2.astype(int),
            "mean_arm": m1,
            "mean_ref": m2,
            "sd_arm": s1,
            "sd_ref": s2,
            "g": g,
            "kind": np.where(is_bin, "binary", "continuous").astype(object),
            "category": _category(g, np.array([origin[v] for v in var], dtype=object), adjusted_set),
            "note": note,
        }
    )
    return table_result(out, title="Baseline equivalence",
                        method="Hedges' g (continuous) or the Cox index (binary) against the WWC thresholds")
