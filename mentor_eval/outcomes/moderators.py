"""Who benefits, and does more mentoring help more: arm x subgroup moderation and dose-response.

Both fit ordinary least squares on one row per participant built from the analysis frame
(the ``pre`` and ``post`` waves of each outcome side by side). Results are labelled
``"pre-specified"`` or ``"exploratory"`` so a report never presents a fishing expedition as a
confirmatory finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import check_in_interval, check_one_of, renamed_parameters
from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError
from mentor_eval.outcomes.inputs import by_outcome, outcome_order, pre_post_wide
from mentor_eval.outcomes.inputs import covariate_block as _covariate_block
from mentor_eval.outcomes.inputs import levels as _levels
from mentor_eval.outcomes.results import table_result

__all__ = ["moderation", "dose_response"]

POOLED = "pooled"
MODERATION_COLUMNS = ["outcome", "test", "term", "arm", "reference", "moderator", "level", "estimate", "se", "t", "F",
                      "df", "df_num", "df_denom", "ci_low", "ci_high", "p", "n", "n_excluded", "status"]


# --------------------------------------------------------------------------- data shaping


def _status(preregistered: bool) -> str:
    return "pre-specified" if preregistered else "exploratory"


def _frames(func: str, data: pd.DataFrame, outcome: str | Sequence[str] | None, *, pre: Any, post: Any,
            participant: str, arm: str, wave: str, score: str, outcome_col: str,
            person_cols: Sequence[str]) -> dict[str, pd.DataFrame]:
    """One frame per outcome (see :func:`~mentor_eval.outcomes.inputs.pre_post_wide`): participant,
    arm, the person-level columns, ``_pre`` and ``_post``."""
    wide, keys = pre_post_wide(func, data, outcome, pre=pre, post=post, score=score, wave=wave, arm=arm,
                               participant=participant, outcome_col=outcome_col, person=person_cols)
    order = outcome_order(data, outcome, outcome_col)
    return by_outcome(wide, keys, score, order,
                      rename={"participant_id": participant, "arm": arm, "pre": "_pre", "post": "_post"})


# --------------------------------------------------------------------------- OLS core


def _ols(y: np.ndarray, x: np.ndarray, names: list[str], func: str, what: str) -> dict[str, Any]:
    n, k = x.shape
    rank = np.linalg.matrix_rank(x)
    if rank < k:
        raise AnalysisError(
            f"{func}: the model for {what} cannot be estimated because some terms are redundant "
            f"(rank {rank} < {k} terms: {', '.join(names)}). Usually an arm x subgroup cell is empty "
            "or a covariate is constant; drop that level or covariate."
        )
    df = n - k
    if df < 1:
        raise AnalysisError(
            f"{func}: the model for {what} has {k} terms but only {n} complete participants; "
            "it needs more participants than terms."
        )
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ (x.T @ y)
    resid = y - x @ beta
    rss = float(resid @ resid)
    cov = xtx_inv * (rss / df)
    return {"beta": beta, "cov": cov, "df": df, "rss": rss, "n": n, "names": names}


def _lincomb_rows(fit: dict[str, Any], c: np.ndarray, ci_level: float) -> dict[str, np.ndarray]:
    """Estimates, SEs, t tests and CIs for the rows of the contrast matrix ``c``."""
    est = c @ fit["beta"]
    se = np.sqrt(np.einsum("ij,jk,ik->i", c, fit["cov"], c))
    t = est / se
    q = stats.t.ppf(0.5 + ci_level / 2, fit["df"])
    return {
        "estimate": est,
        "se": se,
        "t": t,
        "ci_low": est - q * se,
        "ci_high": est + q * se,
        "p": 2 * stats.t.sf(np.abs(t), fit["df"]),
    }


def _wald_f(fit: dict[str, Any], c: np.ndarray) -> tuple[float, float]:
    """F test of ``c @ beta = 0``; equals the nested-model F of dropping those terms."""
    cb = c @ fit["beta"]
    f = float(cb @ np.linalg.solve(c @ fit["cov"] @ c.T, cb)) / c.shape[0]
    return f, float(stats.f.sf(f, c.shape[0], fit["df"]))


# --------------------------------------------------------------------------- moderation


@renamed_parameters({"conf_level": "ci_level"})
def moderation(
    data: pd.DataFrame,
    outcome: str | Sequence[str] | None = None,
    *,
    moderator: str,
    pre: Any = "baseline",
    post: Any = "post",
    covariates: Sequence[str] = (),
    control: Any = None,
    preregistered: bool = False,
    categorical: bool | None = None,
    ci_level: float = 0.95,
    participant: str = "participant_id",
    arm: str = "arm",
    wave: str = "wave",
    score: str = "score",
    outcome_col: str = "outcome",
) -> pd.DataFrame:
    """Arm x subgroup moderation in the ANCOVA ``post ~ pre + arm * moderator + covariates``.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis frame: one row per participant x wave (x outcome) with ``participant``,
        ``arm``, ``wave``, ``score``, the moderator and covariates (participant-level columns).
    outcome : str or sequence of str, optional
        Outcome(s) to analyse (values of ``outcome_col``). Default: every outcome in data.
    moderator : str
        Participant-level column defining subgroups (or a continuous moderator).
    pre, post : wave labels
        Waves of the covariate (pretest) and of the outcome (posttest).
    covariates : sequence of str
        Further participant-level covariates; text or categorical ones are dummy coded.
    control : arm label, optional
        Reference arm for the arm contrasts. Default: the first arm (sorted or categorical order).
    preregistered : bool
        True when this moderator analysis was pre-registered; sets ``status``.
    categorical : bool, optional
        Treat the moderator as categorical (indicators for each level but the first) or
        continuous (linear). Default: categorical unless the column is numeric with more than
        two distinct values.
    ci_level : float
        Confidence level of the intervals.
    participant, arm, wave, score, outcome_col : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        Per outcome, first one row ``test == "interaction F"`` (the joint test of every
        arm x moderator term), then one row per interaction coefficient
        (``test == "interaction"``), then one row per arm x level for the arm effect within each
        subgroup (``test == "subgroup effect"``; categorical moderators only). Columns:

        - ``outcome``, ``test``, ``term``: what the row tests (``term`` such as
          ``"arm[nw]:gender[girl]"``).
        - ``arm``, ``reference``: the arm contrasted with the reference arm (empty for the F row).
        - ``moderator``, ``level``: the moderator and the subgroup level (empty for a continuous
          moderator and for the F row).
        - ``estimate``, ``se``: coefficient (difference in the arm effect between ``level`` and
          the moderator's first level, or per unit of a continuous moderator) or subgroup arm
          effect, in outcome units; NaN for the F row.
        - ``t``: the t statistic of a coefficient or subgroup effect (missing on the F row);
          ``F``: the joint F of the interactions (missing on the other rows).
        - ``df``: residual degrees of freedom (the t tests' df); ``df_num``, ``df_denom``: the F
          test's degrees of freedom (1 and ``df`` on the t rows, as t squared is F(1, df)).
        - ``ci_low``, ``ci_high``, ``p``: confidence interval and two-sided p value.
        - ``n``: participants in the model; ``n_excluded``: participants dropped for a missing
          pre, post, moderator or covariate value.
        - ``status``: ``"pre-specified"`` or ``"exploratory"``.

    Notes
    -----
    OLS with classical standard errors: ``beta = (X'X)^-1 X'y``, ``V = s^2 (X'X)^-1`` with
    ``s^2 = RSS / (n - k)``. Coefficient tests are t tests on ``n - k`` df. The joint F is the
    Wald form ``(C b)' (C V C')^-1 (C b) / q``, identical to the nested-model F comparing the
    models with and without the ``q`` interaction terms. A subgroup effect is the linear
    combination (arm main effect + the arm x level interaction) with its SE from ``V``.

    Missing data: complete cases (participants with pre, post, moderator and covariates);
    how many were excluded is reported in ``n_excluded``. Interactions are not adjusted for
    multiplicity here; pass the ``p`` column to the project's multiplicity adjustment when
    several are reported.

    References
    ----------
    Aiken, L. S., & West, S. G. (1991). Multiple regression: Testing and interpreting
    interactions. Sage.
    Wang, R., Lagakos, S. W., Ware, J. H., Hunter, D. J., & Drazen, J. M. (2007). Statistics in
    medicine: reporting of subgroup analyses in clinical trials. NEJM, 357, 2189-2194.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> n = 80
    >>> people = pd.DataFrame({"participant_id": range(n), "arm": np.repeat(["ctrl", "nw"], n // 2),
    ...                        "gender": np.tile(["boy", "girl"], n // 2)})
    >>> pre = rng.normal(size=n)
    >>> post = pre + (people.arm == "nw") * (people.gender == "girl") + rng.normal(size=n)
    >>> long = pd.concat([people.assign(wave="baseline", score=pre), people.assign(wave="post", score=post)])
    >>> res = moderation(long, moderator="gender", control="ctrl")
    >>> res[["test", "term", "df_num"]].iloc[:2]
                test                  term  df_num
    0  interaction F          arm x gender       1
    1    interaction  arm[nw]:gender[girl]       1
    """
    func = "moderation"
    ci_level = check_in_interval(func, "ci_level", ci_level, 0, 1)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if moderator in covariates:
        raise ParameterError(f"The 'moderator' {moderator!r} of {func} is also listed in 'covariates'.")
    if moderator in (arm, participant, wave, score):
        raise ParameterError(f"The 'moderator' parameter of {func} must be a participant characteristic; got {moderator!r}.")
    frames = _frames(
        func, data, outcome, pre=pre, post=post, participant=participant, arm=arm, wave=wave,
        score=score, outcome_col=outcome_col, person_cols=[moderator, *covariates],
    )
    results = []
    for out, frame in frames.items():
        need = ["_pre", "_post", moderator, *covariates]
        complete = frame[need].notna().all(axis=1) & frame[arm].notna()
        n_excluded = int((~complete).sum())
        frame = frame[complete].reset_index(drop=True)
        results.append(
            _moderation_one(
                func, frame, out, moderator=moderator, covariates=covariates, control=control, arm=arm,
                categorical=categorical, ci_level=ci_level, n_excluded=n_excluded,
                status=_status(preregistered),
            )
        )
    return table_result(pd.concat(results, ignore_index=True), title="Moderation (arm x subgroup)",
                            method="OLS ANCOVA post ~ pre + arm * moderator + covariates; t tests of the interactions and a joint F")


def _moderation_one(
    func: str,
    frame: pd.DataFrame,
    out: str,
    *,
    moderator: str,
    covariates: list[str],
    control: Any,
    arm: str,
    categorical: bool | None,
    ci_level: float,
    n_excluded: int,
    status: str,
) -> pd.DataFrame:
    arms = _levels(frame[arm])
    if control is None:
        if not arms:
            raise AnalysisError(f"{func}: outcome {out!r} has no participant with both waves observed.")
        control = arms[0]
    elif control not in arms:
        raise ParameterError(
            f"The 'control' parameter of {func} must be one of the arms with data {arms!r}; got {control!r}."
        )
    others = [a for a in arms if a != control]
    if not others:
        raise AnalysisError(f"{func}: outcome {out!r} has complete data in one arm only ({arms!r}).")

    mod = frame[moderator]
    if categorical is None:
        categorical = not (
            pd.api.types.is_numeric_dtype(mod.dtype) and not pd.api.types.is_bool_dtype(mod.dtype)
            and mod.nunique() > 2
        )
    if categorical:
        levels = _levels(mod)
        if len(levels) < 2:
            raise AnalysisError(
                f"{func}: moderator '{moderator}' has a single level ({levels!r}) among complete cases "
                f"for outcome {out!r}; a subgroup comparison needs at least two."
            )
        mod_cols = np.column_stack([(mod == lvl).to_numpy(dtype=float) for lvl in levels[1:]])
        mod_names = [f"{moderator}[{lvl}]" for lvl in levels[1:]]
        mod_levels: list[Any] = levels[1:]
    else:
        if not pd.api.types.is_numeric_dtype(mod.dtype):
            raise DataValidationError(
                f"{func}: moderator '{moderator}' is not numeric, so it cannot be treated as continuous."
            )
        mod_cols = mod.to_numpy(dtype=float)[:, None]
        mod_names = [moderator]
        mod_levels = [""]

    arm_cols = np.column_stack([(frame[arm] == a).to_numpy(dtype=float) for a in others])
    arm_names = [f"{arm}[{a}]" for a in others]
    inter_cols, inter_names, inter_keys = [], [], []
    for i, a in enumerate(others):
        for j, lvl in enumerate(mod_levels):
            inter_cols.append(arm_cols[:, i] * mod_cols[:, j])
            inter_names.append(f"{arm_names[i]}:{mod_names[j]}")
            inter_keys.append((a, lvl))
    cov_x, cov_names = _covariate_block(func, frame, covariates)
    n = len(frame)
    x = np.column_stack([np.ones(n), frame["_pre"].to_numpy(), arm_cols, mod_cols, np.column_stack(inter_cols), cov_x])
    names = ["Intercept", "pre", *arm_names, *mod_names, *inter_names, *cov_names]
    fit = _ols(frame["_post"].to_numpy(dtype=float), x, names, func, f"outcome {out!r}")

    k = len(names)
    first_inter = 2 + len(arm_names) + len(mod_names)
    c_inter = np.zeros((len(inter_names), k))
    c_inter[np.arange(len(inter_names)), first_inter + np.arange(len(inter_names))] = 1.0
    f_stat, f_p = _wald_f(fit, c_inter)
    coef = _lincomb_rows(fit, c_inter, ci_level)

    rows = [
        pd.DataFrame(
            {
                "outcome": [out], "test": ["interaction F"], "term": [f"{arm} x {moderator}"],
                "arm": [""], "reference": [control], "moderator": [moderator], "level": [""],
                "estimate": [np.nan], "se": [np.nan], "t": [np.nan], "F": [f_stat], "df": [fit["df"]],
                "df_num": [len(inter_names)], "df_denom": [fit["df"]],
                "ci_low": [np.nan], "ci_high": [np.nan], "p": [f_p],
            }
        ),
        pd.DataFrame(
            {
                "outcome": out, "test": "interaction", "term": inter_names,
                "arm": [a for a, _ in inter_keys], "reference": control, "moderator": moderator,
                "level": [lvl for _, lvl in inter_keys], **coef, "F": np.nan, "df": fit["df"], "df_num": 1,
                "df_denom": fit["df"],
            }
        ),
    ]
    if categorical:
        # Arm effect within each subgroup: arm main effect (+ its interaction for non-first levels).
        all_levels = _levels(mod)
        c_sub, keys = [], []
        for i, a in enumerate(others):
            for lvl in all_levels:
                c = np.zeros(k)
                c[2 + i] = 1.0
                if lvl != all_levels[0]:
                    c[first_inter + i * len(mod_levels) + mod_levels.index(lvl)] = 1.0
                c_sub.append(c)
                keys.append((a, lvl))
        sub = _lincomb_rows(fit, np.vstack(c_sub), ci_level)
        rows.append(
            pd.DataFrame(
                {
                    "outcome": out, "test": "subgroup effect",
                    "term": [f"{arm}[{a}] | {moderator}={lvl}" for a, lvl in keys],
                    "arm": [a for a, _ in keys], "reference": control, "moderator": moderator,
                    "level": [lvl for _, lvl in keys], **sub, "F": np.nan, "df": fit["df"], "df_num": 1,
                    "df_denom": fit["df"],
                }
            )
        )
    res = pd.concat(rows, ignore_index=True)
    for col in ("arm", "reference", "level"):
        res[col] = res[col].astype(object)
    for col in ("df", "df_num", "df_denom"):
        res[col] = res[col].astype(int)
    res["n"] = fit["n"]
    res["n_excluded"] = n_excluded
    res["status"] = status
    return res[MODERATION_COLUMNS]


# --------------------------------------------------------------------------- dose-response


@renamed_parameters({"conf_level": "ci_level"})
def dose_response(
    data: pd.DataFrame,
    outcome: str | Sequence[str] | None = None,
    *,
    dose: str | Mapping[Any, str] = "sessions_attended",
    pre: Any = "baseline",
    post: Any = "post",
    arms: Sequence[Any] | None = None,
    method: str = "ancova",
    covariates: Sequence[str] = (),
    preregistered: bool = False,
    ci_level: float = 0.95,
    participant: str = "participant_id",
    arm: str = "arm",
    wave: str = "wave",
    score: str = "score",
    outcome_col: str = "outcome",
) -> pd.DataFrame:
    """Dose-response within mentored arms: the slope of the outcome on sessions attended.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis frame (see :func:`moderation`) with a participant-level ``dose`` column.
    outcome : str or sequence of str, optional
        Outcome(s) to analyse. Default: every outcome in data.
    dose : str or mapping
        Dose column (e.g. sessions attended, hours, months matched), or a mapping arm -> column
        so that each arm's dose is its own model's indicator (e.g. circles attended for
        Storytelling Circles, introductions made for Advocacy Ally; see
        :attr:`mentor_eval.study.Study.fidelity`). With a mapping, ``arms`` defaults to its
        keys and a pooled row is given only when every arm uses the same column.
    pre, post : wave labels
        Pretest and posttest waves.
    arms : sequence of arm labels, optional
        Mentored arms to analyse. Default: every arm in which some participant has a non-zero
        dose (a control arm records zero or no sessions).
    method : {"ancova", "change"}
        ``"ancova"``: ``post ~ pre + dose (+ covariates)``; ``"change"``:
        ``(post - pre) ~ dose (+ covariates)``.
    covariates : sequence of str
        Further participant-level covariates.
    preregistered : bool
        True when the dose-response analysis was pre-registered; sets ``status``.
    ci_level : float
        Confidence level.
    participant, arm, wave, score, outcome_col : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        Per outcome, one row per arm and, when more than one arm is analysed, a ``"pooled"`` row
        (common slope with arm intercepts). Columns:

        - ``outcome``, ``arm``: keys (``arm == "pooled"`` for the pooled model).
        - ``term``: the dose column; ``model``: the fitted formula.
        - ``estimate``, ``se``: change in the outcome per unit of dose.
        - ``t``, ``df``: t statistic and residual degrees of freedom.
        - ``ci_low``, ``ci_high``, ``p``: confidence interval and two-sided p value.
        - ``n``: participants in the model; ``n_excluded``: participants of those arms dropped
          for a missing pre, post, dose or covariate.
        - ``note``: why a slope is missing (e.g. no variation in dose), else empty.
        - ``status``: ``"pre-specified"`` or ``"exploratory"``.

    Notes
    -----
    OLS with classical standard errors (see :func:`moderation`). Dose is not randomized:
    participants who attend more differ from those who attend less, so the slope is an
    association, not a causal effect, and is labelled exploratory unless pre-registered (and
    even then it is observational).

    Missing data: complete cases within the analysed arms; counts reported.

    References
    ----------
    Angrist, J. D., & Pischke, J.-S. (2009). Mostly harmless econometrics, ch. 3. Princeton.
    DuBois, D. L., et al. (2011). How effective are mentoring programs for youth? Psychological
    Science in the Public Interest, 12(2), 57-91.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> people = pd.DataFrame({"participant_id": range(6), "arm": "nw",
    ...                        "sessions_attended": [0, 2, 4, 6, 8, 10]})
    >>> long = pd.concat([people.assign(wave="baseline", score=0.0),
    ...                   people.assign(wave="post", score=[0.1, 0.9, 2.1, 2.9, 4.1, 4.9])])
    >>> float(round(dose_response(long, method="change")["estimate"].iloc[0], 6))  # 34.4 / 70
    0.491429
    """
    func = "dose_response"
    check_one_of(func, "method", method, ("ancova", "change"))
    ci_level = check_in_interval(func, "ci_level", ci_level, 0, 1)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if isinstance(dose, Mapping):
        per_arm = {a: str(c) for a, c in dose.items()}
        if not per_arm:
            raise ParameterError(f"The 'dose' parameter of {func} must map at least one arm to a column.")
        if arms is None:
            arms = list(per_arm)
        missing_arms = [a for a in ([arms] if isinstance(arms, str) else arms) if a not in per_arm]
        if missing_arms:
            raise ParameterError(f"The 'dose' parameter of {func} has no column for arm(s) {missing_arms!r}.")
        dose_cols = list(dict.fromkeys(per_arm.values()))
    else:
        per_arm, dose_cols = {}, [dose]
    frames = _frames(
        func, data, outcome, pre=pre, post=post, participant=participant, arm=arm, wave=wave,
        score=score, outcome_col=outcome_col, person_cols=[*dose_cols, *covariates],
    )
    for dc in dose_cols:
        if not pd.api.types.is_numeric_dtype(data[dc].dtype) or pd.api.types.is_bool_dtype(data[dc].dtype):
            raise DataValidationError(f"{func}: dose column '{dc}' must be numeric; it is {data[dc].dtype}.")
    if per_arm:
        res = _dose_response_per_arm(func, data, outcome, per_arm, arms, pre=pre, post=post, method=method,
                                      covariates=covariates, preregistered=preregistered, ci_level=ci_level,
                                      participant=participant, arm=arm, wave=wave, score=score,
                                      outcome_col=outcome_col)
        return table_result(res, title="Dose-response within mentored arms",
                            method="OLS of the outcome on dose (+ covariates) within each arm's own dose column; an "
                                   "association, not a causal effect")
    all_arms = _levels(data[arm])
    if arms is None:
        dosed = data.loc[data[dose].fillna(0) != 0, arm]
        arms = [a for a in all_arms if a in set(dosed)]
        if not arms:
            raise DataValidationError(f"{func}: no participant has a non-zero '{dose}'; nothing to analyse.")
    else:
        arms = [arms] if isinstance(arms, str) else list(arms)
        unknown = [a for a in arms if a not in all_arms]
        if unknown or not arms:
            raise ParameterError(
                f"The 'arms' parameter of {func} must list arms from {all_arms!r}; got {arms!r}."
            )

    status = _status(preregistered)
    lhs = "post" if method == "ancova" else "(post - pre)"
    rows = []
    for out, frame in frames.items():
        frame = frame[frame[arm].isin(arms)]
        need = ["_pre", "_post", dose, *covariates]
        complete = frame[need].notna().all(axis=1)
        excluded = (~complete).groupby(frame[arm]).sum()
        frame = frame[complete].reset_index(drop=True)
        groups = [(a, frame[frame[arm] == a], int(excluded.get(a, 0))) for a in arms]
        if len(arms) > 1:
            groups.append((POOLED, frame, int(excluded.sum())))
        for label, sub, n_exc in groups:
            rhs = (["pre"] if method == "ancova" else []) + [dose] + covariates
            if label == POOLED:
                rhs = rhs + [arm]
            row = {
                "outcome": out, "arm": label, "term": dose, "model": f"{lhs} ~ {' + '.join(rhs)}",
                "estimate": np.nan, "se": np.nan, "t": np.nan, "df": np.nan,
                "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "n": len(sub), "n_excluded": n_exc,
                "note": "",
            }
            y = sub["_post"].to_numpy(dtype=float)
            cols = [np.ones(len(sub))]
            if method == "ancova":
                cols.append(sub["_pre"].to_numpy(dtype=float))
            else:
                y = y - sub["_pre"].to_numpy(dtype=float)
            cols.append(sub[dose].to_numpy(dtype=float))
            dose_idx = len(cols) - 1
            cov_x, cov_names = _covariate_block(func, sub, covariates)
            names = ["Intercept", *(["pre"] if method == "ancova" else []), dose, *cov_names]
            if label == POOLED:
                present = [a for a in arms if (sub[arm] == a).any()]
                for a in present[1:]:
                    cols.append((sub[arm] == a).to_numpy(dtype=float))
                    names.append(f"{arm}[{a}]")
            x = np.column_stack([*cols, cov_x]) if cov_x.shape[1] else np.column_stack(cols)
            if sub[dose].nunique() < 2:
                row["note"] = f"'{dose}' does not vary among complete cases; no slope"
            elif len(sub) <= x.shape[1]:
                row["note"] = f"only {len(sub)} complete participants for {x.shape[1]} terms"
            else:
                try:
                    fit = _ols(y, x, names, func, f"outcome {out!r}, arm {label!r}")
                except AnalysisError as err:
                    row["note"] = str(err)
                else:
                    c = np.zeros((1, x.shape[1]))
                    c[0, dose_idx] = 1.0
                    est = _lincomb_rows(fit, c, ci_level)
                    row.update({key: float(v[0]) for key, v in est.items()})
                    row["df"] = fit["df"]
            rows.append(row)
    res = pd.DataFrame(rows)
    res["arm"] = res["arm"].astype(object)
    res["status"] = status
    return table_result(res, title="Dose-response within mentored arms",
                            method=f"OLS {lhs} on dose (+ covariates) within each arm; an association, not a causal effect")


def _dose_response_per_arm(func: str, data: pd.DataFrame, outcome: Any, per_arm: Mapping[Any, str],
                           arms: Sequence[Any] | Any, **kw: Any) -> pd.DataFrame:
    """Each arm's slope on its own dose column; a pooled row only when they share one column."""
    arms = [arms] if isinstance(arms, str) else list(arms)
    all_arms = _levels(data[kw["arm"]])
    unknown = [a for a in arms if a not in all_arms]
    if unknown or not arms:
        raise ParameterError(f"The 'arms' parameter of {func} must list arms from {all_arms!r}; got {arms!r}.")
    cols = {per_arm[a] for a in arms}
    if len(cols) == 1:
        return dose_response(data, outcome, dose=cols.pop(), arms=arms, **kw)
    parts = [dose_response(data, outcome, dose=per_arm[a], arms=[a], **kw) for a in arms]
    res = pd.concat(parts, ignore_index=True)
    order = {o: i for i, o in enumerate(pd.unique(res["outcome"]))}
    return res.sort_values("outcome", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
