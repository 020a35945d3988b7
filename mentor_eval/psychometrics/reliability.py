"""Internal-consistency reliability: Cronbach's alpha (with CIs), McDonald's omega, item statistics.

The numbers follow R's ``psych::alpha`` on complete data: raw alpha from the item
covariance matrix, standardized alpha from the correlation matrix, ``r.drop`` and
``raw.r`` item-total correlations, alpha if an item is dropped, and Feldt's
confidence interval.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import (
    check_columns,
    check_in_interval,
    check_one_of,
    check_positive_int,
    renamed_parameters,
)
from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError

__all__ = ["reliability", "item_stats", "scale_reliability"]

MISSING_POLICIES = ("listwise", "pairwise")
CI_METHODS = ("feldt", "bootstrap")


# --------------------------------------------------------------------------- preparation
@dataclass(frozen=True)
class _Moments:
    """Item covariance matrix and what it was computed from."""

    items: tuple[str, ...]
    cov: np.ndarray  # k x k, divisor n - 1 (pairwise: n_ab - 1)
    mean: np.ndarray
    n_item: np.ndarray  # rows behind each item's mean / variance
    n: int  # listwise: complete rows; pairwise: smallest pairwise count
    n_rows: int
    n_dropped: int
    X: np.ndarray  # the (reverse-keyed) data used, NaN for missing
    missing: str


def _prepare(
    func: str,
    items: pd.DataFrame,
    reverse: Iterable[str],
    scale: tuple[float, float] | None,
    missing: str,
) -> _Moments:
    if not isinstance(items, pd.DataFrame):
        raise ParameterError(
            f"The 'items' parameter of {func} must be a pandas DataFrame with one column per item; "
            f"got {type(items).__name__}."
        )
    check_one_of(func, "missing", missing, MISSING_POLICIES)
    names = tuple(map(str, items.columns))
    if len(set(names)) != len(names):
        raise ParameterError(f"The 'items' parameter of {func} has duplicated column names.")
    k = len(names)
    if k < 2:
        raise ParameterError(
            f"The 'items' parameter of {func} must hold at least two item columns; got {k}. "
            "Reliability of a single item cannot be estimated from internal consistency."
        )
    if isinstance(reverse, str):
        reverse = (reverse,)
    reverse = tuple(map(str, reverse))
    unknown = [r for r in reverse if r not in names]
    if unknown:
        raise ParameterError(
            f"The 'reverse' parameter of {func} names {', '.join(map(repr, unknown))}, not among the item "
            f"columns ({', '.join(names)})."
        )
    if scale is not None:
        if (not isinstance(scale, Sequence) or len(scale) != 2
                or not all(isinstance(v, (int, float, np.integer, np.floating)) for v in scale)
                or not scale[0] < scale[1]):
            raise ParameterError(
                f"The 'scale' parameter of {func} must be a pair (min, max) of numbers with min < max, "
                f"e.g. (1, 5); got {scale!r}."
            )
    if reverse and scale is None:
        raise ParameterError(
            f"The 'scale' parameter of {func} is required when 'reverse' is given: reverse-keying "
            "computes (min + max - x), so give the response scale, e.g. scale=(1, 5)."
        )
    cols = []
    for c in items.columns:
        col = items[c]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise DataValidationError(
                f"Item column {str(c)!r} is not numeric (dtype {col.dtype}); reliability needs numeric "
                "item responses."
            )
        cols.append(col.astype("float64").to_numpy(na_value=np.nan))
    X = np.column_stack(cols) if cols else np.empty((len(items), 0))
    X = np.array(X, dtype=float, copy=True)
    observed = ~np.isnan(X)
    empty = [names[j] for j in range(k) if not observed[:, j].any()]
    if empty:
        raise AnalysisError(
            f"Item column(s) {', '.join(map(repr, empty))} have no answers at all; remove them before "
            "computing reliability."
        )
    if scale is not None:
        lo, hi = float(scale[0]), float(scale[1])
        bad = observed & ((X < lo) | (X > hi))
        if bad.any():
            r, j = np.argwhere(bad)[0]
            raise DataValidationError(
                f"Item column {names[j]!r} holds the value {X[r, j]:g} (row {items.index[r]!r}), outside the response "
                f"scale [{lo:g}, {hi:g}] given in 'scale'; {int(bad.sum())} value(s) are out of range."
            )
        rev = [names.index(r) for r in reverse]
        X[:, rev] = lo + hi - X[:, rev]

    n_rows = X.shape[0]
    if missing == "listwise":
        complete = observed.all(axis=1)
        Xc = X[complete]
        n = int(complete.sum())
        if n < 3:
            raise AnalysisError(
                f"Only {n} of {n_rows} rows answer every item; reliability needs at least 3 complete rows "
                "(consider missing='pairwise')."
            )
        mean = Xc.mean(axis=0)
        cov = np.cov(Xc, rowvar=False, ddof=1)
        n_item = np.full(k, n)
        n_dropped = n_rows - n
        X = Xc
    else:
        any_obs = observed.any(axis=1)
        X = X[any_obs]
        observed = observed[any_obs]
        cov, counts = _pairwise_cov(X, observed, np.ones(X.shape[0]))
        n = int(counts.min())
        if n < 3:
            a, b = np.unravel_index(np.argmin(counts), counts.shape)
            raise AnalysisError(
                f"Items {names[a]!r} and {names[b]!r} are answered together in only {n} rows; pairwise "
                "reliability needs at least 3 rows for every pair of items."
            )
        mean = np.nanmean(X, axis=0)
        n_item = observed.sum(axis=0)
        n_dropped = n_rows - X.shape[0]
    variances = np.diag(cov)
    const = [names[j] for j in range(k) if not variances[j] > 1e-12 * max(1.0, np.abs(mean[j]) ** 2)]
    if const:
        raise AnalysisError(
            f"Item column(s) {', '.join(map(repr, const))} have the same answer for every respondent used "
            "(zero variance); alpha and item correlations are undefined. Remove the item(s)."
        )
    return _Moments(names, cov, mean, n_item, n, n_rows, n_dropped, X, missing)


def _pairwise_cov(X: np.ndarray, observed: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete covariances (divisor n_ab - 1) with case weights ``w`` (bootstrap counts)."""
    M = observed.astype(float)
    Z = np.where(observed, X, 0.0)
    WM = M * w[:, None]
    n_ab = WM.T @ M
    s_a_given_b = (Z * w[:, None]).T @ M  # sum of x_a over rows where b is observed
    cross = (Z * w[:, None]).T @ Z
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = (cross - s_a_given_b * s_a_given_b.T / n_ab) / (n_ab - 1)
    return cov, n_ab


