"""Cluster-robust inference for linear models: the Bell–McCaffrey CR2 covariance with
Pustejovsky–Tipton Satterthwaite degrees of freedom, vectorised over clusters.

:func:`cr2_fit` fits ordinary least squares and returns a :class:`CR2Fit` whose
:meth:`~CR2Fit.contrasts` gives, for each linear combination ``c' beta``, the estimate, the CR2
standard error and the Satterthwaite df -- the numbers R's clubSandwich reports with
``vcovCR(fit, cluster, type = "CR2")`` and ``coef_test(..., test = "Satterthwaite")`` /
``linear_contrast(...)`` for an ``lm`` fit (working model: the identity).

Clusters of every size are handled in batches of equal size (one stacked ``eigh`` per size);
singleton clusters -- participants who belong to no cluster, e.g. the control arm of a partially
nested trial -- take a closed form, so the cost does not grow with a Python loop over clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval.errors import AnalysisError

__all__ = ["CR2Fit", "cr2_fit", "cluster_codes", "nested_cluster_labels"]

# clubSandwich's matrix_power() treats eigenvalues below 1e-12 as zero (a pseudo-inverse root).
_EIG_TOL = 1e-12


def cluster_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Integer cluster codes; a missing value makes the observation its own (singleton) cluster.

    Parameters
    ----------
    values : Series or array
        Cluster labels, with missing values (``NaN``/``None``) for observations in no cluster.

    Returns
    -------
    numpy.ndarray of int64
        ``0..G-1``; labelled clusters first (in order of appearance), then one new code per
        unlabelled observation.
    """
    codes, uniques = pd.factorize(pd.Series(values).reset_index(drop=True), use_na_sentinel=True)
    codes = codes.astype(np.int64)
    miss = codes < 0
    codes[miss] = len(uniques) + np.arange(int(miss.sum()))
    return codes


