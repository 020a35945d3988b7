"""Effects for those who took part: the complier average causal effect beside the ITT.

Randomization decides who is *offered* a model; not everyone offered it receives it as
designed. With the randomized arm as the instrument for having received the model (the
compliance rule, e.g. reaching the model's expected dose), two-stage least squares
estimates the effect among compliers (Angrist, Imbens & Rubin 1996). Control participants
cannot receive a model (one-sided non-compliance), so compliers are the participants of the
arm who met the rule, and their effect is the intention-to-treat effect divided by the share
of compliers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import check_in_interval, check_one_of, check_treated_arms, renamed_parameters
from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError
from mentor_eval.outcomes.inputs import by_outcome, outcome_order, pre_post_wide
from mentor_eval.outcomes.inputs import covariate_block as _covariate_block
from mentor_eval.outcomes.inputs import levels as _levels
from mentor_eval.outcomes.results import table_result

__all__ = ["cace", "two_stage_least_squares"]

MISSING_DOSE = ("error", "drop", "noncomplier")


def two_stage_least_squares(y: np.ndarray, x: np.ndarray, w: np.ndarray, *, cluster: np.ndarray | None = None,
                            ) -> dict[str, Any]:
    """Two-stage least squares of ``y`` on ``x`` with instruments ``w`` (both with the exogenous columns).

    Parameters
    ----------
    y : ndarray (n,)
    x : ndarray (n, k)
        Regressors (endogenous and exogenous, incl. the intercept).
    w : ndarray (n, l), l >= k
        Instruments (excluded instruments and the exogenous regressors).
    cluster : ndarray (n,), optional
        Integer cluster codes: CR2 covariance with Pustejovsky–Tipton Satterthwaite df (as
        clubSandwich's ``vcovCR(ivreg_fit, type = "CR2")`` and ``coef_test(..., "Satterthwaite")``;
        :func:`mentor_eval.outcomes.clustered.cr2_fit` on the projected design with the
        structural residuals); else the classical ``s^2 (X_hat' X_hat)^-1`` with
        ``s^2 = e'e / (n - k)`` from the structural residuals (as ``AER::ivreg``).

    Returns
    -------
    dict
        ``beta``, ``vcov``, ``resid``, ``df`` (n - k; clustered: the Satterthwaite df of each
        coefficient, an array), ``n``, ``n_clusters``.
    """
    n, k = x.shape
    wtw_inv = np.linalg.pinv(w.T @ w)
    xhat = w @ (wtw_inv @ (w.T @ x))
    m = np.linalg.inv(xhat.T @ xhat)
    beta = m @ (xhat.T @ y)
    resid = y - x @ beta
    if cluster is None:
        vcov = m * float(resid @ resid) / (n - k)
        df, g = n - k, n
    else:
        from mentor_eval.outcomes.clustered import cr2_fit

        fit = cr2_fit(xhat, y, np.asarray(cluster), resid=resid)
        vcov, g = fit.vcov, fit.n_clusters
        df = fit.satterthwaite_df(np.eye(k))
    return {"beta": beta, "vcov": vcov, "resid": resid, "df": df, "n": n, "n_clusters": g}


@renamed_parameters({"conf_level": "ci_level"})
def cace(
    data: pd.DataFrame,
    outcome: str | Sequence[str] | None = None,
    *,
    complied: str | None = None,
    dose: str | None = None,
    threshold: float | Any = None,
    pre: Any = "baseline",
    post: Any = "post",
    control: Any = "control",
    arms: Sequence[Any] | None = None,
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    missing_dose: str = "error",
    ci_level: float = 0.95,
    participant: str = "participant_id",
    arm: str = "arm",
    wave: str = "wave",
    score: str = "score",
    outcome_col: str = "outcome",
) -> pd.DataFrame:
    """Complier average causal effect (2SLS, arm as instrument) beside the intention-to-treat effect.

    Parameters
    ----------
    data : pandas.DataFrame
        Long analysis frame (participant x wave x outcome rows, participant-level columns).
    outcome : str or sequence of str, optional
        Outcome(s) (values of ``outcome_col``); default every outcome in data.
    complied : str, optional
        Participant-level 0/1 (or boolean) column: received the model as designed.
    dose, threshold : str, float or mapping
        Alternative compliance rule: ``dose >= threshold`` (e.g. the model's expected dose,
        :attr:`mentor_eval.models.FidelityIndicator.expected`). ``threshold`` may map arm ->
        threshold when arms implement models with different expected doses. Give either
        ``complied`` or ``dose`` and ``threshold``. Control participants count as not having
        received any model whatever their column holds (one-sided non-compliance).
    pre, post : wave labels
        Pre-test (adjusted for) and outcome wave.
    control : arm label
        The comparison arm.
    arms : sequence, optional
        Arms to compare with control (default: all others).
    covariates : sequence of str
        Further pre-treatment covariates (besides the pre-test), in both stages.
    cluster : str, optional
        Participant-level cluster column (mentor, group; missing: a cluster of one): CR2
        cluster-robust SEs with Satterthwaite df. Without it: classical SEs.
    missing_dose : {"error", "drop", "noncomplier"}
        What to do with arm participants whose compliance is unknown: raise, leave them out
        (counted in ``n_dose_missing``), or count them as non-compliers.
    ci_level : float
        Confidence level.
    participant, arm, wave, score, outcome_col : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        Three rows per outcome x arm:

        - ``outcome``, ``arm``; ``effect``: ``"itt"`` (effect of being offered the model),
          ``"compliance"`` (first-stage share of compliers, adjusted for the covariates) or
          ``"cace"`` (effect among compliers).
        - ``estimate``, ``se``, ``df``, ``ci_low``, ``ci_high``, ``p``: t-based inference.
        - ``n``: participants (arm and control); ``n_arm``: of the arm; ``n_compliers``: arm
          participants meeting the rule;
          ``n_dose_missing``: arm participants whose compliance was unknown;
          ``n_clusters``; ``vcov``: ``"classical"`` or ``"CR2"``.
        - ``first_stage_f``: F (= t^2) of the arm in the first stage; values below 10 flag a
          weak instrument (the CACE is then unreliable).
        - ``wald``: ITT / compliance share with no covariates (Wald estimator), on the
          ``cace`` rows, for reference.
        - ``rule``: the compliance rule in words.

    Notes
    -----
    ITT: OLS ``post ~ arm + pre + covariates``. First stage: ``D ~ arm + pre + covariates``.
    CACE: 2SLS ``post ~ D + pre + covariates`` with ``arm`` as the excluded instrument:
    ``b = (X_hat' X)^-1 X_hat' y``, ``X_hat = W (W'W)^-1 W' X``. Classical SEs use the
    structural residuals ``y - X b`` (as ``AER::ivreg``); CR2 as
    ``clubSandwich::vcovCR(ivreg_fit, type = "CR2")``. Assumptions: random assignment,
    exclusion (being offered a model without receiving it does not change the outcome) and
    no defiers (here automatic: control cannot receive a model).

    Missing data: complete cases on pre, post and covariates (the same rows for all three
    estimates); unknown compliance per ``missing_dose``.

    References
    ----------
    Angrist, J. D., Imbens, G. W., & Rubin, D. B. (1996). Identification of causal effects
    using instrumental variables. JASA, 91(434), 444-455.
    Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
    regression with multi-stage samples. Survey Methodology, 28(2), 169-181.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> people = pd.DataFrame({"participant_id": range(8), "arm": ["c"] * 4 + ["t"] * 4,
    ...                        "took_part": [0, 0, 0, 0, 1, 1, 0, 1]})
    >>> long = pd.concat([people.assign(wave="baseline", score=[0, 1, 0, 1, 0, 1, 0, 1.0]),
    ...                   people.assign(wave="post", score=[0, 1, 0, 1, 3, 3, 1, 2.0])])
    >>> res = cace(long, complied="took_part", control="c")
    >>> res.set_index("effect")["estimate"].round(4).tolist()   # ITT 1.75, share 0.75
    [1.75, 0.75, 2.3333]
    """
    func = "cace"
    check_one_of(func, "missing_dose", missing_dose, MISSING_DOSE)
    ci_level = check_in_interval(func, "ci_level", ci_level, 0, 1)
    if (complied is None) == (dose is None):
        raise ParameterError(f"{func} needs exactly one compliance rule: 'complied=' (a 0/1 column) or "
                             "'dose=' with 'threshold='.")
    if dose is not None and threshold is None:
        raise ParameterError(f"The 'threshold' parameter of {func} is required with 'dose='.")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    rule_col = complied if complied is not None else dose
    person_cols = [rule_col, *covariates, *([cluster] if cluster else [])]
    wide, keys = pre_post_wide(func, data, outcome, pre=pre, post=post, score=score, wave=wave, arm=arm,
                               participant=participant, outcome_col=outcome_col, person=person_cols)
    order = outcome_order(data, outcome, outcome_col)
    frames = by_outcome(wide, keys, score, order,
                        rename={"participant_id": participant, "arm": arm, "pre": "_pre", "post": "_post"})
    all_arms = _levels(data[arm])
    arms = check_treated_arms(func, all_arms, control, arms)
    values = data[rule_col]
    if complied is not None:
        ok = values.dropna()
        if not (pd.api.types.is_bool_dtype(ok.dtype) or ok.isin([0, 1]).all()):
            raise DataValidationError(f"{func}: compliance column '{complied}' must hold 0/1 or true/false; it holds "
                                      f"{sorted(map(str, pd.unique(ok)))[:5]!r}.")
    elif not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise DataValidationError(f"{func}: dose column '{dose}' must be numeric; it is {values.dtype}.")

    def thr(a: Any) -> float:
        if isinstance(threshold, dict):
            if a not in threshold:
                raise ParameterError(f"The 'threshold' parameter of {func} has no value for arm {a!r}.")
            return float(threshold[a])
        return float(threshold)

    def rule_text(a: Any) -> str:
        return f"{complied} is true" if complied is not None else f"{dose} >= {thr(a):g}"

    q = ci_level / 2 + 0.5
    rows = []
    for out, frame in frames.items():
        for a_key in arms:
            sub = frame[frame[arm].isin([a_key, control])]
            ok = sub[["_pre", "_post", *covariates]].notna().all(axis=1)
            sub = sub[ok].reset_index(drop=True)
            t = (sub[arm] == a_key).to_numpy(dtype=float)
            raw = pd.to_numeric(sub[rule_col].astype("Float64"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            d = raw.copy() if complied is not None else np.where(np.isnan(raw), np.nan, (raw >= thr(a_key) - 1e-12))
            d = np.where(t == 0, 0.0, d)
            unknown = (t == 1) & np.isnan(d)
            n_unknown = int(unknown.sum())
            if n_unknown:
                if missing_dose == "error":
                    raise DataValidationError(
                        f"{func}: {n_unknown} participant(s) of arm {a_key!r} have no '{rule_col}' value, so whether "
                        f"they received the model is unknown (first: {sub.loc[unknown, participant].iloc[0]!r}). "
                        "Pass missing_dose='drop' or 'noncomplier'.")
                if missing_dose == "drop":
                    keep = ~unknown
                    sub, t, d = sub[keep].reset_index(drop=True), t[keep], d[keep]
                else:
                    d = np.where(unknown, 0.0, d)
            if t.sum() < 2 or (1 - t).sum() < 2:
                raise AnalysisError(f"{func}: arm {a_key!r} vs {control!r} has too few complete participants "
                                    f"({int(t.sum())} and {int((1 - t).sum())}) for outcome {out!r}.")
            cov_x, _ = _covariate_block(func, sub, covariates)
            z = np.column_stack([np.ones(len(sub)), sub["_pre"].to_numpy(dtype=float), cov_x])
            y = sub["_post"].to_numpy(dtype=float)
            codes = None
            if cluster:
                lab = sub[cluster].astype(object)
                lab = lab.where(lab.notna(), "\0solo:" + sub[participant].astype(str))
                codes = pd.factorize(lab.astype(str))[0]
            wmat = np.column_stack([t, z])
            if np.linalg.matrix_rank(wmat) < wmat.shape[1]:
                raise AnalysisError(f"{func}: the model for arm {a_key!r}, outcome {out!r} has redundant terms "
                                    "(a covariate is constant or duplicates another).")
            itt = two_stage_least_squares(y, wmat, wmat, cluster=codes)
            first = two_stage_least_squares(d, wmat, wmat, cluster=codes)
            iv = two_stage_least_squares(y, np.column_stack([d, z]), wmat, cluster=codes)
            f_stat = float(first["beta"][0] ** 2 / first["vcov"][0, 0])
            share_t = float(d[t == 1].mean())
            itt_raw = float(y[t == 1].mean() - y[t == 0].mean())
            wald = itt_raw / share_t if share_t > 0 else np.nan
            common = {"outcome": out, "arm": a_key, "n": len(sub), "n_arm": int(t.sum()),
                      "n_compliers": int(np.nansum(d[t == 1])),
                      "n_dose_missing": n_unknown, "n_clusters": itt["n_clusters"],
                      "vcov": "CR2" if cluster else "classical", "rule": rule_text(a_key)}
            for eff, fit in (("itt", itt), ("compliance", first), ("cace", iv)):
                est, se, df = float(fit["beta"][0]), float(np.sqrt(fit["vcov"][0, 0])), float(np.ravel(fit["df"])[0])
                crit = stats.t.ppf(q, df)
                rows.append({**common, "effect": eff, "estimate": est, "se": se, "df": df,
                             "ci_low": est - crit * se, "ci_high": est + crit * se,
                             "p": float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else np.nan,
                             "first_stage_f": f_stat, "wald": wald if eff == "cace" else np.nan})
    cols = ["outcome", "arm", "effect", "estimate", "se", "df", "ci_low", "ci_high", "p", "n", "n_arm", "n_compliers",
            "n_dose_missing", "n_clusters", "vcov", "first_stage_f", "wald", "rule"]
    return table_result(pd.DataFrame(rows, columns=cols), title="Complier average causal effect",
                            method="two-stage least squares with the randomized arm as instrument, beside the intention-to-treat effect")