# --------------------------------------------------------------------------- formulas
def _alpha_from_cov(cov: np.ndarray) -> float:
    k = cov.shape[0]
    return k / (k - 1) * (1.0 - np.trace(cov) / cov.sum())


def _cor(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def _feldt(alpha: float, n: int, k: int, level: float) -> tuple[float, float]:
    """Feldt (1965): (1 - alpha) / (1 - alpha_hat) ~ F(n - 1, (n - 1)(k - 1))."""
    a = 1.0 - level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    low = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - a / 2, df1, df2)
    high = 1.0 - (1.0 - alpha) * stats.f.ppf(a / 2, df1, df2)
    return low, high


def _bootstrap_alpha(m: _Moments, n_boot: int, level: float, seed) -> tuple[float, float]:
    """Percentile bootstrap of raw alpha, resampling respondents; vectorised over draws."""
    rng = np.random.default_rng(seed)
    X = m.X
    n_rows, k = X.shape
    observed = ~np.isnan(X)
    # a resample is a vector of case counts; draws are processed in chunks so the count
    # matrix stays near 5 million numbers
    chunk = max(1, min(n_boot, int(5e6 // max(n_rows, 1))))
    alphas = np.empty(n_boot)
    if m.missing == "listwise":
        # alpha needs only the item variances and the variance of the total score; centring
        # first keeps the one-pass variance formula accurate
        Z = X - X.mean(axis=0)
        Z = np.column_stack([Z, Z.sum(axis=1)])
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        rows = rng.integers(0, n_rows, size=(b, n_rows))
        if m.missing == "listwise":
            flat = (rows + (np.arange(b) * n_rows)[:, None]).ravel()
            W = np.bincount(flat, minlength=b * n_rows).reshape(b, n_rows).astype(float)
            m1 = W @ Z / n_rows
            var = (W @ (Z * Z) / n_rows - m1**2) * (n_rows / (n_rows - 1))
            alphas[done:done + b] = k / (k - 1) * (1.0 - var[:, :k].sum(axis=1) / var[:, k])
        else:
            for r in range(b):  # pairwise covariances need per-draw pair counts
                w = np.bincount(rows[r], minlength=n_rows).astype(float)
                cov, _ = _pairwise_cov(X, observed, w)
                alphas[done + r] = _alpha_from_cov(cov)
        done += b
    a = 1.0 - level
    finite = alphas[np.isfinite(alphas)]
    lo, hi = np.quantile(finite, [a / 2, 1 - a / 2])
    return float(lo), float(hi)


def _omega(cov: np.ndarray, n: int) -> tuple[float, str]:
    from mentor_eval.psychometrics.cfa import one_factor_ml

    k = cov.shape[0]
    if k < 3:
        return np.nan, "omega_total needs at least 3 items (a one-factor model of 2 items is not identified)"
    try:
        lam, theta, ok = one_factor_ml(cov, n)
    except AnalysisError as exc:
        return np.nan, f"omega_total not estimated: {exc}"
    if not ok:
        return np.nan, "omega_total not estimated: the one-factor model did not converge"
    s = lam.sum() ** 2
    omega = float(s / (s + theta.sum()))
    note = ""
    if np.any(theta < 0):
        note = "one-factor model has a negative residual variance (Heywood case); omega_total is unreliable"
    return omega, note


# --------------------------------------------------------------------------- public API
@renamed_parameters({"ci": "ci_level"})
def reliability(
    items: pd.DataFrame,
    reverse: Iterable[str] = (),
    scale: tuple[float, float] | None = None,
    ci_level: float = 0.95,
    missing: str = "listwise",
    method: str = "feldt",
    n_boot: int = 2000,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Cronbach's alpha with a confidence interval, standardized alpha, omega and mean inter-item r.

    Parameters
    ----------
    items : DataFrame
        One column per item (numeric; nullable ``Int64`` is fine), one row per respondent.
        Every column is used.
    reverse : iterable of str, default ()
        Item columns to reverse-key as ``min + max - x`` before anything is computed.
    scale : (min, max), optional
        The response scale; required when ``reverse`` is not empty. When given, values
        outside it raise :class:`~mentor_eval.errors.DataValidationError`.
    ci_level : float, default 0.95
        Confidence level of the interval for alpha.
    missing : {"listwise", "pairwise"}, default "listwise"
        ``listwise``: only respondents who answered every item are used (``n`` of them).
        ``pairwise``: each covariance uses the respondents who answered both items (divisor
        :math:`n_{ab} - 1`); rows with no answer at all are dropped; ``n`` is then the
        smallest pairwise count (used for the Feldt interval, so it is conservative).
    method : {"feldt", "bootstrap"}, default "feldt"
        ``feldt``: the F-distribution interval of Feldt (1965), as printed by ``psych::alpha``.
        ``bootstrap``: percentile interval of raw alpha over ``n_boot`` resamples of respondents.
    n_boot : int, default 2000
        Bootstrap resamples (``method="bootstrap"`` only).
    seed : int or numpy Generator, optional
        Seed of the bootstrap, for reproducible intervals.

    Returns
    -------
    DataFrame, one row:
        ``n`` respondents used (see ``missing``); ``n_dropped`` rows not used (listwise: any
        item missing; pairwise: every item missing); ``k`` items; ``alpha`` (raw, from
        covariances); ``alpha_std`` (from correlations); ``alpha_ci_low``, ``alpha_ci_high``
        (interval for raw alpha); ``ci_method``; ``omega_total`` (McDonald's omega from a
        one-factor ML model; NaN for two items); ``average_r`` (mean off-diagonal inter-item
        correlation); ``missing`` (policy used); ``note`` (empty, or warnings such as a
        negative alpha or an unavailable omega).

    Warns
    -----
    UserWarning
        When alpha is negative: items are then negatively correlated on average, which
        usually means reverse-keyed items were not reversed.

    Notes
    -----
    With item covariance matrix :math:`C` (divisor :math:`n-1`), correlation matrix
    :math:`R` and :math:`k` items:

    * raw alpha :math:`\\alpha = \\frac{k}{k-1}\\left(1 - \\frac{\\operatorname{tr} C}{\\mathbf 1'C\\mathbf 1}\\right)`
      (``psych::alpha`` ``raw_alpha``), standardized alpha the same formula on :math:`R`
      (``std.alpha``), equal to :math:`k\\bar r / (1 + (k-1)\\bar r)`;
    * Feldt interval: :math:`1 - (1-\\hat\\alpha)F_{1-a/2}` to :math:`1 - (1-\\hat\\alpha)F_{a/2}`
      with :math:`F_q` the quantile of :math:`F(n-1, (n-1)(k-1))`, because
      :math:`(1-\\alpha)/(1-\\hat\\alpha)` follows that distribution (Feldt, 1965);
    * omega total :math:`\\omega = (\\sum\\lambda)^2 / ((\\sum\\lambda)^2 + \\sum\\theta)` with
      loadings :math:`\\lambda` and residual variances :math:`\\theta` of a one-factor model
      fitted by maximum likelihood to :math:`C` (factor variance fixed to 1). This is not
      ``psych::omega``'s default (minres factoring of correlations with a Schmid-Leiman
      step); it is the congeneric-model omega of McDonald (1999), scale-dependent.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    Psychometrika, 16, 297-334.
    Feldt, L. S. (1965). The approximate sampling distribution of Kuder-Richardson
    reliability coefficient twenty. Psychometrika, 30, 357-370.
    McDonald, R. P. (1999). Test theory: A unified treatment. Erlbaum.
    Revelle, W. psych: Procedures for Psychological, Psychometric, and Personality Research
    (function ``alpha``).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 4], "c": [1, 3, 3, 4, 5]})
    >>> round(float(reliability(df)["alpha"].iloc[0]), 4)
    0.9451
    """
    func = "reliability"
    check_in_interval(func, "ci_level", ci_level, 0, 1)
    check_one_of(func, "method", method, CI_METHODS)
    check_positive_int(func, "n_boot", n_boot, minimum=100)
    m = _prepare(func, items, reverse, scale, missing)
    k = len(m.items)
    alpha = float(_alpha_from_cov(m.cov))
    R = _cor(m.cov)
    alpha_std = float(_alpha_from_cov(R))
    average_r = float(R[~np.eye(k, dtype=bool)].mean())
    if method == "feldt":
        low, high = (float(v) for v in _feldt(alpha, m.n, k, ci_level))
    else:
        low, high = _bootstrap_alpha(m, n_boot, ci_level, seed)
    omega, omega_note = _omega(m.cov, m.n)
    notes = []
    if alpha < 0:
        msg = (f"alpha is negative ({alpha:.3f}): the items correlate negatively on average; check that "
               "reverse-keyed items were reversed")
        notes.append(msg)
        warnings.warn(msg + ".", UserWarning, stacklevel=2)
    if omega_note:
        notes.append(omega_note)
    return pd.DataFrame([{
        "n": m.n, "n_dropped": m.n_dropped, "k": k,
        "alpha": alpha, "alpha_std": alpha_std,
        "alpha_ci_low": low, "alpha_ci_high": high, "ci_method": method,
        "omega_total": omega, "average_r": average_r,
        "missing": missing, "note": "; ".join(notes),
    }])


def item_stats(
    items: pd.DataFrame,
    reverse: Iterable[str] = (),
    scale: tuple[float, float] | None = None,
    missing: str = "listwise",
) -> pd.DataFrame:
    """Item statistics as ``psych::alpha``: mean, SD, item-rest and item-total r, alpha if dropped.

    Parameters
    ----------
    items, reverse, scale, missing
        As for :func:`reliability` (reverse-keying is applied first).

    Returns
    -------
    DataFrame, one row per item:
        ``item`` (column name); ``n`` respondents behind the item's mean and SD (listwise:
        complete rows; pairwise: rows answering the item); ``mean``; ``sd`` (divisor n-1);
        ``r_drop`` -- correlation of the item with the sum of the other items (psych
        ``r.drop``); ``alpha_if_dropped`` -- raw alpha of the other items (NaN with two
        items); ``r_total`` -- correlation of the item with the total score including it
        (psych ``raw.r``); ``reversed`` (bool).

    Notes
    -----
    Everything derives from the item covariance matrix :math:`C` (see :func:`reliability`
    for the missing-data policy): with :math:`c_j = \\sum_l C_{jl}` and :math:`T = \\mathbf 1'C\\mathbf 1`,
    ``r_total`` :math:`= c_j/\\sqrt{C_{jj}T}` and ``r_drop`` :math:`= (c_j - C_{jj}) /
    \\sqrt{C_{jj}(T - 2c_j + C_{jj})}`.

    References
    ----------
    Revelle, W. psych (function ``alpha``: ``item.stats`` and ``alpha.drop``).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 4], "c": [1, 3, 3, 4, 5]})
    >>> item_stats(df)["item"].tolist()
    ['a', 'b', 'c']
    """
    func = "item_stats"
    m = _prepare(func, items, reverse, scale, missing)
    C = m.cov
    k = len(m.items)
    var = np.diag(C)
    c = C.sum(axis=1)
    T = C.sum()
    r_total = c / np.sqrt(var * T)
    r_drop = (c - var) / np.sqrt(var * (T - 2 * c + var))
    if k > 2:
        # alpha without item j: its covariance sum is T - 2c_j + C_jj, its trace tr(C) - C_jj
        tr = np.trace(C)
        alpha_drop = (k - 1) / (k - 2) * (1.0 - (tr - var) / (T - 2 * c + var))
    else:
        alpha_drop = np.full(k, np.nan)
    rev = set(map(str, (reverse,) if isinstance(reverse, str) else reverse))
    return pd.DataFrame({
        "item": list(m.items),
        "n": m.n_item.astype(int),
        "mean": m.mean,
        "sd": np.sqrt(var),
        "r_drop": r_drop,
        "alpha_if_dropped": alpha_drop,
        "r_total": r_total,
        "reversed": [i in rev for i in m.items],
    })


_RELIABILITY_COLUMNS = ("n", "n_dropped", "k", "alpha", "alpha_std", "alpha_ci_low", "alpha_ci_high", "ci_method",
                        "omega_total", "average_r", "missing", "note")


@renamed_parameters({"ci": "ci_level"})
def scale_reliability(
    responses: pd.DataFrame,
    instrument,
    columns: str | Mapping[str, str],
    by: Sequence[str] = ("wave", "arm"),
    threshold: float = 0.70,
    participants: pd.DataFrame | None = None,
    *,
    coefficient: str = "alpha",
    missing: str = "listwise",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Reliability of every scale of an instrument within each group (e.g. wave x arm).

    Parameters
    ----------
    responses : DataFrame
        Raw item responses (``participant_id``, ``wave``, item columns), reverse-keyed items
        *not* yet reversed: the instrument's keys are applied here.
    instrument : Instrument
        An instrument definition (:mod:`mentor_eval.instruments`): its ``scales`` give the
        item ids of each scale, ``items`` the reverse keys, ``response_scale`` the range.
    columns : str or mapping
        Column pattern such as ``"ahs_{item}"`` (see ``Instrument.column_names``), or a
        mapping item id -> column name.
    by : sequence of str, default ("wave", "arm")
        Grouping columns; each group gets its own reliability per scale. ``()`` for the
        whole sample. Columns missing from ``responses`` are taken from ``participants``
        (joined on ``participant_id``). Rows with a missing key form their own group.
    threshold : float, default 0.70
        Scales whose coefficient is below it are flagged in ``below_threshold``.
    participants : DataFrame, optional
        Participant table supplying ``by`` columns (such as ``arm``) absent from ``responses``.
    coefficient : {"alpha", "omega_total"}, default "alpha"
        The coefficient compared with ``threshold``.
    missing : {"listwise", "pairwise"}, default "listwise"
        Missing-data policy of :func:`reliability`, applied within each group and scale.
    ci_level : float, default 0.95
        Confidence level of the (Feldt) interval for alpha.

    Returns
    -------
    DataFrame, one row per group and scale:
        the ``by`` columns; ``instrument`` (id); ``scale`` (id); the columns of
        :func:`reliability` (``n``, ``n_dropped``, ``k``, ``alpha``, ``alpha_std``,
        ``alpha_ci_low``, ``alpha_ci_high``, ``ci_method``, ``omega_total``, ``average_r``,
        ``missing``, ``note``); ``below_threshold`` (nullable bool: coefficient < threshold;
        NA when it could not be computed, with the reason in ``note``).

    Notes
    -----
    A group in which a scale cannot be computed (too few complete rows, a constant item)
    gives a row with NaN statistics and the reason in ``note`` rather than an error, so one
    sparse cell does not hide the others. Filler items never enter a scale.

    References
    ----------
    Nunnally, J. C., & Bernstein, I. H. (1994). Psychometric theory (3rd ed.). McGraw-Hill
    (the conventional .70 threshold for research use).

    Examples
    --------
    >>> scale_reliability(responses, load_instrument("adult_hope_scale"), "ahs_{item}",
    ...                   participants=participants)  # doctest: +SKIP
    """
    func = "scale_reliability"
    check_in_interval(func, "threshold", threshold, 0, 1, closed="both")
    check_one_of(func, "coefficient", coefficient, ("alpha", "omega_total"))
    check_one_of(func, "missing", missing, MISSING_POLICIES)
    if not isinstance(responses, pd.DataFrame):
        raise ParameterError(
            f"The 'responses' parameter of {func} must be a pandas DataFrame; got {type(responses).__name__}."
        )
    by = (by,) if isinstance(by, str) else tuple(by)
    for attr in ("id", "scales", "items", "response_scale"):
        if not hasattr(instrument, attr):
            raise ParameterError(
                f"The 'instrument' parameter of {func} must be an Instrument (see load_instrument); "
                f"{type(instrument).__name__} has no {attr!r}."
            )
    if isinstance(columns, str):
        colmap = dict(instrument.column_names(columns))
    elif isinstance(columns, Mapping):
        colmap = {str(k): str(v) for k, v in columns.items()}
    else:
        raise ParameterError(
            f"The 'columns' parameter of {func} must be a pattern like 'ahs_{{item}}' or a mapping item id -> "
            f"column; got {type(columns).__name__}."
        )
    frame = responses
    absent = [b for b in by if b not in frame.columns]
    if absent:
        if participants is None:
            raise ParameterError(
                f"The 'responses' of {func} lack the grouping column(s) {', '.join(map(repr, absent))}; "
                "pass 'participants' holding them (joined on participant_id) or change 'by'."
            )
        check_columns(func, participants, ["participant_id", *absent], what="participants")
        check_columns(func, frame, ["participant_id"], what="responses")
        if participants["participant_id"].duplicated().any():
            raise DataValidationError(
                "The 'participants' table has duplicated participant_id values; each participant must "
                "appear once."
            )
        frame = frame.merge(participants[["participant_id", *absent]], on="participant_id", how="left",
                            validate="many_to_one")
    reverse_ids = {it.id for it in instrument.items if getattr(it, "reverse", False)}
    rs = instrument.response_scale
    scale_range = (rs.min, rs.max)
    needed = []
    for sc in instrument.scales:
        for iid in sc.item_ids:
            if iid not in colmap:
                raise ParameterError(
                    f"The 'columns' mapping of {func} has no column for item {iid!r} of scale {sc.id!r}."
                )
            needed.append(colmap[iid])
    check_columns(func, frame, list(dict.fromkeys(needed)), what="responses")

    groups = [((), frame)] if not by else frame.groupby(list(by), sort=False, dropna=False)
    out = []
    for key, sub in groups:
        key = key if isinstance(key, tuple) else (key,)
        for sc in instrument.scales:
            cols = [colmap[i] for i in sc.item_ids]
            rev = [colmap[i] for i in sc.item_ids if i in reverse_ids]
            row: dict = dict(zip(by, key, strict=True))
            row.update({"instrument": instrument.id, "scale": sc.id})
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # negative alpha is reported in 'note'
                    res = reliability(sub[cols], reverse=rev, scale=scale_range, ci_level=ci_level, missing=missing)
                row.update(res.iloc[0].to_dict())
            except (AnalysisError, ParameterError) as exc:
                row.update({
                    "n": 0, "n_dropped": len(sub), "k": len(cols), "alpha": np.nan, "alpha_std": np.nan,
                    "alpha_ci_low": np.nan, "alpha_ci_high": np.nan, "ci_method": "feldt",
                    "omega_total": np.nan, "average_r": np.nan, "missing": missing,
                    "note": f"not computed: {exc}",
                })
            out.append(row)
    # An empty frame (no rows at these waves, every row quarantined) still has the documented columns.
    result = pd.DataFrame(out, columns=[*by, "instrument", "scale", *_RELIABILITY_COLUMNS]) if not out \
        else pd.DataFrame(out)
    value = result[coefficient]
    result["below_threshold"] = pd.array(
        [pd.NA if pd.isna(v) else bool(v < threshold) for v in value], dtype="boolean"
    )
    return result
