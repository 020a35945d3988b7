"""Meta-analysis: pooling effect sizes across studies (programs).

Random-effects pooling with a REML (default) or DerSimonian-Laird estimate of the
between-study variance tau^2, Wald-z or Knapp-Hartung inference, the prediction interval,
heterogeneity (Q, I^2, H^2), the fixed-effect (common-effect) estimate for comparison,
meta-regression on study-level moderators and leave-one-out influence.

The estimators follow R's metafor ``rma()`` (Viechtbauer 2010) and are checked against it
to 1e-6 (tests/data/meta/make_reference.R).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import check_columns, check_in_interval, check_one_of, renamed_parameters
from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError
from mentor_eval.outcomes.results import Result

__all__ = [
    "meta_analysis",
    "meta_regression",
    "MetaAnalysisResult",
    "MetaRegressionResult",
    "METHODS",
    "TESTS",
    "PREDICTIONS",
]

METHODS = ("REML", "DL", "FE")
TESTS = ("z", "knha")
PREDICTIONS = ("higgins", "metafor")

_TOL = 1e-12
# result columns a grouping column may not shadow
_RESERVED = frozenset({"pooling", "method", "test", "k", "estimate", "se", "z", "t", "df", "p", "ci_low",
                       "ci_high", "pi_low", "pi_high", "pi_df", "tau2", "tau", "se_tau2", "i2", "h2", "q", "q_df",
                       "q_p", "ci_level", "note", "study", "effect", "variance", "weight", "weight_fixed", "shift",
                       "rstudent", "outlier"})
_MAXITER = 10_000


def _z_or_t(stat: Any, df: Any) -> dict[str, Any]:
    """The Wald ratio as ``z`` (normal reference, ``df`` missing) or ``t`` (Knapp-Hartung, finite ``df``)."""
    stat = np.asarray(stat, dtype=float)
    is_t = np.isfinite(np.asarray(df, dtype=float))
    nan = np.full(stat.shape, np.nan)
    z, t = np.where(is_t, nan, stat), np.where(is_t, stat, nan)
    if stat.ndim == 0:
        return {"z": float(z), "t": float(t)}
    return {"z": z, "t": t}


# --------------------------------------------------------------------------------------------
# the engine (arrays in, numbers out)
# --------------------------------------------------------------------------------------------
def _wls(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares: coefficients and their (model-based) covariance (X'WX)^-1."""
    xtw = X.T * w
    vb = np.linalg.inv(xtw @ X)
    return vb @ (xtw @ y), vb


