"""Linear mixed models fitted by profiled REML or ML, vectorised over groups.

The engine fits ``y = X beta + Z b + e`` where the random effects are

* one term per grouping level, nested from the outermost level (e.g. site) to the
  innermost level (e.g. participant): a random intercept at every level, and at the
  innermost level optionally a correlated random intercept and slope (unstructured 2x2);
* ``e ~ N(0, sigma^2 I)``.

Like lme4, the covariance of the random effects is written as ``sigma^2 Lambda Lambda'``
with a relative covariance factor ``Lambda(theta)``; the fixed effects and ``sigma^2``
are profiled out, so the optimiser works over ``theta`` only (bounded below by zero for the
diagonal elements of each factor).

Every quantity the profiled deviance needs is a cross-product ``W' V^-1 W`` with
``W = [X | y]`` and ``V = I + Z Lambda Lambda' Z'``, plus ``log det V``. Because the
levels are nested, ``V`` is block diagonal at every level and the Woodbury identity can be
applied one level at a time, from the innermost level outwards:

* innermost level, group ``g`` with design ``Z_g`` (columns ``1`` or ``[1, t]``) and
  factor ``T``: ``M_g = T' Z_g' Z_g T + I``, ``V_g^-1 = I - Z_g T M_g^-1 T' Z_g'``; only
  the group sums ``Z_g' W_g`` and ``Z_g' Z_g`` are needed, computed once by sorted segment
  reductions;
* each outer level ``k`` with indicator matrix ``E_k`` and factor ``theta_k`` adds
  ``theta_k^2 E_k E_k'`` to ``V``; with ``u_h = E_h' V^-1 W`` and ``c_h = E_h' V^-1 E_h``
  (a scalar, by nesting) carried up from the level below,
  ``W' V^-1 W -= sum_h theta_k^2 u_h' u_h / (1 + theta_k^2 c_h)`` and
  ``log det V += sum_h log(1 + theta_k^2 c_h)``; the next level receives
  ``u_h / (1 + theta_k^2 c_h)`` and ``c_h / (1 + theta_k^2 c_h)`` summed over its children.

With random-effect covariates ``z`` (``Z_k = diag(z_k) E_k``, lme4's ``(0 + z | g)``, e.g.
a mentor effect that only treated participants carry, after baseline) the same recursion
carries ``a_r' V^-1 W`` and ``a_r' V^-1 a_s`` for each distinct covariate ``a_r`` of the
outer levels (see :meth:`LmmModel._cross`).

At the innermost level theta acts on a group only through a few scalars (``z'z``, and with a
slope ``z't`` and ``t'z z't``, and ``a_r' Z_g``). Participants observed at the same waves
share them, so the groups are collapsed into these *patterns* once, with their cross-products
summed: an evaluation then costs ``O(patterns x p^2)`` plus ``O(parents x p)`` for the outer
levels, whatever the number of rows. Without repeated patterns (a continuous time per person)
the group sums are used directly, a few ``(groups x p)`` products per evaluation. Either way
there is no Python loop over groups. Nested grouping follows lme4's ``/`` operator: the
groups of level ``k`` are the observed combinations of the codes of levels ``1..k``, so
nesting always holds. BLAS runs on one thread inside the engine (its matrices are small).

Satterthwaite degrees of freedom follow lmerTest: the variance parameters are
``(theta, sigma)``, their asymptotic covariance is twice the (Moore-Penrose) inverse of
the Hessian of the (RE)ML deviance, and ``df = 2 (l' C l)^2 / (g' A g)`` with ``g`` the
gradient of ``l' C l`` with respect to those parameters. The gradient of the profiled
deviance and the Jacobian of ``(X' V^-1 X)^-1`` in ``theta`` are exact (forward-mode
differentiation of the recursion above, :meth:`LmmModel._cross_jet`); the Hessian in ``theta``
is the Richardson-refined central difference of the exact gradients (lmerTest differentiates
the deviance twice numerically); derivatives with respect to ``sigma`` are analytic.
The optimiser (L-BFGS-B) uses the exact gradient: one pass per step where central differences
took ``1 + 2 len(theta)``.

References
----------
Bates, D., Maechler, M., Bolker, B. & Walker, S. (2015). Fitting linear mixed-effects models
using lme4. Journal of Statistical Software, 67(1), 1-48.

Kuznetsova, A., Brockhoff, P. B. & Christensen, R. H. B. (2017). lmerTest package: tests in
linear mixed effects models. Journal of Statistical Software, 82(13), 1-26.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize, sparse
from scipy import stats as sps

from mentor_eval.errors import AnalysisError
from mentor_eval.resources import single_thread_blas

__all__ = ["LmmFit", "LmmModel", "fit_lmm"]

# lme4's isSingular() tolerance on the diagonal of the relative covariance factor.
_SINGULAR_TOL = 1e-4


def _group_codes(levels: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Codes of the nested groups (lme4 ``a/b/c``): level k = combinations of levels 1..k.

    ``np.unique`` sorts the combinations lexicographically, so the groups of level k are
    numbered in the order of their parent group at level k-1 and the children of each
    parent are contiguous. The outermost level keeps its codes in order of appearance (it
    has no parent), so data sorted by a single grouping factor need no reordering.
    """
    out: list[np.ndarray] = []
    combined: np.ndarray | None = None
    for raw in levels:
        raw_codes = _first_appearance_codes(np.asarray(raw).ravel())
        if raw_codes.size and raw_codes.min() < 0:
            raise AnalysisError("A grouping factor has missing values.")
        if combined is None:
            combined = raw_codes
        else:
            key = combined * (int(raw_codes.max()) + 1) + raw_codes
            combined = _sorted_codes(key)
        out.append(combined)
    return out


def _first_appearance_codes(raw: np.ndarray) -> np.ndarray:
    """``pd.factorize(raw)[0]`` as int64; integer codes that already are that pass unchanged.

    Codes are their own factorization when they start at 0 and each new value is one above the
    largest so far (e.g. participant codes from the model frame): one vectorised check instead
    of a hash of every row.
    """
    if raw.dtype.kind in "iu" and raw.size:
        codes = raw.astype(np.int64, copy=False)
        running = np.maximum.accumulate(codes)
        if codes[0] == 0 and codes.min() >= 0 and np.all(codes[1:] <= running[:-1] + 1):
            return codes
    return pd.factorize(raw)[0].astype(np.int64)


def _sorted_codes(key: np.ndarray) -> np.ndarray:
    """``np.unique(key, return_inverse=True)[1]``: the rank of each value among the distinct ones.

    Hashes the rows and sorts only the distinct values (far fewer than the rows), where
    ``np.unique`` sorts every row.
    """
    codes, uniques = pd.factorize(key)
    rank = np.empty(uniques.size, dtype=np.int64)
    rank[np.argsort(uniques, kind="stable")] = np.arange(uniques.size)
    return rank[codes]


def _unique_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, axis=0, return_inverse=True)`` for a float array of shape (m, c).

    ``np.unique`` with ``axis=0`` sorts the rows as structured records, slow for a few hundred
    thousand rows; here each column is hashed, the codes are combined, and only the distinct
    rows are sorted (lexicographically, as ``np.unique``). Returns the distinct rows and the
    index of each row's distinct row.
    """
    m = key.shape[0]
    codes = np.zeros(m, dtype=np.int64)
    for j in range(key.shape[1]):
        # + 0.0 maps -0.0 to 0.0: equal values, as np.unique treats them
        cj, uj = pd.factorize(key[:, j] + 0.0)
        codes = pd.factorize(codes * len(uj) + cj)[0]
    n_unique = int(codes.max()) + 1 if m else 0
    first = np.empty(n_unique, dtype=np.int64)
    first[codes[::-1]] = np.arange(m)[::-1]
    rows = key[first]
    order = np.lexsort(rows.T[::-1])  # column 0 most significant
    rank = np.empty(n_unique, dtype=np.int64)
    rank[order] = np.arange(n_unique)
    return rows[order], rank[codes]


def _segment_sum(starts: np.ndarray, n: int) -> Any:
    """Sums over contiguous segments of rows starting at ``starts`` (of ``n`` rows).

    Returns a function of an array of shape (n,) or (n, k). Two-dimensional arrays go through
    a sparse indicator product, several times faster than ``np.add.reduceat(axis=0)``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ind = sparse.csr_matrix((np.ones(n), np.arange(n), np.r_[starts, n]),
                            shape=(starts.size, n))

    def total(values: np.ndarray) -> np.ndarray:
        if values.ndim == 1:
            return np.add.reduceat(values, starts)
        return np.asarray(ind @ values)

    return total


