"""Multiplicity adjustment of p-values, identical to R's ``p.adjust``.

Two entry points:

- :func:`adjust_pvalues` adjusts one vector of p-values (one family).
- :func:`adjust_family` adds ``p_adj``, ``adjust`` and ``family`` columns to a tidy results
  frame, adjusting within each family defined by key columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mentor_eval._params import check_columns
from mentor_eval.errors import ParameterError

__all__ = ["adjust_pvalues", "adjust_family", "P_ADJUST_METHODS"]

#: Canonical method names (lower case) and the aliases accepted for them.
P_ADJUST_METHODS: dict[str, str] = {
    "none": "none",
    "bonferroni": "bonferroni",
    "holm": "holm",
    "hochberg": "hochberg",
    "hommel": "hommel",
    "bh": "bh",
    "fdr": "bh",
    "benjamini-hochberg": "bh",
    "by": "by",
    "benjamini-yekutieli": "by",
}


def _canonical_method(func: str, method: str) -> str:
    key = str(method).lower() if isinstance(method, str) else method
    if key not in P_ADJUST_METHODS:
        shown = ", ".join(repr(m) for m in ("holm", "hochberg", "hommel", "bonferroni", "bh", "by", "none"))
        raise ParameterError(f"The 'method' parameter of {func} must be one of {shown}; got {method!r}.")
    return P_ADJUST_METHODS[key]


def _adjust_sorted(p: np.ndarray, method: str, n: int) -> np.ndarray:
    """Adjust non-missing p-values ``p`` (any order) with family size ``n`` (R's algorithm)."""
    lp = p.size
    if method == "none" or n <= 1:
        return p.copy()
    if method == "hommel" and n == 2:
        method = "hochberg"
    if method == "bonferroni":
        return np.minimum(1.0, n * p)
    if method == "holm":
        # stable ascending order, like R's order()
        o = np.argsort(p, kind="stable")
        i = np.arange(1, lp + 1)
        adj = np.minimum(1.0, np.maximum.accumulate((n - i + 1) * p[o]))
        out = np.empty(lp)
        out[o] = adj
        return out
    if method in ("hochberg", "bh", "by"):
        # descending order; R's order(decreasing=TRUE) keeps ties in their original order
        o = np.argsort(-p, kind="stable")
        i = np.arange(lp, 0, -1)
        if method == "hochberg":
            factor = n - i + 1
        elif method == "bh":
            factor = n / i
        else:
            q = np.sum(1.0 / np.arange(1, n + 1))
            factor = q * n / i
        adj = np.minimum(1.0, np.minimum.accumulate(factor * p[o]))
        out = np.empty(lp)
        out[o] = adj
        return out
    if method == "hommel":
        # R pads the family with p = 1 when n exceeds the number of observed p-values
        full = np.concatenate([p, np.ones(n - lp)]) if n > lp else p.copy()
        o = np.argsort(full, kind="stable")
        ps = full[o]
        idx = np.arange(1, n + 1)
        q = np.full(n, np.min(n * ps / idx))
        pa = q.copy()
        for m in range(n - 1, 1, -1):
            i1 = np.arange(0, n - m + 1)
            i2 = np.arange(n - m + 1, n)
            q1 = np.min(m * ps[i2] / np.arange(2, m + 1))
            q[i1] = np.minimum(m * ps[i1], q1)
            q[i2] = q[n - m]
            pa = np.maximum(pa, q)
        res_sorted = np.maximum(pa, ps)
        out = np.empty(n)
        out[o] = res_sorted
        return out[:lp]
    raise AssertionError(method)  # pragma: no cover - guarded by _canonical_method


def adjust_pvalues(p: Sequence[float] | np.ndarray | pd.Series, method: str = "holm", *, n: int | None = None):
    """Adjust p-values for multiple comparisons, exactly as R's ``p.adjust``.

    Parameters
    ----------
    p : array-like of float
        Unadjusted p-values of one family. Missing values (NaN) are kept as NaN and do not
        count towards the family size.
    method : {"holm", "hochberg", "hommel", "bonferroni", "bh", "by", "none"}
        Adjustment method; case-insensitive. ``"fdr"`` is an alias of ``"bh"`` (Benjamini–Hochberg),
        R's ``"BH"``/``"BY"`` spellings are accepted.
    n : int, optional
        Family size; defaults to the number of non-missing p-values (R's default). It may be
        larger than that number (the family then includes tests not shown).

    Returns
    -------
    numpy.ndarray or pandas.Series
        Adjusted p-values in the input order; a Series (same index) when ``p`` is a Series.

    Notes
    -----
    With :math:`p_{(1)} \\le \\dots \\le p_{(m)}` the ordered p-values and :math:`n` the family size:

    - Bonferroni: :math:`\\min(1, n p_i)`.
    - Holm (1979): :math:`\\tilde p_{(i)} = \\min(1, \\max_{j \\le i} (n - j + 1) p_{(j)})`.
    - Hochberg (1988): :math:`\\tilde p_{(i)} = \\min(1, \\min_{j \\ge i} (n - j + 1) p_{(j)})`.
    - Benjamini–Hochberg (1995): :math:`\\tilde p_{(i)} = \\min(1, \\min_{j \\ge i} n p_{(j)} / j)`.
    - Benjamini–Yekutieli (2001): BH multiplied by :math:`\\sum_{k=1}^{n} 1/k`.
    - Hommel (1988): R's algorithm, verbatim in logic; with two tests it equals Hochberg.

    Ties are ordered stably, as R's ``order`` does. Missing-data policy: NaN p-values are left
    out of the family and returned as NaN.

    References
    ----------
    R Core Team. ``stats::p.adjust``. Holm, S. (1979). Scand. J. Statist. 6, 65–70.
    Hochberg, Y. (1988). Biometrika 75, 800–803. Hommel, G. (1988). Biometrika 75, 383–386.
    Benjamini, Y. & Hochberg, Y. (1995). JRSS B 57, 289–300.
    Benjamini, Y. & Yekutieli, D. (2001). Ann. Statist. 29, 1165–1188.

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03], "holm")
    array([0.03, 0.06, 0.06])
    >>> adjust_pvalues([0.01, 0.04, 0.03], "bh")
    array([0.03, 0.04, 0.04])
    """
    method = _canonical_method("adjust_pvalues", method)
    index = p.index if isinstance(p, pd.Series) else None
    try:
        arr = np.asarray(p, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ParameterError("The 'p' parameter of adjust_pvalues must hold numbers (p-values).") from None
    ok = ~np.isnan(arr)
    if np.any((arr[ok] < 0) | (arr[ok] > 1)):
        bad = arr[ok][(arr[ok] < 0) | (arr[ok] > 1)][0]
        raise ParameterError(f"The 'p' parameter of adjust_pvalues must hold values in [0, 1]; got {bad!r}.")
    lp = int(ok.sum())
    if n is None:
        n = lp
    elif isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < lp:
        raise ParameterError(
            f"The 'n' parameter of adjust_pvalues must be an integer >= the number of non-missing "
            f"p-values ({lp}); got {n!r}."
        )
    out = np.full(arr.shape, np.nan)
    if lp:
        out[ok] = _adjust_sorted(arr[ok], method, int(n))
    if index is not None:
        return pd.Series(out, index=index, name=getattr(p, "name", None))
    return out


def adjust_family(
    frame: pd.DataFrame,
    by: Sequence[str] | str | None = ("family",),
    *,
    method: str = "holm",
    p: str = "p",
    family_label: str | None = None,
) -> pd.DataFrame:
    """Add family-wise adjusted p-values to a tidy results frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        Results with one row per test and a p-value column.
    by : str or sequence of str or None
        Columns whose combinations define the families; each family is adjusted separately.
        ``None`` or an empty sequence makes the whole frame one family.
    method : str
        Any method of :func:`adjust_pvalues`.
    p : str
        Name of the p-value column.
    family_label : str, optional
        Value of the ``family`` column when ``frame`` has none; by default the family keys are
        joined with ``" | "`` (or ``"all"`` for a single family).

    Returns
    -------
    pandas.DataFrame
        A copy of ``frame`` with columns ``p_adj`` (adjusted p-value), ``adjust`` (the canonical
        method name) and ``family`` (kept when present, otherwise a label built from ``by``).

    Notes
    -----
    The family size is the number of non-missing p-values in the family (R's default).
    Rows with a missing p-value get a missing ``p_adj``.

    Examples
    --------
    >>> import pandas as pd
    >>> res = pd.DataFrame({"outcome": ["a", "a", "b"], "p": [0.01, 0.04, 0.2]})
    >>> adjust_family(res, by="outcome", method="bonferroni")["p_adj"].tolist()
    [0.02, 0.08, 0.2]
    """
    method = _canonical_method("adjust_family", method)
    if isinstance(by, str):
        by = (by,)
    keys = list(by) if by else []
    check_columns("adjust_family", frame, [p, *keys], what="frame")
    out = frame.copy()
    pv = pd.to_numeric(out[p], errors="coerce").astype(float)
    if not keys:
        out["p_adj"] = adjust_pvalues(pv.to_numpy(), method)
        label = family_label or "all"
    else:
        out["p_adj"] = pv.groupby([out[k] for k in keys], sort=False, dropna=False).transform(
            lambda s: adjust_pvalues(s.to_numpy(), method)
        )
        label = None
    out["adjust"] = method
    if "family" not in out.columns:
        if label is not None:
            out["family"] = label
        elif family_label is not None:
            out["family"] = family_label
        else:
            lab = out[keys[0]].astype(str)
            for k in keys[1:]:
                lab = lab + " | " + out[k].astype(str)
            out["family"] = lab
    return out