def _p_matrix(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """P = W - W X (X'WX)^-1 X'W (the REML projection)."""
    xtw = X.T * w
    vb = np.linalg.inv(xtw @ X)
    return np.diag(w) - xtw.T @ vb @ xtw


def _tau2_dl(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape
    w = 1.0 / v
    b, _ = _wls(y, X, w)
    q = float(np.sum(w * (y - X @ b) ** 2))
    trp = float(np.trace(_p_matrix(X, w)))
    return max(0.0, (q - (k - p)) / trp)


def _reml_score(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> tuple[float, float]:
    """The Fisher-scoring step's numerator (score x 2) and the expected information (x 2)."""
    P = _p_matrix(X, 1.0 / (v + tau2))
    py = P @ y
    return float(py @ py - np.trace(P)), float(np.sum(P * P))


def _tau2_reml(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> tuple[float, int]:
    """REML tau^2 by Fisher scoring (Viechtbauer 2005, eq. 16), with step halving at zero.

    Returns the estimate and the number of iterations. The maximum lies on the boundary
    when the score at zero is not positive; then tau^2 is exactly 0.
    """
    num0, _ = _reml_score(y, v, X, 0.0)
    if num0 <= 0:
        return 0.0, 0
    tau2 = max(_tau2_dl(y, v, X), 1e-4 * float(np.median(v)))
    for it in range(1, _MAXITER + 1):
        num, info = _reml_score(y, v, X, tau2)
        step = num / info
        new = tau2 + step
        while new < 0:
            step /= 2
            new = tau2 + step
        if abs(new - tau2) <= _TOL * max(1.0, tau2):
            return new, it
        tau2 = new
    raise AnalysisError(f"The REML estimate of tau^2 did not converge in {_MAXITER} iterations.")


def _fit(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, method: str, test: str, ci_level: float,
         prediction: str) -> dict[str, Any]:
    """Fit one (meta-regression) model; every statistic metafor's rma() reports, as a dict."""
    k, p = X.shape
    w_fe = 1.0 / v
    b_fe, _ = _wls(y, X, w_fe)
    qe = float(np.sum(w_fe * (y - X @ b_fe) ** 2))
    df_q = k - p
    trp_fe = float(np.trace(_p_matrix(X, w_fe))) if df_q > 0 else np.nan
    iters = 0
    if method == "FE":
        tau2 = 0.0
    elif df_q < 1:
        raise AnalysisError(f"A random-effects model needs more studies than coefficients; got k={k}, p={p}.")
    elif method == "DL":
        tau2 = _tau2_dl(y, v, X)
    else:
        tau2, iters = _tau2_reml(y, v, X)
    w = 1.0 / (v + tau2)
    b, vb = _wls(y, X, w)
    resid = y - X @ b
    s2_kh = float(np.sum(w * resid**2) / df_q) if df_q > 0 else np.nan
    if test == "knha":
        vb = vb * s2_kh
        df = float(df_q)
    else:
        df = np.nan
    se = np.sqrt(np.diag(vb))
    stat = b / se
    if test == "knha":
        pval = 2 * stats.t.sf(np.abs(stat), df)
        crit = float(stats.t.ppf(0.5 + ci_level / 2, df))
    else:
        pval = 2 * stats.norm.sf(np.abs(stat))
        crit = float(stats.norm.ppf(0.5 + ci_level / 2))
    # heterogeneity (metafor: typical within-study variance (k-p)/tr(P_FE))
    if method == "FE":
        i2 = 100 * max(0.0, (qe - df_q) / qe) if qe > 0 else 0.0
        h2 = qe / df_q if df_q > 0 else np.nan
        se_tau2 = np.nan
    else:
        s2_typ = df_q / trp_fe
        i2 = 100 * tau2 / (tau2 + s2_typ)
        h2 = (tau2 + s2_typ) / s2_typ
        if method == "REML":
            P = _p_matrix(X, w)
            se_tau2 = float(np.sqrt(2 / np.sum(P * P)))
        else:
            se_tau2 = np.nan
    # omnibus test of the moderators (all coefficients but the intercept)
    m_idx = np.arange(1, p)
    if len(m_idx):
        bm, vm = b[m_idx], vb[np.ix_(m_idx, m_idx)]
        qm = float(bm @ np.linalg.solve(vm, bm))
        if test == "knha":
            qm = qm / len(m_idx)
            qm_p = float(stats.f.sf(qm, len(m_idx), df_q))
        else:
            qm_p = float(stats.chi2.sf(qm, len(m_idx)))
    else:
        qm, qm_p = np.nan, np.nan
    # restricted log-likelihood (metafor's REMLf = TRUE form)
    if method == "REML":
        xtwx = (X.T * w) @ X
        ll = float(-0.5 * df_q * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(X.T @ X)[1]
                   - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * np.linalg.slogdet(xtwx)[1]
                   - 0.5 * np.sum(w * resid**2))
    else:
        ll = np.nan
    # prediction interval for the intercept-only model
    pi_low = pi_high = np.nan
    pi_df = np.nan
    if p == 1:
        ddf = df_q
        if prediction == "higgins":
            # metafor pi.type="riley": df = k - p - (1 if tau^2 is estimated); at least 1
            pi_df = float(max(1, ddf - (0 if method == "FE" else 1)))
            pcrit = float(stats.t.ppf(0.5 + ci_level / 2, pi_df))
        else:
            pcrit = crit
            pi_df = df
        half = pcrit * np.sqrt(se[0] ** 2 + tau2)
        pi_low, pi_high = float(b[0] - half), float(b[0] + half)
    return {
        "b": b, "se": se, "stat": stat, "p": pval, "ci_low": b - crit * se, "ci_high": b + crit * se,
        "vb": vb, "df": df, "tau2": float(tau2), "se_tau2": se_tau2, "i2": float(i2), "h2": float(h2),
        "q": qe, "q_df": df_q, "q_p": float(stats.chi2.sf(qe, df_q)) if df_q > 0 else np.nan,
        "qm": qm, "qm_p": qm_p, "qm_df": len(m_idx), "pi_low": pi_low, "pi_high": pi_high, "pi_df": pi_df,
        "loglik": ll, "iterations": iters, "weights": w / w.sum() * 100, "k": k, "n_coef": p, "crit": crit,
        "s2w": s2_kh if test == "knha" else 1.0,
    }


def _leave_one_out(y: np.ndarray, v: np.ndarray, *, method: str, test: str, ci_level: float,
                   prediction: str) -> dict[str, np.ndarray]:
    """Refit without each study; metafor's leave1out() and rstudent() (intercept-only)."""
    k = len(y)
    keys = ("estimate", "se", "p", "ci_low", "ci_high", "tau2", "i2", "q", "rstudent")
    out = {key: np.full(k, np.nan) for key in keys}
    one = np.ones((k - 1, 1))
    for i in range(k):
        keep = np.arange(k) != i
        f = _fit(y[keep], v[keep], one, method=method, test=test, ci_level=ci_level, prediction=prediction)
        out["estimate"][i] = f["b"][0]
        out["se"][i] = f["se"][0]
        out["p"][i] = f["p"][0]
        out["ci_low"][i] = f["ci_low"][0]
        out["ci_high"][i] = f["ci_high"][0]
        out["tau2"][i] = f["tau2"]
        out["i2"][i] = f["i2"]
        out["q"][i] = f["q"]
        # model-based variance of the deleted residual (Viechtbauer & Cheung 2010), also under
        # Knapp-Hartung: its scale factor from k-1 studies can be near zero and inflate residuals
        se_z = 1 / np.sqrt(np.sum(1 / (v[keep] + f["tau2"])))
        out["rstudent"][i] = (y[i] - f["b"][0]) / np.sqrt(v[i] + f["tau2"] + se_z**2)
    return out


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _check_inputs(func: str, frame: pd.DataFrame, effect: str, variance: str, *, method: str, test: str,
                  ci_level: float, prediction: str | None = None) -> None:
    check_columns(func, frame, [effect, variance], what="frame")
    check_one_of(func, "method", method, METHODS)
    check_one_of(func, "test", test, TESTS)
    if prediction is not None:
        check_one_of(func, "prediction", prediction, PREDICTIONS)
    check_in_interval(func, "ci_level", ci_level, 0, 1)
    for col, rule in ((effect, "a finite number"), (variance, "a finite number > 0")):
        vals = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(vals) if col == effect else ~(np.isfinite(vals) & (vals > 0))
        if bad.any():
            pos = np.flatnonzero(bad)
            raw = frame[col].to_list()
            shown = ", ".join(f"row {frame.index[j]!r} ({raw[j]!r})" for j in pos[:5])
            more = f" and {len(pos) - 5} more" if len(pos) > 5 else ""
            raise DataValidationError(
                f"{func}: column {col!r} must hold {rule} in every row; it does not in {shown}{more}. "
                "Drop those studies explicitly (and say so) or fix their effect sizes."
            )


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------------------------
# meta_analysis
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetaAnalysisResult(Result):
    """Result of :func:`meta_analysis` (tidy DataFrames; columns documented there)."""

    title: ClassVar[str] = "Meta-analysis"
    headline: ClassVar[str] = "pooled"

    pooled: pd.DataFrame
    studies: pd.DataFrame
    leave_one_out: pd.DataFrame
    by: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return f"{self.settings.get('method', '')} pooling, {self.settings.get('test', '')} test"

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(str(n) for n in pd.unique(self.pooled.get("note", pd.Series(dtype=object)).dropna()) if str(n))

    def random(self) -> pd.DataFrame:
        """The random-effects rows of :attr:`pooled` (the fixed-effect ones when method='FE')."""
        return self.pooled[self.pooled["pooling"] == ("fixed" if self.settings.get("method") == "FE" else "random")]

    def summary(self) -> str:
        """A short plain-text account of each pooled estimate."""
        lines = [f"Meta-analysis ({self.settings.get('method')}, test={self.settings.get('test')}, "
                 f"{100 * self.settings.get('ci_level', 0.95):g}% intervals)"]
        for _, r in self.pooled.iterrows():
            key = ", ".join(f"{b}={r[b]}" for b in self.by)
            head = f"[{key}] " if key else ""
            lines.append(
                f"{head}{r['pooling']}: k={int(r['k'])}, estimate={r['estimate']:.3f} "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}], p={r['p']:.3g}, tau^2={r['tau2']:.4f}, "
                f"I^2={r['i2']:.1f}%, Q({r['q_df']:.0f})={r['q']:.2f} (p={r['q_p']:.3g}), "
                f"PI [{r['pi_low']:.3f}, {r['pi_high']:.3f}]"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@renamed_parameters({"level": "ci_level"})
def meta_analysis(
    frame: pd.DataFrame,
    *,
    effect: str = "g",
    variance: str = "variance",
    by: str | Sequence[str] | None = None,
    study: str | None = None,
    method: str = "REML",
    test: str = "z",
    ci_level: float = 0.95,
    prediction: str = "higgins",
    leave_one_out: bool = True,
) -> MetaAnalysisResult:
    """Pool effect sizes across studies with a random-effects (and a fixed-effect) model.

    Parameters
    ----------
    frame : DataFrame
        One row per study (program) and group, holding an effect size and its sampling variance.
    effect, variance : str
        Columns of the effect size (e.g. Hedges g) and its sampling variance (SE squared, > 0).
    by : str or list of str, optional
        Columns whose combinations are pooled separately (e.g. ``["model", "outcome"]``).
    study : str, optional
        Column naming each study (default: the frame's index).
    method : {"REML", "DL", "FE"}
        Estimator of tau^2: restricted maximum likelihood (Fisher scoring, converged to 1e-12),
        DerSimonian-Laird, or none (fixed-effect only).
    test : {"z", "knha"}
        Wald-z inference, or Knapp-Hartung (t with k-1 df and the KH scale factor, untruncated).
    ci_level : float
        Confidence level of every interval.
    prediction : {"higgins", "metafor"}
        Prediction interval: ``"higgins"`` uses t with k-2 df (Higgins, Thompson & Spiegelhalter
        2009; metafor's ``predict(..., pi.type="riley")``); ``"metafor"`` uses metafor's default
        critical value, the one of the confidence interval (z for test="z", t with k-1 df for
        test="knha").
    leave_one_out : bool
        Compute leave-one-out refits (needs k >= 3 within a group).

    Returns
    -------
    MetaAnalysisResult
        ``pooled``: one row per group x ``pooling`` ("random", "fixed") with the ``by`` columns,
        ``pooling``, ``method``, ``test``, ``k``, ``estimate``, ``se``, ``z`` (Wald z; missing
        under Knapp-Hartung) or ``t`` (Knapp-Hartung t; missing under z), ``df`` (NaN for z), ``p``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high``, ``pi_df`` (df of the
        prediction interval's t, NaN for z), ``tau2``, ``tau``, ``se_tau2`` (REML only), ``i2`` (%),
        ``h2``, ``q``, ``q_df``, ``q_p``, ``ci_level``, ``note`` (why a statistic is missing).
        ``studies``: one row per study with the ``by`` columns, ``study``, ``effect``, ``variance``,
        ``se``, ``ci_low``, ``ci_high`` (normal-theory), ``weight`` and ``weight_fixed`` (% of the
        group's total). ``leave_one_out``: one row per group x omitted study with ``study``,
        ``estimate``, ``se``, ``p``, ``ci_low``, ``ci_high``, ``tau2``, ``i2``, ``q`` (of the refit
        without that study), ``shift`` (refit minus full estimate), ``rstudent`` (studentized deleted
        residual: (y_i - mu_(-i)) / sqrt(v_i + tau^2_(-i) + SE_(-i)^2) with the model-based SE, as
        metafor's rstudent() for test="z", whatever ``test``) and ``outlier`` (|rstudent| beyond the
        normal critical value of ``ci_level``).

    Notes
    -----
    With weights w_i = 1/(v_i + tau^2) the pooled estimate is mu = sum(w y)/sum(w), its SE
    1/sqrt(sum w). REML maximises the restricted likelihood by Fisher scoring,
    tau^2 <- tau^2 + (y'PPy - tr P)/tr(PP) (Viechtbauer 2005); DL is
    max(0, (Q - (k-1))/(sum w - sum w^2/sum w)). Knapp-Hartung multiplies the variance by
    sum w (y - mu)^2/(k-1) and uses t(k-1). Q = sum (y - mu_FE)^2/v_i with k-1 df;
    I^2 = tau^2/(tau^2 + s^2) and H^2 = (tau^2 + s^2)/s^2, s^2 = (k-1)/(sum w - sum w^2/sum w)
    the typical within-study variance (metafor's definitions; for the fixed-effect row
    I^2 = (Q - df)/Q and H^2 = Q/df). The prediction interval is mu +/- crit sqrt(tau^2 + SE^2)
    with SE the one of the confidence interval (Knapp-Hartung's under test="knha").
    A group with one study reports that study's effect and no heterogeneity (``note`` says so).
    Missing data: a missing or non-finite effect or a non-positive variance is an error (no study is
    dropped silently).

    References
    ----------
    Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Research Synthesis Methods 1, 112-125.
    DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Controlled Clinical Trials 7, 177-188.
    Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a single
    covariate. Statistics in Medicine 22, 2693-2710.
    Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Statistics in
    Medicine 21, 1539-1558.
    Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation of random-effects
    meta-analysis. JRSS A 172, 137-159.
    Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. J Educ Behav Stat 30, 261-293.
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).

    Example
    -------
    >>> import pandas as pd
    >>> from mentor_eval import meta_analysis
    >>> d = pd.DataFrame({"g": [0.1, 0.3, 0.5, 0.2], "variance": [0.02, 0.03, 0.04, 0.02]})
    >>> res = meta_analysis(d, effect="g", variance="variance")
    >>> round(float(res.random()["estimate"].iloc[0]), 3)
    0.237
    """
    func = "meta_analysis"
    by_cols = _as_list(by)
    _check_inputs(func, frame, effect, variance, method=method, test=test, ci_level=ci_level, prediction=prediction)
    if by_cols:
        check_columns(func, frame, by_cols, what="frame")
        clash = sorted(set(by_cols) & _RESERVED)
        if clash:
            raise ParameterError(f"The 'by' parameter of meta_analysis must not name a result column "
                                 f"({', '.join(sorted(_RESERVED))}); got {clash}. Rename that column first.")
    if study is not None:
        check_columns(func, frame, [study], what="frame")
    data = frame.copy()
    data["_study"] = data[study].astype(str) if study is not None else data.index.astype(str)
    zcrit = float(stats.norm.ppf(0.5 + ci_level / 2))
    pooled_rows: list[dict[str, Any]] = []
    study_frames: list[pd.DataFrame] = []
    loo_frames: list[pd.DataFrame] = []
    groups = data.groupby(by_cols, sort=True, dropna=False) if by_cols else [((), data)]
    for key, g in groups:
        keyd = dict(zip(by_cols, key if isinstance(key, tuple) else (key,), strict=True))
        y = g[effect].to_numpy(dtype=float)
        v = g[variance].to_numpy(dtype=float)
        k = len(y)
        one = np.ones((k, 1))
        fits: dict[str, dict[str, Any]] = {}
        note = ""
        if k == 1:
            note = "one study: nothing to pool, no heterogeneity"
            se = float(np.sqrt(v[0]))
            single = {"b": y, "se": np.array([se]), "stat": y / se, "p": 2 * stats.norm.sf(np.abs(y / se)),
                      "ci_low": y - zcrit * se, "ci_high": y + zcrit * se, "df": np.nan, "tau2": np.nan,
                      "se_tau2": np.nan, "i2": np.nan, "h2": np.nan, "q": 0.0, "q_df": 0, "q_p": np.nan,
                      "pi_low": np.nan, "pi_high": np.nan, "pi_df": np.nan, "weights": np.array([100.0])}
            fits = {"random": single, "fixed": single} if method != "FE" else {"fixed": single}
        else:
            fixed = _fit(y, v, one, method="FE", test=test, ci_level=ci_level, prediction=prediction)
            if method != "FE":
                fits["random"] = _fit(y, v, one, method=method, test=test, ci_level=ci_level, prediction=prediction)
            fits["fixed"] = fixed
        for model, f in fits.items():
            pooled_rows.append({
                **keyd, "pooling": model, "method": "FE" if model == "fixed" else method, "test": test, "k": k,
                "estimate": float(f["b"][0]), "se": float(f["se"][0]), **_z_or_t(f["stat"][0], f["df"]),
                "df": f["df"], "p": float(f["p"][0]), "ci_low": float(f["ci_low"][0]),
                "ci_high": float(f["ci_high"][0]), "pi_low": f["pi_low"], "pi_high": f["pi_high"],
                "pi_df": f["pi_df"], "tau2": f["tau2"], "tau": float(np.sqrt(f["tau2"])),
                "se_tau2": f["se_tau2"], "i2": f["i2"], "h2": f["h2"], "q": f["q"], "q_df": f["q_df"],
                "q_p": f["q_p"], "ci_level": ci_level, "note": note,
            })
        main = fits.get("random", fits["fixed"])
        sse = np.sqrt(v)
        sf = pd.DataFrame({**{c: [keyd[c]] * k for c in by_cols}, "study": g["_study"].to_numpy(),
                           "effect": y, "variance": v, "se": sse, "ci_low": y - zcrit * sse,
                           "ci_high": y + zcrit * sse, "weight": main["weights"],
                           "weight_fixed": fits["fixed"]["weights"]})
        study_frames.append(sf)
        if leave_one_out and k >= 3:
            lo = _leave_one_out(y, v, method=method, test=test, ci_level=ci_level, prediction=prediction)
            lf = pd.DataFrame({**{c: [keyd[c]] * k for c in by_cols}, "study": g["_study"].to_numpy(), **lo})
            lf.insert(len(by_cols) + 6, "shift", lf["estimate"] - float(main["b"][0]))
            lf["outlier"] = np.abs(lf["rstudent"]) > zcrit
            loo_frames.append(lf)
    loo_cols = [*by_cols, "study", "estimate", "se", "p", "ci_low", "ci_high", "shift", "tau2", "i2", "q",
                "rstudent", "outlier"]
    loo = pd.concat(loo_frames, ignore_index=True) if loo_frames else pd.DataFrame(
        {c: pd.Series(dtype=bool if c == "outlier" else float if c not in (*by_cols, "study") else object)
         for c in loo_cols})
    return MetaAnalysisResult(
        pooled=pd.DataFrame(pooled_rows), studies=pd.concat(study_frames, ignore_index=True),
        leave_one_out=loo[loo_cols], by=tuple(by_cols),
        settings={"method": method, "test": test, "ci_level": ci_level, "prediction": prediction,
                  "effect": effect, "variance": variance},
    )


# --------------------------------------------------------------------------------------------
# meta_regression
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetaRegressionResult(Result):
    """Result of :func:`meta_regression` (tidy DataFrames; columns documented there)."""

    title: ClassVar[str] = "Meta-regression"
    headline: ClassVar[str] = "coefficients"

    coefficients: pd.DataFrame
    fit: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return f"{self.settings.get('method', '')} mixed-effects meta-regression, {self.settings.get('test', '')} test"

    @property
    def notes(self) -> tuple[str, ...]:
        return ()

    def summary(self) -> str:
        """The coefficient table and the fit statistics as plain text."""
        f = self.fit.iloc[0]
        head = (f"Meta-regression ({f['method']}, test={f['test']}): k={int(f['k'])}, tau^2={f['tau2']:.4f}, "
                f"I^2={f['i2']:.1f}%, R^2={f['r2']:.1f}%, QE({int(f['qe_df'])})={f['qe']:.2f} "
                f"(p={f['qe_p']:.3g}), moderators test={f['qm']:.2f} (p={f['qm_p']:.3g})")
        return head + "\n" + self.coefficients.to_string(index=False)

    def __str__(self) -> str:
        return self.summary()


def _design(frame: pd.DataFrame, moderators: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Intercept plus numeric moderators as they are and categorical ones as treatment dummies."""
    cols: list[np.ndarray] = [np.ones(len(frame))]
    names = ["intercept"]
    for m in moderators:
        s = frame[m]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            if s.isna().any():
                rows = ", ".join(map(repr, list(frame.index[s.isna()])[:5]))
                raise DataValidationError(f"meta_regression: moderator {m!r} is missing in row(s) {rows}.")
            cat = s.astype("category") if not isinstance(s.dtype, pd.CategoricalDtype) else s
            levels = [lv for lv in cat.cat.categories if (cat == lv).any()]
            # the first level (sorted, or the categorical order) is the reference, as in R
            for lv in levels[1:]:
                cols.append((cat == lv).to_numpy(dtype=float))
                names.append(f"{m}[{lv}]")
        else:
            x = s.to_numpy(dtype=float)
            if not np.isfinite(x).all():
                rows = ", ".join(map(repr, list(frame.index[~np.isfinite(x)])[:5]))
                raise DataValidationError(f"meta_regression: moderator {m!r} is missing in row(s) {rows}.")
            cols.append(x)
            names.append(m)
    return np.column_stack(cols), names


@renamed_parameters({"level": "ci_level"})
def meta_regression(
    frame: pd.DataFrame,
    moderators: str | Sequence[str],
    *,
    effect: str = "g",
    variance: str = "variance",
    method: str = "REML",
    test: str = "knha",
    ci_level: float = 0.95,
) -> MetaRegressionResult:
    """Mixed-effects meta-regression of effect sizes on study-level moderators.

    Parameters
    ----------
    frame : DataFrame
        One row per study with the effect size, its variance and the moderators.
    moderators : str or list of str
        Study-level moderators. Numeric columns enter linearly; text, boolean and categorical
        columns (e.g. the mentorship model's format: dyad, group, community) as treatment dummies
        against their first level.
    effect, variance : str
        Columns of the effect size and its sampling variance.
    method : {"REML", "DL", "FE"}
        Estimator of the residual heterogeneity tau^2.
    test : {"knha", "z"}
        Knapp-Hartung (t and F with k-p df; the default, recommended for few studies) or Wald z / chi^2.
    ci_level : float
        Confidence level.

    Returns
    -------
    MetaRegressionResult
        ``coefficients``: ``term`` ("intercept", a numeric moderator's name, or ``name[level]``),
        ``estimate``, ``se``, ``z`` or ``t`` (as in :func:`meta_analysis`), ``df`` (NaN for z), ``p``,
        ``ci_low``, ``ci_high``.
        ``fit`` (one row): ``k``, ``n_coef``, ``method``, ``test``, ``tau2`` (residual), ``tau``,
        ``i2`` (residual, %), ``h2``, ``r2`` (% of tau^2 explained, against the model without
        moderators, floored at 0; NaN when that tau^2 is 0), ``qe``, ``qe_df``, ``qe_p`` (residual
        heterogeneity), ``qm``, ``qm_df``, ``qm_df2`` (F denominator df under knha, else NaN),
        ``qm_p`` (omnibus test of the moderators: chi^2 for z, F for knha).

    Notes
    -----
    The model is y_i = x_i'b + u_i + e_i, u_i ~ N(0, tau^2), e_i ~ N(0, v_i); b is estimated by
    weighted least squares with weights 1/(v_i + tau^2), tau^2 by REML Fisher scoring
    (Viechtbauer 2005) or the generalised DerSimonian-Laird estimator. Knapp-Hartung scales the
    covariance by sum w r^2/(k-p). Definitions follow metafor's rma(mods=...). Missing data: a
    study missing its effect, variance or a moderator is an error, never dropped.

    References
    ----------
    Knapp G, Hartung J (2003). Statistics in Medicine 22, 2693-2710.
    Viechtbauer W (2010). J Stat Softw 36(3).
    Thompson SG, Higgins JPT (2002). How should meta-regression analyses be undertaken and
    interpreted? Statistics in Medicine 21, 1559-1573.

    Example
    -------
    >>> import pandas as pd
    >>> from mentor_eval.outcomes.meta import meta_regression
    >>> d = pd.DataFrame({"g": [0.1, 0.3, 0.5, 0.2, 0.4], "variance": [0.02, 0.03, 0.04, 0.02, 0.03],
    ...                   "format": ["dyad", "group", "group", "dyad", "group"]})
    >>> res = meta_regression(d, "format")
    >>> list(res.coefficients["term"])
    ['intercept', 'format[group]']
    """
    func = "meta_regression"
    mods = _as_list(moderators)
    if not mods:
        raise ParameterError("The 'moderators' parameter of meta_regression must name at least one column; got [].")
    _check_inputs(func, frame, effect, variance, method=method, test=test, ci_level=ci_level)
    check_columns(func, frame, mods, what="frame")
    X, names = _design(frame, mods)
    k, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise AnalysisError(f"meta_regression: the moderators {mods} are collinear (or a level never varies); "
                            "drop or merge some.")
    if k <= p:
        raise AnalysisError(f"meta_regression needs more studies than coefficients; got k={k} studies and "
                            f"{p} coefficients ({', '.join(names)}).")
    y = frame[effect].to_numpy(dtype=float)
    v = frame[variance].to_numpy(dtype=float)
    f = _fit(y, v, X, method=method, test=test, ci_level=ci_level, prediction="higgins")
    coefs = pd.DataFrame({"term": names, "estimate": f["b"], "se": f["se"], **_z_or_t(f["stat"], f["df"]),
                          "df": f["df"],
                          "p": f["p"], "ci_low": f["ci_low"], "ci_high": f["ci_high"]})
    if method == "FE":
        r2 = np.nan
    else:
        tau2_0 = _fit(y, v, np.ones((k, 1)), method=method, test=test, ci_level=ci_level, prediction="higgins")["tau2"]
        r2 = max(0.0, 100 * (tau2_0 - f["tau2"]) / tau2_0) if tau2_0 > 0 else np.nan
    fit = pd.DataFrame([{
        "k": k, "n_coef": p, "method": method, "test": test, "tau2": f["tau2"], "tau": float(np.sqrt(f["tau2"])),
        "i2": f["i2"], "h2": f["h2"], "r2": r2, "qe": f["q"], "qe_df": f["q_df"], "qe_p": f["q_p"],
        "qm": f["qm"], "qm_df": f["qm_df"], "qm_df2": float(k - p) if test == "knha" else np.nan,
        "qm_p": f["qm_p"],
    }])
    return MetaRegressionResult(coefficients=coefs, fit=fit,
                                settings={"method": method, "test": test, "ci_level": ci_level, "moderators": mods})