def _weighted_group_sums(
    columns: Sequence[np.ndarray], y: np.ndarray, means: np.ndarray, y_mean: float,
    order: Any, starts: np.ndarray, specs: Sequence[tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``W'W`` and the group sums of ``W * w`` for each product of row weights in ``specs``.

    ``W = [X - means | y - y_mean]`` with rows taken in ``order`` (a slice or an index array),
    grouped in runs beginning at ``starts``; the weights are already in that order. ``W`` is
    never held whole: blocks of about 32k rows ending at a group boundary are written into a
    small row-major buffer that stays in cache, and each block adds its cross-product and the
    sums of its own groups. A million-row ``W`` (and ``W z``, ``W z t``) would be fresh memory,
    the slowest part of the setup on a shared machine, and several hundred MB at peak.

    Returns ``W'W`` of shape (p+1, p+1) and one (groups, p+1) array per entry of ``specs``
    (``()`` = unweighted), groups in run order.
    """
    n = y.shape[0]
    p = len(columns)
    n_runs = starts.size
    sums = [np.empty((n_runs, p + 1)) for _ in specs]
    wtw = np.zeros((p + 1, p + 1))
    # block boundaries: the first group start at or before each multiple of the block size
    block = 1 << 15
    cut = np.unique(np.searchsorted(starts, np.arange(0, n, block), side="right") - 1)
    run_bounds = np.r_[cut, n_runs]
    buf = np.empty((min(n, 2 * block), p + 1))
    for r0, r1 in zip(run_bounds[:-1], run_bounds[1:], strict=True):
        lo = int(starts[r0])
        hi = int(starts[r1]) if r1 < n_runs else n
        m = hi - lo
        Wb = buf[:m] if m <= buf.shape[0] else np.empty((m, p + 1))
        rows = slice(lo, hi) if isinstance(order, slice) else order[lo:hi]
        for j, c in enumerate(columns):
            np.subtract(c[rows], means[j], out=Wb[:, j])
        np.subtract(y[rows], y_mean, out=Wb[:, p])
        wtw += Wb.T @ Wb
        ind = sparse.csr_matrix((np.ones(m), np.arange(m), starts[r0:r1 + 1] - lo
                                 if r1 < n_runs else np.r_[starts[r0:r1] - lo, m]),
                                shape=(r1 - r0, m))
        for out, spec in zip(sums, specs, strict=True):
            A = Wb
            for w in spec:
                A = A * w[lo:hi, None]
            out[r0:r1] = ind @ A
    return wtw, sums


def _check_z(z: Sequence[np.ndarray | None] | None, n_levels: int, n: int
             ) -> list[np.ndarray | None]:
    """Validate the random-effect covariates: one per level (``None`` = all ones)."""
    if z is None:
        return [None] * n_levels
    zs = list(z)
    if len(zs) != n_levels:
        raise AnalysisError(
            f"The random-effect covariates z must have one entry per grouping level "
            f"({n_levels}); got {len(zs)}.")
    out: list[np.ndarray | None] = []
    for k, v in enumerate(zs):
        if v is None:
            out.append(None)
            continue
        arr = np.asarray(v, dtype=float).ravel()
        if arr.shape[0] != n:
            raise AnalysisError(
                f"The random-effect covariate z of level {k} has {arr.shape[0]} values for "
                f"{n} observations.")
        if not np.all(np.isfinite(arr)):
            raise AnalysisError(f"The random-effect covariate z of level {k} must be finite.")
        if not np.any(arr != 0.0):
            raise AnalysisError(
                f"The random-effect covariate z of level {k} is zero for every observation; "
                "that level has no random effect to estimate (drop it).")
        out.append(None if np.all(arr == 1.0) else arr)
    return out


class LmmModel:
    """A linear mixed model with nested random intercepts and an optional random slope.

    Parameters
    ----------
    y : array of shape (n,)
        Response.
    X : array of shape (n, p), or a list of p arrays of shape (n,)
        Fixed-effects design matrix (full column rank), or its columns: the engine copies
        them into its own row-major ``[X | y]`` array, so a caller holding the columns
        need not build an ``(n, p)`` array as well.
    levels : sequence of arrays of shape (n,)
        Grouping factors from the outermost to the innermost (e.g. site, mentor,
        participant). Any hashable codes; nesting follows lme4's ``/``.
    slope : array of shape (n,), optional
        Covariate with a random slope at the innermost level (correlated with its
        random intercept, unstructured 2x2 covariance).
    z : sequence of (array of shape (n,) or None), optional
        Random-effect covariate of each level, aligned with ``levels`` (outermost first):
        the model is ``y = X b + sum_k diag(z_k) E_k u_k + e``. ``1`` = the observation
        carries that level's random effect, ``0`` = it does not (control participants in a
        partially nested design, baseline rows when a mentor's effect starts after
        matching); any real values are allowed. ``None`` (an entry, or the whole argument)
        means all ones. At the innermost level with a slope the design is
        ``diag(z) [1 | slope]``. lme4: ``(0 + z | g)``.

    Notes
    -----
    The parameter vector ``theta`` holds the innermost factor first (``theta_1`` for an
    intercept, or ``(T11, T21, T22)`` of the lower-triangular 2x2 factor ``T`` for an
    intercept and slope, column-wise as lme4), then one element per outer level from the
    inside out. This is lme4's order for ``(1 | site/participant)``.

    A group whose covariate is zero on every observation (e.g. the placeholder "no mentor"
    level lme4 needs for the control arm) contributes nothing to the likelihood.
    """

    # below this many innermost groups the direct group sums are cheap enough
    _COMPRESS_MIN_GROUPS = 64
    # largest parents x patterns x (p + 1) array kept dense for the first outer level
    _DENSE_MAX_CELLS = 4_000_000

    def __init__(
        self,
        y: np.ndarray,
        X: np.ndarray | Sequence[np.ndarray],
        levels: Sequence[np.ndarray],
        slope: np.ndarray | None = None,
        z: Sequence[np.ndarray | None] | None = None,
    ) -> None:
        y = np.asarray(y, dtype=float).ravel()
        if isinstance(X, (list, tuple)):
            columns = [np.asarray(c, dtype=float).ravel() for c in X]
            if not columns or any(c.shape[0] != y.shape[0] for c in columns):
                raise AnalysisError(
                    "The fixed-effects design must have one row per observation.")
        else:
            X = np.asarray(X, dtype=float)
            if X.ndim != 2 or X.shape[0] != y.shape[0]:
                raise AnalysisError(
                    "The fixed-effects design must have one row per observation.")
            columns = [X[:, j] for j in range(X.shape[1])]
        if len(levels) == 0:
            raise AnalysisError("A mixed model needs at least one grouping factor.")
        if not (np.all(np.isfinite(y)) and all(np.all(np.isfinite(c)) for c in columns)):
            raise AnalysisError("The response and the fixed-effects design must be finite.")
        zs = _check_z(z, len(levels), y.shape[0])
        self.n, self.p = y.shape[0], len(columns)
        # Centre y and the non-intercept columns when X has an intercept: the deviance is
        # unchanged (unit-triangular reparametrisation) and the cross-products below no longer
        # lose digits to large means. beta = M beta_centred + y_shift * e_intercept.
        self._M = np.eye(self.p)
        self._y_shift = np.zeros(self.p)
        # the first column of ones (its first entry is tested before the column is scanned)
        i0 = next((j for j, c in enumerate(columns)
                   if c.size and c[0] == 1.0 and np.all(c == 1.0)), None)
        means = np.zeros(self.p)
        y_mean = 0.0
        if i0 is not None:
            means = np.array([c.mean() for c in columns])
            means[i0] = 0.0
            self._M[i0] -= means
            y_mean = float(y.mean())
            self._y_shift[i0] = y_mean
        self.n_levels = len(levels)
        self.q = 1 if slope is None else 2
        codes = _group_codes(levels)
        self.n_groups = tuple(int(c.max()) + 1 for c in codes)
        self.has_z = any(v is not None for v in zs)

        inner = codes[-1]
        order: Any
        # Rows whose innermost groups are contiguous (rows sorted by participant) are summed in
        # place, whatever the order of the groups: with an outer level the groups are numbered
        # parent-major (e.g. by site), so the participant-sorted rows are not in group order, and
        # permuting the group sums (groups x p) is far cheaper than sorting the rows (n x p).
        change = np.r_[True, inner[1:] != inner[:-1]]
        run_group: np.ndarray | None = None
        if np.count_nonzero(change) == self.n_groups[-1]:
            order = slice(None)  # no copy
            starts = np.flatnonzero(change)
            in_order = inner[starts]
            if np.any(in_order[1:] < in_order[:-1]):
                run_group = in_order
        else:
            order = np.argsort(inner, kind="stable")
            inner_sorted = inner[order]
            starts = np.flatnonzero(np.r_[True, inner_sorted[1:] != inner_sorted[:-1]])
        seg_runs = _segment_sum(starts, self.n)

        def seg(values: np.ndarray) -> np.ndarray:
            # group sums in group order (the runs of rows may come in another order)
            summed = seg_runs(values)
            if run_group is None:
                return summed
            out = np.empty_like(summed)
            out[run_group] = summed
            return out

        # Innermost level: Z_g = diag(z) [1 | t]; only z-weighted group sums are needed.
        z_in = None if zs[-1] is None else zs[-1][order]
        zz = np.ones(self.n) if z_in is None else z_in * z_in
        if z_in is None:
            run_counts = np.diff(np.r_[starts, self.n]).astype(float)
            self.counts = run_counts if run_group is None else np.empty_like(run_counts)
            if run_group is not None:
                self.counts[run_group] = run_counts
        else:
            self.counts = seg(zz)
        t = None
        if slope is not None:
            t = np.asarray(slope, dtype=float).ravel()[order]
            if not np.all(np.isfinite(t)):
                raise AnalysisError("The random-slope covariate must be finite.")
            self.st = seg(zz * t)
            self.stt = seg(zz * t * t)
        # Outer levels: the distinct random-effect covariates a_r among them (one, the ones
        # vector, when no z is given). For each inner group carry a_r' V^-1 W and
        # a_r' V^-1 a_s upwards; these need a_r' W, a_r' a_s and a_r' Z_g per inner group.
        outer_z = [None if v is None else v[order] for v in zs[:-1]]
        uniq: list[np.ndarray | None] = []
        self._widx: list[int] = []
        for v in outer_z:
            for r, u in enumerate(uniq):
                if (u is None and v is None) or (
                        u is not None and v is not None and np.array_equal(u, v)):
                    self._widx.append(r)
                    break
            else:
                uniq.append(v)
                self._widx.append(len(uniq) - 1)
        plain = z_in is None
        # Group sums of W = [X - means | y - mean(y)] times row weights: S0 = sum z W,
        # S1 = sum z t W and a_r' W for the outer covariates (the ones vector: S0 when z = 1)
        z_spec = () if z_in is None else (z_in,)
        specs = [z_spec] + ([(*z_spec, t)] if t is not None else [])
        a_slot = []
        for v in uniq:
            if v is None and plain:
                a_slot.append(0)
            else:
                a_slot.append(len(specs))
                specs.append(() if v is None else (v,))
        self.WtW, w_sums = _weighted_group_sums(columns, y, means, y_mean, order, starts, specs)
        if run_group is not None:
            for i, summed in enumerate(w_sums):
                out = np.empty_like(summed)
                out[run_group] = summed
                w_sums[i] = out
        self.S0 = w_sums[0]
        if t is not None:
            self.S1 = w_sums[1]
        aW = [w_sums[i] for i in a_slot]
        az = [self.counts if v is None and plain else seg(z_in) if v is None  # type: ignore[arg-type]
              else seg(v) if plain else seg(v * z_in) for v in uniq]
        azt: list[np.ndarray] = []
        if t is not None:
            azt = [self.st if v is None and plain else seg(z_in * t) if v is None  # type: ignore[operator]
                   else seg(v * t) if plain else seg(v * z_in * t) for v in uniq]
        # For each outer level (from the inside out): where the children of each parent start.
        self._parent_starts: list[np.ndarray] = []
        for k in range(self.n_levels - 1, 0, -1):
            parent = np.empty(self.n_groups[k], dtype=np.int64)
            parent[codes[k]] = codes[k - 1]
            self._parent_starts.append(np.flatnonzero(np.r_[True, parent[1:] != parent[:-1]]))
        self._parent_sum = [_segment_sum(st, self.n_groups[k])
                            for st, k in zip(self._parent_starts,
                                             range(self.n_levels - 1, 0, -1), strict=True)]
        self._n_w = len(uniq)
        self._setup_patterns(aW, az, azt, uniq, seg)
        self.n_theta = (1 if self.q == 1 else 3) + (self.n_levels - 1)
        lower = [0.0] if self.q == 1 else [0.0, -np.inf, 0.0]
        self.lower = np.array(lower + [0.0] * (self.n_levels - 1))
        self.diag_index = np.array(([0] if self.q == 1 else [0, 2])
                                   + list(range(3 if self.q == 2 else 1, self.n_theta)))
        self._cache: dict[str, Any] = {}

    def _setup_patterns(self, aW: list[np.ndarray], az: list[np.ndarray], azt: list[np.ndarray],
                        uniq: list[np.ndarray | None], seg: Any) -> None:
        """Group the innermost groups by the scalars through which theta acts on them.

        At the innermost level theta enters only through per-group scalars (``n = z'z`` and,
        with a slope, ``z't``, ``t'z z't``, and ``a_r' Z_g`` for the covariates of the outer
        levels). Groups sharing them (participants observed at the same waves) share the
        Woodbury coefficients, so their cross-products can be summed once here: an evaluation
        then costs O(patterns x p^2) instead of O(groups x p^2), whatever the number of rows.
        When the patterns are nearly as many as the groups (e.g. a continuous time per
        person), the group sums are used directly.
        """
        G = self.n_groups[-1]
        cols = [self.counts] + ([self.st, self.stt] if self.q == 2 else []) + az + azt
        key = np.column_stack(cols)
        n_w = self._n_w
        has_outer = self.n_levels > 1
        if G >= self._COMPRESS_MIN_GROUPS:
            rows, pat = _unique_rows(key)
            compressed = rows.shape[0] * 4 <= G
        else:
            compressed = False
        self._compressed = compressed
        if compressed:
            P = rows.shape[0]
            cnt = np.bincount(pat, minlength=P).astype(float)
            order = np.argsort(pat, kind="stable")
            bounds = np.r_[0, np.cumsum(cnt).astype(np.int64)]
            k1 = self.p + 1
            Q00 = np.empty((P, k1, k1))
            Q01 = np.empty((P, k1, k1)) if self.q == 2 else None
            Q11 = np.empty((P, k1, k1)) if self.q == 2 else None
            for j in range(P):
                idx = order[bounds[j]:bounds[j + 1]]
                A = self.S0[idx]
                Q00[j] = A.T @ A
                if self.q == 2:
                    B = self.S1[idx]
                    Q01[j] = A.T @ B  # type: ignore[index]
                    Q11[j] = B.T @ B  # type: ignore[index]
            self._Q = (Q00.reshape(P, -1), None if Q01 is None else Q01.reshape(P, -1),
                       None if Q11 is None else Q11.reshape(P, -1))
            self._pcnt = cnt
            scal = rows
        else:
            pat = np.arange(G)
            self._pcnt = None
            scal = key
        c = 0
        self._pn = scal[:, c]
        c += 1
        if self.q == 2:
            self._pst, self._pstt = scal[:, c], scal[:, c + 1]
            c += 2
        self._paz = [scal[:, c + r] for r in range(n_w)]
        c += n_w
        self._pazt = [scal[:, c + r] for r in range(n_w)] if self.q == 2 else []
        if not has_outer:
            return
        first = self._parent_starts[0]
        # theta-free parts of the carried quantities at the first outer level
        first_sum = self._parent_sum[0]
        self._BaW = [first_sum(a) for a in aW]
        n_obs_group = self.n_groups[-1]
        parent_of_group = np.repeat(np.arange(first.size), np.diff(np.r_[first, n_obs_group]))
        ua = [np.ones(self.n) if v is None else v for v in uniq]
        self._Baa = [[np.add.reduceat(seg(ua[r] * ua[s]), first) for s in range(n_w)]
                     for r in range(n_w)]
        if compressed:
            P = self._pn.size
            combo = parent_of_group * P + pat
            if first.size * P <= 8 * combo.size + 1_000_000:
                # combo < parents x patterns: its distinct values by a bincount, not a sort
                present = np.bincount(combo, minlength=first.size * P) > 0
                ucombo = np.flatnonzero(present)
                cinv = (np.cumsum(present) - 1)[combo]
            else:
                cinv = _sorted_codes(combo)
                ucombo = np.empty(int(cinv.max()) + 1, dtype=np.int64)
                ucombo[cinv] = combo
            corder = np.argsort(cinv, kind="stable")
            cstarts = np.flatnonzero(np.r_[True, np.diff(cinv[corder]) != 0])
            # sums over the groups of each (parent, pattern) cell: an indicator whose columns
            # are the groups in cell order (no gathered copy of the group sums)
            cell_sum = sparse.csr_matrix(
                (np.ones(corder.size), corder, np.r_[cstarts, corder.size]),
                shape=(cstarts.size, corder.size))
            self._B0 = np.asarray(cell_sum @ self.S0)
            self._B1 = np.asarray(cell_sum @ self.S1) if self.q == 2 else None
            self._Nc = np.bincount(cinv).astype(float)
            self._pc = (ucombo % P).astype(np.int64)
            hc = ucombo // P
            self._cstarts = np.flatnonzero(np.r_[True, hc[1:] != hc[:-1]])
            self._csum = _segment_sum(self._cstarts, hc.size)
            # parents x patterns small enough: dense (H, k1, P) sums, so that carrying to the
            # parents is one matrix product per evaluation (no gather, no segment sum)
            H = first.size
            k1 = self.p + 1
            self._dense = None
            if H * P * k1 * (2 if self.q == 2 else 1) <= self._DENSE_MAX_CELLS:
                B0d = np.zeros((H, P, k1))
                B0d[hc, self._pc] = self._B0
                B1d = None
                if self.q == 2:
                    B1d = np.zeros((H, P, k1))
                    B1d[hc, self._pc] = self._B1
                Nd = np.zeros((H, P))
                Nd[hc, self._pc] = self._Nc
                # (H * k1, P) and, with a slope, (H * k1, 2P) against [w0; w1]
                B = B0d.transpose(0, 2, 1).reshape(H * k1, P)
                if B1d is not None:
                    B = np.hstack([B, B1d.transpose(0, 2, 1).reshape(H * k1, P)])
                self._dense = (np.ascontiguousarray(B), Nd, H)
        else:
            self._B0 = self.S0
            self._B1 = self.S1 if self.q == 2 else None
            self._Nc = None
            self._pc = None
            self._cstarts = first
            self._csum = first_sum
            self._dense = None

    # ------------------------------------------------------------------ core algebra
    def _cross(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """Return ``W' V^-1 W`` and ``log det V`` (both in units of sigma^2).

        Innermost group ``g``: ``Z_g = diag(z) [1 | t]``, ``P = T M^-1 T'``; for each distinct
        outer covariate ``a_r`` carry ``u_r = a_r' V^-1 W`` and ``c_rs = a_r' V^-1 a_s``.
        Outer level ``k`` (covariate ``a_k``) adds ``theta_k^2 a_k a_k'`` within each of its
        groups; Woodbury with ``m = 1 + theta_k^2 c_kk`` gives
        ``W' V^-1 W -= theta_k^2 u_k' u_k / m``, ``log det V += log m``,
        ``u_r -= theta_k^2 c_rk u_k / m`` and ``c_rs -= theta_k^2 c_rk c_sk / m``.
        With every covariate one this is the recursion of the module docstring
        (``u / m``, ``c / m``). The innermost coefficients are computed per pattern
        (see :meth:`_setup_patterns`).
        """
        theta = np.asarray(theta, dtype=float)
        n = self._pn
        cnt = self._pcnt
        n_w = self._n_w
        k1 = self.p + 1
        if self.q == 1:
            t2 = theta[0] ** 2
            m = 1.0 + t2 * n
            lm = np.log(m)
            logdet = float(lm.sum() if cnt is None else lm @ cnt)
            f = t2 / m
            if cnt is None:
                wvw = self.WtW - (self.S0 * f[:, None]).T @ self.S0
            else:
                wvw = self.WtW - (f @ self._Q[0]).reshape(k1, k1)
            w0 = [f * self._paz[r] for r in range(n_w)]
            w1: list[np.ndarray] = []
            pos = 1
        else:
            a, b, d = theta[0], theta[1], theta[2]
            st, stt = self._pst, self._pstt
            # M = T' (Z'Z) T + I for T = [[a, 0], [b, d]]
            m11 = 1.0 + a * a * n + 2.0 * a * b * st + b * b * stt
            m12 = a * d * st + b * d * stt
            m22 = 1.0 + d * d * stt
            det = m11 * m22 - m12 * m12
            ld = np.log(det)
            logdet = float(ld.sum() if cnt is None else ld @ cnt)
            i11, i12, i22 = m22 / det, -m12 / det, m11 / det
            # P = T M^-1 T'
            p11 = a * a * i11
            p12 = a * (b * i11 + d * i12)
            p22 = b * b * i11 + 2.0 * b * d * i12 + d * d * i22
            if cnt is None:
                S0, S1 = self.S0, self.S1
                A0 = S0 * p11[:, None] + S1 * p12[:, None]
                A1 = S0 * p12[:, None] + S1 * p22[:, None]
                wvw = self.WtW - (A0.T @ S0 + A1.T @ S1)
            else:
                Q00, Q01, Q11 = self._Q
                q01 = (p12 @ Q01).reshape(k1, k1)
                wvw = self.WtW - ((p11 @ Q00).reshape(k1, k1) + q01 + q01.T
                                  + (p22 @ Q11).reshape(k1, k1))
            w0 = [self._paz[r] * p11 + self._pazt[r] * p12 for r in range(n_w)]
            w1 = [self._paz[r] * p12 + self._pazt[r] * p22 for r in range(n_w)]
            pos = 3
        if self.n_levels == 1:
            return 0.5 * (wvw + wvw.T), logdet
        # carry to the first outer level: u_r = a_r' W - sum (w0_r S0 + w1_r S1) per parent,
        # c_rs = a_r' a_s - sum (w0_r a_s'z + w1_r a_s'zt); one segment sum for all of them
        pc, Nc = self._pc, self._Nc
        B0, B1 = self._B0, self._B1
        if self._dense is not None:
            Bd, Nd, H = self._dense
            wmat = np.column_stack(w0) if self.q == 1 else np.vstack(
                [np.column_stack(w0), np.column_stack(w1)])
            ud = (Bd @ wmat).reshape(H, k1, n_w)
            u = [self._BaW[r] - ud[:, :, r] for r in range(n_w)]
            cw = np.column_stack([
                w0[r] * self._paz[s_] + (w1[r] * self._pazt[s_] if self.q == 2 else 0.0)
                for r in range(n_w) for s_ in range(n_w)])
            cd = Nd @ cw
            c = [[self._Baa[r][s_] - cd[:, r * n_w + s_] for s_ in range(n_w)]
                 for r in range(n_w)]
            return self._outer_levels(theta, pos, wvw, logdet, u, c)
        terms, cvec = [], []
        for r in range(n_w):
            w0c = w0[r] if pc is None else w0[r][pc]
            term = B0 * w0c[:, None]
            if self.q == 2:
                w1c = w1[r] if pc is None else w1[r][pc]
                term = term + B1 * w1c[:, None]  # type: ignore[operator]
            terms.append(term)
            for s_ in range(n_w):
                v = w0[r] * self._paz[s_]
                if self.q == 2:
                    v = v + w1[r] * self._pazt[s_]
                cvec.append(v if pc is None else v[pc] * Nc)
        summed = self._csum(np.column_stack(terms + cvec))
        u = [self._BaW[r] - summed[:, r * k1:(r + 1) * k1] for r in range(n_w)]
        off = n_w * k1
        c = [[self._Baa[r][s_] - summed[:, off + r * n_w + s_] for s_ in range(n_w)]
             for r in range(n_w)]
        return self._outer_levels(theta, pos, wvw, logdet, u, c)

    def _outer_levels(self, theta: np.ndarray, pos: int, wvw: np.ndarray, logdet: float,
                      u: list[np.ndarray], c: list[list[np.ndarray]]) -> tuple[np.ndarray, float]:
        """Woodbury updates of the outer levels, from the inside out (see :meth:`_cross`)."""
        n_w = self._n_w
        k1 = self.p + 1
        for level in range(self.n_levels - 1):
            if level > 0:
                summed = self._parent_sum[level](np.column_stack(
                    u + [c[r][s_] for r in range(n_w) for s_ in range(n_w)]))
                u = [summed[:, r * k1:(r + 1) * k1] for r in range(n_w)]
                off = n_w * k1
                c = [[summed[:, off + r * n_w + s_] for s_ in range(n_w)] for r in range(n_w)]
            k = self._widx[self.n_levels - 2 - level]
            t2 = theta[pos] ** 2
            pos += 1
            m = 1.0 + t2 * c[k][k]
            logdet += float(np.sum(np.log(m)))
            uk = u[k]
            wvw = wvw - (uk * (t2 / m)[:, None]).T @ uk
            if level == self.n_levels - 2:
                break
            ck = [c[r][k] * (t2 / m) for r in range(n_w)]
            ckk = [c[r][k] for r in range(n_w)]
            u = [u[r] - uk * ck[r][:, None] for r in range(n_w)]
            c = [[c[r][s_] - ck[r] * ckk[s_] for s_ in range(n_w)] for r in range(n_w)]
        return 0.5 * (wvw + wvw.T), logdet

    def _state(self, theta: np.ndarray) -> dict[str, Any]:
        """Profiled quantities at ``theta``: beta, r^2 (penalised RSS), log-determinants."""
        wvw, logdet = self._cross(theta)
        p = self.p
        beta, r2, ld_rx, chol = _profile(wvw, p)
        return {"beta": beta, "r2": max(r2, 1e-300), "ld_l": logdet, "ld_rx": ld_rx, "chol": chol}

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """Profiled deviance: the REML criterion (lme4) or -2 log-likelihood (ML)."""
        s = self._state(theta)
        if reml:
            nu = self.n - self.p
            return s["ld_l"] + s["ld_rx"] + nu * (1.0 + np.log(2.0 * np.pi * s["r2"] / nu))
        return s["ld_l"] + self.n * (1.0 + np.log(2.0 * np.pi * s["r2"] / self.n))

    # ------------------------------------------------------------------ analytic derivatives
    def _cross_jet(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``W' V^-1 W`` and ``log det V`` with their exact derivatives in ``theta``.

        Forward-mode differentiation of :meth:`_cross`: every quantity is a *jet*, an array
        whose leading axis (length ``1 + len(theta)``) holds the value and its partial
        derivatives. Linear steps (products with the theta-free cross-products, segment sums)
        act on all rows at once; products and quotients of theta-dependent quantities follow the
        product rule (:func:`_jmul`, :func:`_jdiv`). Returns ``(K, p+1, p+1)`` and ``(K,)``
        arrays, ``K = 1 + len(theta)``: one pass costs about as much as ``K`` deviance
        evaluations of the theta-free work but a single pass of Python overhead.
        """
        theta = np.asarray(theta, dtype=float)
        k = theta.size
        K = k + 1
        th = np.zeros((k, K, 1))  # jet of each theta_i: value theta_i, derivative e_i
        th[:, 0, 0] = theta
        th[np.arange(k), np.arange(k) + 1, 0] = 1.0
        n = self._pn
        cnt = self._pcnt
        n_w = self._n_w
        k1 = self.p + 1
        if self.q == 1:
            t2 = _jmul(th[0], th[0])
            m = t2 * n
            m[0] += 1.0
            logdet = _jlog(m)
            logdet = logdet.sum(axis=1) if cnt is None else logdet @ cnt
            f = _jdiv(t2, m)
            if cnt is None:
                S0 = self.S0
                wvw = -np.matmul((S0.T * f[:, None, :]), S0)
            else:
                wvw = -(f @ self._Q[0]).reshape(K, k1, k1)
            w0 = [f * self._paz[r] for r in range(n_w)]
            w1: list[np.ndarray] = []
            pos = 1
        else:
            a, b, d = th[0], th[1], th[2]
            st, stt = self._pst, self._pstt
            aa, ab, bb, ad, bd, dd = (_jmul(a, a), _jmul(a, b), _jmul(b, b), _jmul(a, d),
                                      _jmul(b, d), _jmul(d, d))
            m11 = aa * n + 2.0 * ab * st + bb * stt
            m11[0] += 1.0
            m12 = ad * st + bd * stt
            m22 = dd * stt
            m22[0] += 1.0
            det = _jmul(m11, m22) - _jmul(m12, m12)
            ld = _jlog(det)
            logdet = ld.sum(axis=1) if cnt is None else ld @ cnt
            i11, i12, i22 = _jdiv(m22, det), -_jdiv(m12, det), _jdiv(m11, det)
            p11 = _jmul(aa, i11)
            p12 = _jmul(a, _jmul(b, i11) + _jmul(d, i12))
            p22 = _jmul(bb, i11) + 2.0 * _jmul(bd, i12) + _jmul(dd, i22)
            if cnt is None:
                S0, S1 = self.S0, self.S1
                S0t, S1t = S0.T, S1.T
                wvw = -(np.matmul(S0t * p11[:, None, :], S0)
                        + np.matmul(S0t * p12[:, None, :], S1)
                        + np.matmul(S1t * p12[:, None, :], S0)
                        + np.matmul(S1t * p22[:, None, :], S1))
            else:
                Q00, Q01, Q11 = self._Q
                q01 = (p12 @ Q01).reshape(K, k1, k1)
                wvw = -((p11 @ Q00).reshape(K, k1, k1) + q01 + q01.transpose(0, 2, 1)
                        + (p22 @ Q11).reshape(K, k1, k1))
            w0 = [self._paz[r] * p11 + self._pazt[r] * p12 for r in range(n_w)]
            w1 = [self._paz[r] * p12 + self._pazt[r] * p22 for r in range(n_w)]
            pos = 3
        wvw[0] += self.WtW
        if self.n_levels == 1:
            return 0.5 * (wvw + wvw.transpose(0, 2, 1)), logdet
        pc, Nc = self._pc, self._Nc
        B0, B1 = self._B0, self._B1
        if self._dense is not None:
            Bd, Nd, H = self._dense
            wmat = np.stack(w0, axis=-1) if self.q == 1 else np.concatenate(
                [np.stack(w0, axis=-1), np.stack(w1, axis=-1)], axis=1)  # (K, P q, n_w)
            ud = np.matmul(Bd, wmat).reshape(K, H, k1, n_w)
            u = []
            for r in range(n_w):
                ur = -ud[..., r]
                ur[0] += self._BaW[r]
                u.append(ur)
            cw = np.stack([
                w0[r] * self._paz[s_] + (w1[r] * self._pazt[s_] if self.q == 2 else 0.0)
                for r in range(n_w) for s_ in range(n_w)], axis=-1)  # (K, P, n_w^2)
            cd = np.matmul(Nd, cw)  # (K, H, n_w^2)
            c = []
            for r in range(n_w):
                row = []
                for s_ in range(n_w):
                    crs = -cd[:, :, r * n_w + s_]
                    crs[0] += self._Baa[r][s_]
                    row.append(crs)
                c.append(row)
            return self._outer_levels_jet(th, pos, wvw, logdet, u, c)
        cols = []
        for r in range(n_w):
            w0c = w0[r] if pc is None else w0[r][:, pc]
            term = B0 * w0c[:, :, None]
            if self.q == 2:
                w1c = w1[r] if pc is None else w1[r][:, pc]
                term = term + B1 * w1c[:, :, None]  # type: ignore[operator]
            cols.append(term)
        for r in range(n_w):
            for s_ in range(n_w):
                v = w0[r] * self._paz[s_]
                if self.q == 2:
                    v = v + w1[r] * self._pazt[s_]
                cols.append((v if pc is None else v[:, pc] * Nc)[:, :, None])
        stacked = np.concatenate(cols, axis=2)  # (K, C, ncol)
        C, ncol = stacked.shape[1], stacked.shape[2]
        summed = self._csum(stacked.transpose(1, 0, 2).reshape(C, K * ncol))
        summed = summed.reshape(-1, K, ncol).transpose(1, 0, 2)  # (K, H, ncol)
        u = []
        for r in range(n_w):
            ur = -summed[:, :, r * k1:(r + 1) * k1]
            ur[0] += self._BaW[r]
            u.append(ur)
        off = n_w * k1
        c = []
        for r in range(n_w):
            row = []
            for s_ in range(n_w):
                crs = -summed[:, :, off + r * n_w + s_]
                crs[0] += self._Baa[r][s_]
                row.append(crs)
            c.append(row)
        return self._outer_levels_jet(th, pos, wvw, logdet, u, c)

    def _outer_levels_jet(self, th: np.ndarray, pos: int, wvw: np.ndarray, logdet: np.ndarray,
                          u: list[np.ndarray], c: list[list[np.ndarray]]
                          ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_outer_levels` on jets (see :meth:`_cross_jet`)."""
        n_w = self._n_w
        k1 = self.p + 1
        K = wvw.shape[0]
        for level in range(self.n_levels - 1):
            if level > 0:
                parts = u + [c[r][s_][:, :, None] for r in range(n_w) for s_ in range(n_w)]
                stacked = np.concatenate(parts, axis=2)  # (K, H, ncol)
                H, ncol = stacked.shape[1], stacked.shape[2]
                summed = self._parent_sum[level](stacked.transpose(1, 0, 2).reshape(H, K * ncol))
                summed = summed.reshape(-1, K, ncol).transpose(1, 0, 2)
                u = [summed[:, :, r * k1:(r + 1) * k1] for r in range(n_w)]
                off = n_w * k1
                c = [[summed[:, :, off + r * n_w + s_] for s_ in range(n_w)] for r in range(n_w)]
            kk = self._widx[self.n_levels - 2 - level]
            t2 = _jmul(th[pos], th[pos])
            pos += 1
            m = _jmul(t2, c[kk][kk])
            m[0] += 1.0
            logdet = logdet + _jlog(m).sum(axis=1)
            uk = u[kk]
            s = _jdiv(t2, m)
            su = _jmul(s[:, :, None], uk)  # (K, H, k1)
            upd = np.matmul(su.transpose(0, 2, 1), uk[0])
            upd[1:] += np.matmul(su[0].T, uk[1:])
            wvw = wvw - upd
            if level == self.n_levels - 2:
                break
            ck = [_jmul(c[r][kk], s) for r in range(n_w)]
            ckk = [c[r][kk] for r in range(n_w)]
            u = [u[r] - _jmul(uk, ck[r][:, :, None]) for r in range(n_w)]
            c = [[c[r][s_] - _jmul(ck[r], ckk[s_]) for s_ in range(n_w)] for r in range(n_w)]
        return 0.5 * (wvw + wvw.transpose(0, 2, 1)), logdet

    def _state_jet(self, theta: np.ndarray) -> dict[str, Any]:
        """:meth:`_state` with the gradients of its parts in ``theta`` (exact).

        ``d ld_rx = tr((X'V^-1X)^-1 d(X'V^-1X))`` and ``d r2 = v' d(W'V^-1W) v`` with
        ``v = [-beta; 1]``.
        """
        wvw_j, logdet_j = self._cross_jet(theta)
        wvw, dw = wvw_j[0], wvw_j[1:]
        p = self.p
        beta, r2, ld_rx, chol = _profile(wvw, p)
        inv = linalg.cho_solve(chol, np.eye(p), check_finite=False)
        v = np.r_[-beta, 1.0]
        d_r2 = np.einsum("i,kij,j->k", v, dw, v)
        d_xvx = dw[:, :p, :p]
        d_ld_rx = np.einsum("ij,kji->k", inv, d_xvx)
        return {"beta": beta, "r2": max(r2, 1e-300), "ld_l": float(logdet_j[0]), "ld_rx": ld_rx,
                "chol": chol, "inv": inv, "d_r2": d_r2, "d_ld_l": logdet_j[1:],
                "d_ld_rx": d_ld_rx, "d_xvx": d_xvx}

    def deviance_and_gradient(self, theta: np.ndarray, reml: bool = True
                              ) -> tuple[float, np.ndarray]:
        """Profiled deviance (as :meth:`deviance`) and its exact gradient in ``theta``."""
        s = self._state_jet(theta)
        nu = self.n - self.p if reml else self.n
        dev = s["ld_l"] + nu * (1.0 + np.log(2.0 * np.pi * s["r2"] / nu))
        grad = s["d_ld_l"] + nu * s["d_r2"] / s["r2"]
        if reml:
            dev += s["ld_rx"]
            grad = grad + s["d_ld_rx"]
        return float(dev), grad

    # ------------------------------------------------------------------ optimisation
    def fit(
        self,
        reml: bool = True,
        start: np.ndarray | None = None,
        maxiter: int = 1000,
    ) -> LmmFit:
        """Fit by minimising the profiled deviance over ``theta``.

        Parameters
        ----------
        reml : bool
            REML (default) or maximum likelihood.
        start : array, optional
            Starting ``theta`` (default: 1 on diagonals, 0 off diagonals, as lme4).
        maxiter : int
            Iteration limit of the optimiser.
        """
        if self.n <= self.p:
            raise AnalysisError(
                f"The model has {self.p} fixed effects but only {self.n} observations."
            )
        with single_thread_blas():
            return self._fit(reml, start, maxiter)

    def _fit(self, reml: bool, start: np.ndarray | None, maxiter: int) -> LmmFit:
        theta0 = np.ones(self.n_theta) if start is None else np.asarray(start, dtype=float).copy()
        if self.q == 2 and start is None:
            theta0[1] = 0.0

        n_eval = 0

        def f(th: np.ndarray) -> float:
            nonlocal n_eval
            n_eval += 1
            return self.deviance(th, reml)

        def fg(th: np.ndarray) -> tuple[float, np.ndarray]:
            # exact gradient in the same pass (forward-mode, see _cross_jet): one evaluation
            # per step where central differences took 1 + 2 len(theta)
            nonlocal n_eval
            n_eval += 1
            return self.deviance_and_gradient(th, reml)

        def run(x0: np.ndarray) -> tuple[np.ndarray, float, Any]:
            # No bounds: the deviance is unchanged by flipping the sign of a column of a
            # factor, so an unconstrained search is valid and, unlike a bounded one, cannot
            # stall on the boundary where the gradient of an even function vanishes.
            res = optimize.minimize(
                fg, x0, jac=True, method="L-BFGS-B",
                options={"maxiter": maxiter, "ftol": 1e-12, "gtol": 1e-9, "maxcor": 20},
            )
            x = self._canonical(res.x)
            return x, f(x), res

        theta, dev, res = run(theta0)
        theta, dev = self._snap_to_boundary(f, theta, dev)
        # A minimum on the boundary may be local: probe inside and restart if it is lower.
        for i in self.diag_index:
            if theta[i] > 0.0:
                continue
            for value in (0.1, 0.5, 1.0):
                trial = theta.copy()
                trial[i] = value
                if f(trial) < dev:
                    cand_theta, cand_dev, cand_res = run(trial)
                    cand_theta, cand_dev = self._snap_to_boundary(f, cand_theta, cand_dev)
                    if cand_dev < dev:
                        theta, dev, res = cand_theta, cand_dev, cand_res
                    break
        theta, dev, scaled_grad = self._newton_polish(f, fg, theta, dev)
        # lme4's check: the Newton step (gradient scaled by the Hessian) is small.
        converged = bool(scaled_grad < 2e-3)
        return self._result(theta, reml, dev, converged, str(res.message), n_eval)

    def _canonical(self, theta: np.ndarray) -> np.ndarray:
        """The equivalent theta with non-negative diagonal elements (as lme4 reports)."""
        theta = np.array(theta, dtype=float)
        if self.q == 2 and theta[0] < 0:
            theta[0:2] = -theta[0:2]
        theta[self.diag_index] = np.abs(theta[self.diag_index])
        return theta

    def _snap_to_boundary(self, f: Any, theta: np.ndarray, dev: float) -> tuple[np.ndarray, float]:
        """Set tiny diagonal elements to 0 when that does not worsen the deviance.

        Near 0 the profile is flat in theta, so gradient methods stop just above the boundary.
        """
        for i in self.diag_index:
            if 0.0 < theta[i] < 1e-3:
                trial = theta.copy()
                trial[i] = 0.0
                d_trial = f(trial)
                if d_trial <= dev + 1e-10 * max(1.0, abs(dev)):
                    theta, dev = trial, d_trial
        return theta, dev

    def _newton_polish(self, f: Any, fg: Any, theta: np.ndarray, dev: float
                       ) -> tuple[np.ndarray, float, float]:
        """One Newton step on the free parameters; returns the max scaled gradient (lme4 check).

        The gradient is exact; the Hessian is the central difference of the exact gradient.
        """
        free = np.flatnonzero((theta > self.lower) | ~np.isfinite(self.lower))
        if free.size == 0:
            return theta, dev, 0.0

        def gs(x: np.ndarray) -> np.ndarray:
            th = theta.copy()
            th[free] = x
            return fg(th)[1][free]

        g = gs(theta[free])
        H = _richardson_jacobian(gs, theta[free], rel=1e-4, levels=1, zero_step=1e-5)
        H = 0.5 * (H + H.T)
        try:
            chol = np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            return theta, dev, float("inf")
        scaled = float(np.max(np.abs(linalg.solve_triangular(chol, g, lower=True))))
        step = linalg.cho_solve((chol, True), g)
        new = theta.copy()
        new[free] = theta[free] - step
        if np.all(new >= self.lower) and np.all(np.isfinite(new)):
            d_new = f(new)
            if d_new < dev:
                theta, dev = new, d_new
        return theta, dev, scaled

    def _result(self, theta: np.ndarray, reml: bool, dev: float, converged: bool,
                message: str, n_eval: int) -> LmmFit:
        s = self._state(theta)
        nu = self.n - self.p if reml else self.n
        sigma2 = s["r2"] / nu
        xvx_inv = linalg.cho_solve(s["chol"], np.eye(self.p), check_finite=False)
        vcov = sigma2 * self._M @ xvx_inv @ self._M.T
        boundary = bool(np.any(theta[self.diag_index] < _SINGULAR_TOL))
        k = self.p + self.n_theta + 1
        return LmmFit(
            beta=self._M @ s["beta"] + self._y_shift,
            vcov=0.5 * (vcov + vcov.T),
            sigma2=float(sigma2),
            theta=theta.copy(),
            cov_re=self.cov_re(theta, sigma2),
            deviance=float(dev),
            loglik=-0.5 * float(dev),
            aic=float(dev) + 2.0 * k,
            bic=float(dev + np.log(self.n) * k),
            reml=reml,
            n_obs=self.n,
            n_groups=self.n_groups,
            converged=converged,
            boundary=boundary,
            message=message,
            n_eval=n_eval,
            model=self,
        )

    def cov_re(self, theta: np.ndarray, sigma2: float) -> list[np.ndarray]:
        """Random-effects covariance matrices, outermost level first."""
        if self.q == 1:
            inner = np.array([[sigma2 * theta[0] ** 2]])
            pos = 1
        else:
            T = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
            inner = sigma2 * T @ T.T
            pos = 3
        outer = [np.array([[sigma2 * theta[i] ** 2]]) for i in range(pos, self.n_theta)]
        # theta stores outer levels from the inside out; report outermost first
        return outer[::-1] + [inner]

    # ------------------------------------------------------------------ Satterthwaite
    def _varpar_derivatives(self, theta: np.ndarray, sigma: float, reml: bool) -> dict[str, Any]:
        """Hessian-based covariance A of (theta, sigma) and Jacobian of vcov(beta)."""
        key = (tuple(theta), sigma, reml)
        cached = self._cache.get("varpar")
        if cached is not None and cached["key"] == key:
            return cached
        p = self.p

        def grads(th: np.ndarray) -> np.ndarray:
            s = self._state_jet(th)
            d_a = s["d_ld_l"] + (s["d_ld_rx"] if reml else 0.0)
            return np.concatenate([d_a, s["d_r2"]])

        s0 = self._state_jet(theta)
        k = theta.size
        # Hessians of a(theta) and r2(theta): Richardson-refined central differences of their
        # exact gradients (4 k passes; lmerTest differentiates the deviance twice numerically)
        jac_g = _richardson_jacobian(grads, theta, rel=1e-2, levels=2, zero_step=1e-4)
        hess_a, hess_r2 = jac_g[:k], jac_g[k:]
        grad_r2 = s0["d_r2"]
        nu = self.n - self.p if reml else self.n
        r2 = s0["r2"]
        H = np.empty((k + 1, k + 1))
        # deviance(theta, sigma) = a(theta) + r2(theta) / sigma^2 + nu log(2 pi sigma^2)
        H[:k, :k] = hess_a + hess_r2 / sigma**2
        H[:k, k] = H[k, :k] = -2.0 * grad_r2 / sigma**3
        H[k, k] = 6.0 * r2 / sigma**4 - 2.0 * nu / sigma**2
        H = 0.5 * (H + H.T)
        evals, evecs = np.linalg.eigh(H)
        tol = 1e-8  # lmerTest's tolerance for a zero eigenvalue
        pos = evals > tol
        A = 2.0 * (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
        inv0 = s0["inv"]
        jac = np.empty((k + 1, p, p))
        # d (X'V^-1X)^-1 = -(X'V^-1X)^-1 d(X'V^-1X) (X'V^-1X)^-1, exact
        jac[:k] = -sigma**2 * (inv0 @ s0["d_xvx"] @ inv0)
        jac[k] = 2.0 * sigma * inv0
        jac = self._M @ jac @ self._M.T  # back to the caller's parametrisation of beta
        out = {"key": key, "A": A, "jac": jac, "hessian": H,
               "negative_eigen": bool(np.any(evals < -tol)), "n_zero_eigen": int(np.sum(~pos))}
        self._cache["varpar"] = out
        return out


def _jmul(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Product of two jets (leading axis: value, then partial derivatives; product rule)."""
    out = x * y[0]
    out[1:] += x[0] * y[1:]
    return out


def _jdiv(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Quotient of two jets: ``d(x / y) = (dx - (x / y) dy) / y``."""
    q = x[0] / y[0]
    out = (x - q * y) / y[0]
    out[0] = q
    return out


def _jlog(x: np.ndarray) -> np.ndarray:
    """Logarithm of a jet: ``d log x = dx / x``."""
    out = x / x[0]
    out[0] = np.log(x[0])
    return out


def _richardson_jacobian(
    f: Any, x: np.ndarray, rel: float = 1e-2, levels: int = 2, zero_step: float = 1e-4
) -> np.ndarray:
    """Jacobian (m, k) of a vector function by central differences refined by Richardson.

    Steps ``h, h/2, ...`` with ``h = rel * |x|`` (``zero_step`` near zero); ``2 k levels``
    evaluations. Used on exact gradients, so one or two levels give the Hessian to ~1e-9.
    """
    x = np.asarray(x, dtype=float)
    k = x.size
    h0 = np.where(np.abs(x) > 1e-6, rel * np.abs(x), zero_step)
    tab = []
    for lev in range(levels):
        h = h0 / 2.0**lev
        cols = []
        for i in range(k):
            e = np.zeros(k)
            e[i] = h[i]
            cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2.0 * h[i]))
        tab.append(np.column_stack(cols))
    for order in range(1, levels):
        fac = 4.0**order
        tab = [(fac * tab[i] - tab[i - 1]) / (fac - 1.0) for i in range(1, len(tab))]
    return tab[-1]


@dataclass(frozen=True)
class LmmFit:
    """Estimates of a fitted :class:`LmmModel`.

    Attributes
    ----------
    beta, vcov : fixed effects and their covariance ``sigma^2 (X' V^-1 X)^-1`` (as lme4).
    sigma2 : residual variance.
    theta : relative covariance parameters at the optimum (see :class:`LmmModel`).
    cov_re : list of random-effects covariance matrices, outermost level first
        (1x1 for an intercept, 2x2 for intercept and slope).
    deviance : REML criterion (REML fits, as lme4) or -2 log-likelihood (ML fits).
    loglik, aic, bic : log-likelihood (REML or ML) and the information criteria lme4
        reports (``k = p + len(theta) + 1`` parameters).
    n_obs, n_groups : observations and number of groups per level (outermost first).
    converged, message, n_eval : optimiser outcome.
    boundary : True when a diagonal element of the relative factor is below 1e-4
        (lme4's ``isSingular``): a variance at (or next to) zero or a correlation of +-1.
    """

    beta: np.ndarray
    vcov: np.ndarray
    sigma2: float
    theta: np.ndarray
    cov_re: list[np.ndarray]
    deviance: float
    loglik: float
    aic: float
    bic: float
    reml: bool
    n_obs: int
    n_groups: tuple[int, ...]
    converged: bool
    boundary: bool
    message: str
    n_eval: int
    model: LmmModel = field(repr=False, compare=False)

    @property
    def se(self) -> np.ndarray:
        """Standard errors of the fixed effects."""
        return np.sqrt(np.diag(self.vcov))

    def satterthwaite(self, L: np.ndarray) -> pd.DataFrame:
        """Estimate, SE, Satterthwaite df, t and p for each row ``l`` of ``L`` (``l' beta``).

        Parameters
        ----------
        L : array of shape (m, p) or (p,)
            Contrast vectors.

        Returns
        -------
        DataFrame with columns ``estimate``, ``se``, ``df``, ``t``, ``p`` (two-sided).
        """
        L = np.atleast_2d(np.asarray(L, dtype=float))
        with single_thread_blas():
            d = self.model._varpar_derivatives(self.theta, float(np.sqrt(self.sigma2)), self.reml)
        est = L @ self.beta
        var = np.einsum("ij,jk,ik->i", L, self.vcov, L)
        g = np.einsum("ij,ajk,ik->ia", L, d["jac"], L)
        denom = np.einsum("ia,ab,ib->i", g, d["A"], g)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(denom > 0, 2.0 * var**2 / denom, np.inf)
        se = np.sqrt(var)
        t = est / se
        p = 2.0 * sps.t.sf(np.abs(t), df)
        return pd.DataFrame({"estimate": est, "se": se, "df": df, "t": t, "p": p})

    def varpar_covariance(self) -> np.ndarray:
        """Asymptotic covariance of ``(theta, sigma)`` (twice the inverse deviance Hessian)."""
        return self.model._varpar_derivatives(
            self.theta, float(np.sqrt(self.sigma2)), self.reml)["A"]


def fit_lmm(
    y: np.ndarray,
    X: np.ndarray,
    levels: Sequence[np.ndarray],
    *,
    slope: np.ndarray | None = None,
    z: Sequence[np.ndarray | None] | None = None,
    reml: bool = True,
    start: np.ndarray | None = None,
    maxiter: int = 1000,
) -> LmmFit:
    """Fit a linear mixed model with nested random intercepts (and an optional random slope).

    Parameters
    ----------
    y : array of shape (n,)
        Response (finite).
    X : array of shape (n, p)
        Fixed-effects design matrix with full column rank.
    levels : sequence of arrays of shape (n,)
        Grouping factors, outermost first; nested as lme4's ``(1 | a/b/c)``.
    slope : array of shape (n,), optional
        Covariate with a correlated random slope at the innermost level
        (lme4: ``(1 + slope | c)``, with ``a/b`` intercepts above it).
    z : sequence of (array of shape (n,) or None), optional
        Random-effect covariate per level, aligned with ``levels`` (see :class:`LmmModel`);
        e.g. ``z=[treated, None]`` with ``levels=[mentor, participant]`` is lme4's
        ``(0 + treated | mentor) + (1 | participant)`` (control participants given one
        placeholder mentor).
    reml : bool
        REML (default) or ML.
    start : array, optional
        Starting relative covariance parameters ``theta``.
    maxiter : int
        Optimiser iteration limit.

    Returns
    -------
    LmmFit

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(50), 4)
    >>> y = 1.0 + rng.normal(size=50)[g] + rng.normal(size=200)
    >>> fit = fit_lmm(y, np.ones((200, 1)), [g])
    >>> fit.n_groups
    (50,)
    """
    return LmmModel(y, X, levels, slope, z).fit(reml=reml, start=start, maxiter=maxiter)


def _profile(wvw: np.ndarray, p: int) -> tuple[np.ndarray, float, float, Any]:
    """beta, penalised RSS, log det(X'V^-1X) and its Cholesky factor from the cross-product W'V^-1W."""
    try:
        chol = linalg.cho_factor(wvw[:p, :p], lower=True, check_finite=False)
    except linalg.LinAlgError:
        raise AnalysisError(
            "The fixed-effects design is rank deficient (a column is a combination of others)."
        ) from None
    beta = linalg.cho_solve(chol, wvw[:p, p], check_finite=False)
    r2 = float(wvw[p, p] - wvw[:p, p] @ beta)
    ld_rx = 2.0 * float(np.sum(np.log(np.diag(chol[0]))))
    return beta, r2, ld_rx, chol