@dataclass(frozen=True)
class CR2Fit:
    """OLS estimates with the CR2 cluster-robust covariance (see :func:`cr2_fit`).

    Attributes
    ----------
    beta : coefficients (p,).
    vcov : CR2 covariance of ``beta`` (p, p).
    vcov_ols : the classical covariance ``s^2 (X'X)^-1`` (p, p), for comparison.
    df_resid : ``n - p`` (the classical df).
    n_obs, n_clusters, n_singletons : observations, clusters (singletons included) and clusters
        with one observation.
    """

    beta: np.ndarray
    vcov: np.ndarray
    vcov_ols: np.ndarray
    df_resid: int
    n_obs: int
    n_clusters: int
    n_singletons: int
    # internals for the Satterthwaite df (kept so that any contrast can be asked for later)
    _x: np.ndarray
    _xtx_inv: np.ndarray
    _starts: np.ndarray
    _apply_a: object

    @property
    def se(self) -> np.ndarray:
        """CR2 standard errors of the coefficients."""
        return np.sqrt(np.diag(self.vcov))

    def satterthwaite_df(self, L: np.ndarray) -> np.ndarray:
        """Pustejovsky–Tipton Satterthwaite df of each row ``c`` of ``L`` (``c' beta``).

        With ``p_g = A_g X_g M c`` (``M = (X'X)^-1``) and ``w_g = X_g' p_g``, the CR2 variance of
        ``c' beta`` is ``sum_g (p_g' e_g)^2``; under the working model ``Var(y) = I`` its mean and
        variance give ``df = (tr Omega)^2 / ||Omega||_F^2`` with
        ``Omega_gh = delta_gh p_g' p_g - w_g' M w_h`` (clubSandwich's ``Satterthwaite_df`` on its
        ``P_array``). Computed without forming the G x G matrix ``Omega``:
        ``||Omega||_F^2 = sum_g d_g^2 - 2 sum_g d_g q_g + tr((M W'W)^2)``, ``d_g = p_g'p_g``,
        ``q_g = w_g' M w_g``.
        """
        L = np.atleast_2d(np.asarray(L, dtype=float))
        x, m = self._x, self._xtx_inv
        q = x @ (m @ L.T)  # n x k
        pmat = self._apply_a(q)  # A_g applied blockwise: n x k
        starts = self._starts
        d = np.add.reduceat(pmat**2, starts, axis=0)
        w = np.add.reduceat(x[:, :, None] * pmat[:, None, :], starts, axis=0)
        mw = np.einsum("ij,gjk->gik", m, w)
        qg = np.einsum("gik,gik->gk", w, mw)
        wtw = np.einsum("gik,gjk->kij", w, w)  # per contrast: W'W (p x p)
        mwtw = np.einsum("ij,kjl->kil", m, wtw)
        frob = (d**2).sum(0) - 2.0 * (d * qg).sum(0) + np.einsum("kij,kji->k", mwtw, mwtw)
        trace = d.sum(0) - qg.sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(frob > 0, trace**2 / frob, np.nan)

    def _pw(self, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-cluster cross-products of the adjusted contrast loadings: d (G, q, q), w (G, p, q)."""
        x, m = self._x, self._xtx_inv
        pmat = self._apply_a(x @ (m @ C.T))  # n x q
        d = np.add.reduceat(pmat[:, :, None] * pmat[:, None, :], self._starts, axis=0)
        w = np.add.reduceat(x[:, :, None] * pmat[:, None, :], self._starts, axis=0)
        return d, w

    def wald_test(self, C: np.ndarray) -> dict[str, float]:
        """HTZ Wald test of ``C beta = 0`` (clubSandwich ``Wald_test(..., test = "HTZ")``).

        Returns ``F`` (the Hotelling-scaled statistic), ``df_num`` (q), ``df_denom`` and ``p``.

        Notes
        -----
        Pustejovsky & Tipton (2018), section 3: ``Q = (C b)' (C V C')^-1 (C b)``; with
        ``Omega = E[C V C']`` under the working model and the covariances of the entries of
        ``Omega^{-1/2} C V C' Omega^{-1/2}``, ``nu = q (q + 1) / sum(Var)`` and
        ``F = (nu - q + 1) / (nu q) Q ~ F(q, nu - q + 1)``. Every G x G array of clubSandwich's
        ``P_array`` is reduced to sums over clusters and p x p products, so the cost is linear in G.
        """
        C = np.atleast_2d(np.asarray(C, dtype=float))
        q = C.shape[0]
        m = self._xtx_inv
        cb = C @ self.beta
        qstat = float(cb @ np.linalg.solve(C @ self.vcov @ C.T, cb))
        d, w = self._pw(C)
        qq = np.einsum("gia,ij,gjb->gab", w, m, w)
        omega = (d - qq).sum(axis=0)
        lam, vec = np.linalg.eigh(0.5 * (omega + omega.T))
        root = np.where(lam > _EIG_TOL, 1.0 / np.sqrt(np.where(lam > _EIG_TOL, lam, 1.0)), 0.0)
        rot = (vec * root) @ vec.T  # Omega^{-1/2}
        d, w = self._pw(rot @ C)  # B_st = P computed for the rotated contrasts
        qq = np.einsum("gia,ij,gjb->gab", w, m, w)
        s_ab = np.einsum("gia,gjb->abij", w, w)  # S_ab = sum_g w_ag w_bg'
        ms = np.einsum("ij,abjk->abik", m, s_ab)  # M S_ab

        def inner(s_, t_, u_, v_):
            # <P_st, P_uv>_F over the G x G cluster pairs
            return float(np.sum(d[:, s_, t_] * d[:, u_, v_]) - np.sum(d[:, s_, t_] * qq[:, u_, v_])
                         - np.sum(d[:, u_, v_] * qq[:, s_, t_])
                         + np.einsum("ij,ji->", ms[t_, v_], ms[u_, s_]))

        total = 0.0
        for s_ in range(q):
            for t_ in range(q):
                total += inner(s_, t_, t_, s_) + inner(s_, s_, t_, t_)
        nu = q * (q + 1) / total
        delta = max((nu - q + 1) / nu, 0.0)
        df = nu - q + 1
        fstat = delta * qstat / q
        p = float(stats.f.sf(fstat, q, df)) if df > 0 else float("nan")
        return {"F": fstat, "df_num": float(q), "df_denom": float(df), "p": p}

    def contrasts(self, L: np.ndarray) -> pd.DataFrame:
        """Estimate, CR2 SE, Satterthwaite df, t and two-sided p of each row of ``L``.

        Returns
        -------
        DataFrame with ``estimate``, ``se``, ``df``, ``t``, ``p``, ``se_unclustered`` (the classical
        OLS SE of the same combination).
        """
        L = np.atleast_2d(np.asarray(L, dtype=float))
        est = L @ self.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, self.vcov, L))
        se_ols = np.sqrt(np.einsum("ij,jk,ik->i", L, self.vcov_ols, L))
        df = self.satterthwaite_df(L)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = est / se
        return pd.DataFrame({"estimate": est, "se": se, "df": df, "t": t,
                             "p": 2.0 * stats.t.sf(np.abs(t), df), "se_unclustered": se_ols})


def _adjustment_operator(x: np.ndarray, m: np.ndarray, codes: np.ndarray):
    """Return a function applying the block-diagonal ``A = diag_g (I - H_gg)^{-1/2}`` to (n, k).

    Blocks are grouped by cluster size: singletons in closed form ``1 / sqrt(1 - h_ii)``, small
    clusters of one size by one stacked symmetric eigendecomposition, large clusters by a low-rank
    update of the identity.
    """
    n = x.shape[0]
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, n])
    plans = []
    for size in np.unique(sizes):
        first = starts[sizes == size]
        idx = order[first[:, None] + np.arange(size)[None, :]]  # clusters x size (row numbers)
        xs = x[idx]  # clusters x size x p
        if size == 1:
            h = np.einsum("gi,ij,gj->g", xs[:, 0, :], m, xs[:, 0, :])
            lam = 1.0 - h
            a = np.where(lam > _EIG_TOL, 1.0 / np.sqrt(np.where(lam > _EIG_TOL, lam, 1.0)), 0.0)
            plans.append((idx[:, 0], a, None))
        elif size > max(2 * x.shape[1], 24):
            # Large clusters (sites): I - H_gg differs from I only on the column space of X_g, so
            # with X_g = U S V' and S V' M V S = Q diag(lam) Q', W = U Q,
            # (I - H_gg)^{-1/2} = I + W diag((1 - lam)^{-1/2} - 1) W' -- O(size p^2), not O(size^3).
            for row in idx:
                u, sv, vt = np.linalg.svd(x[row], full_matrices=False)
                keep = sv > sv[0] * 1e-12 if sv.size else sv > 0
                u, sv, vt = u[:, keep], sv[keep], vt[keep]
                k = (sv[:, None] * vt) @ m @ (vt.T * sv[None, :])
                lam, q = np.linalg.eigh(0.5 * (k + k.T))
                rest = 1.0 - lam
                root = np.where(rest > _EIG_TOL, 1.0 / np.sqrt(np.where(rest > _EIG_TOL, rest, 1.0)), 0.0)
                plans.append((row, None, (u @ q, root - 1.0)))
        else:
            hgg = np.einsum("gip,pq,gjq->gij", xs, m, xs)
            ih = np.eye(size)[None, :, :] - hgg
            lam, vec = np.linalg.eigh(0.5 * (ih + np.swapaxes(ih, 1, 2)))
            root = np.where(lam > _EIG_TOL, 1.0 / np.sqrt(np.where(lam > _EIG_TOL, lam, 1.0)), 0.0)
            a = np.einsum("gik,gk,gjk->gij", vec, root, vec)
            plans.append((idx, None, a))

    def apply(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        out = np.empty_like(v)
        for idx, a1, a in plans:
            if a is None:
                out[idx] = v[idx] * (a1[:, None] if v.ndim == 2 else a1)
            elif isinstance(a, tuple):  # one large cluster, low-rank form
                w, c = a
                vi = v[idx]
                coef = w.T @ vi
                out[idx] = vi + w @ (coef * (c[:, None] if vi.ndim == 2 else c))
            else:
                out[idx] = np.einsum("gij,gj...->gi...", a, v[idx])
        return out

    return apply


def cr2_fit(x: np.ndarray, y: np.ndarray, codes: np.ndarray) -> CR2Fit:
    """OLS of ``y`` on ``x`` with the Bell–McCaffrey CR2 cluster-robust covariance.

    Parameters
    ----------
    x : array (n, p)
        Design matrix of full column rank.
    y : array (n,)
        Response.
    codes : array (n,) of int
        Cluster code of each row (see :func:`cluster_codes`; singletons have unique codes).

    Returns
    -------
    CR2Fit

    Notes
    -----
    ``V_CR2 = M (sum_g X_g' A_g e_g e_g' A_g X_g) M`` with ``M = (X'X)^-1``, residuals ``e`` and
    ``A_g = (I - H_gg)^{-1/2}`` the symmetric inverse square root of the cluster block of
    ``I - X M X'`` (eigenvalues below 1e-12 treated as zero, as clubSandwich). This is
    clubSandwich's ``vcovCR(type = "CR2")`` for ``lm`` with its default working model (identity,
    ``inverse_var = TRUE``). With every cluster a singleton it is the HC2 estimator.

    References
    ----------
    Bell, R. M. & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression
    with multi-stage samples. Survey Methodology 28, 169–181.
    Pustejovsky, J. E. & Tipton, E. (2018). Small-sample methods for cluster-robust variance
    estimation and hypothesis testing in fixed effects models. Journal of Business & Economic
    Statistics 36, 672–683.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(10), 5)
    >>> x = np.column_stack([np.ones(50), g % 2])
    >>> y = rng.normal(size=10)[g] + rng.normal(size=50)
    >>> fit = cr2_fit(x, y, g)
    >>> fit.n_clusters
    10
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    codes = np.asarray(codes, dtype=np.int64).ravel()
    n, p = x.shape
    if n <= p:
        raise AnalysisError(f"CR2: {n} observations cannot estimate {p} coefficients.")
    if codes.shape[0] != n or y.shape[0] != n:
        raise AnalysisError("CR2: x, y and the cluster codes must have one row per observation.")
    # Sort by cluster once: every per-cluster sum below is then a contiguous segment sum. The
    # estimates do not depend on the row order.
    _, codes = np.unique(codes, return_inverse=True)
    order = np.argsort(codes.ravel(), kind="stable")
    codes = codes.ravel()[order].astype(np.int64)
    x, y = x[order], y[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    qmat, r = np.linalg.qr(x)
    beta = np.linalg.solve(r, qmat.T @ y)
    rinv = np.linalg.solve(r, np.eye(p))
    m = rinv @ rinv.T
    resid = y - x @ beta
    apply_a = _adjustment_operator(x, m, codes)
    g = starts.size
    adj = apply_a(resid)
    score = np.add.reduceat(x * adj[:, None], starts, axis=0)
    vcov = m @ (score.T @ score) @ m
    sigma2 = float(resid @ resid) / (n - p)
    counts = np.bincount(codes, minlength=g)
    return CR2Fit(
        beta=beta, vcov=0.5 * (vcov + vcov.T), vcov_ols=sigma2 * m, df_resid=n - p, n_obs=n,
        n_clusters=g, n_singletons=int((counts == 1).sum()), _x=x, _xtx_inv=m, _starts=starts,
        _apply_a=apply_a,
    )


def nested_cluster_labels(levels: Any) -> np.ndarray:
    """Cluster of each row under nested levels: the outermost level at which the row has a value.

    Parameters
    ----------
    levels : DataFrame or mapping of column name -> values
        One entry per declared cluster level, outermost first (e.g. ``site_id``, ``mentor_id``),
        each with one value per row; a missing value means the row is in no cluster of that level
        (a control participant of a partially nested trial has no mentor).

    Returns
    -------
    numpy.ndarray of object
        ``"<column>=<value>"`` of the outermost level with a value, ``None`` where the row has a
        value at no level; pass it to :func:`cluster_codes` (rows without a label become clusters
        of one).

    Notes
    -----
    Cluster-robust inference with nested levels clusters at the top level present, whose
    clusters contain the lower ones; a row that lacks the top level falls back to the next.

    Examples
    --------
    >>> nested_cluster_labels({"site_id": ["a", None, None], "mentor_id": ["m1", "m2", None]}).tolist()
    ['site_id=a', 'mentor_id=m2', None]
    """
    names = list(levels)
    n = len(levels[names[0]]) if names else 0
    key = np.full(n, None, dtype=object)
    for name in reversed(names):  # outer levels overwrite inner ones
        col = pd.Series(levels[name]).reset_index(drop=True)
        has = col.notna().to_numpy()
        key[has] = (name + "=" + col[has].astype(str)).to_numpy(dtype=object)
    return key
