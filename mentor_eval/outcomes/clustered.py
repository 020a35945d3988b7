"""Cluster-robust inference for linear models: the Bell–McCaffrey CR2 covariance with
Pustejovsky–Tipton Satterthwaite degrees of freedom, vectorised over clusters.

:func:`cr2_fit` fits ordinary least squares and returns a :class:`CR2Fit` whose
:meth:`~CR2Fit.contrasts` gives, for each linear combination ``c' beta``, the estimate, the CR2
standard error and the Satterthwaite df -- the numbers R's clubSandwich reports with
``vcovCR(fit, cluster, type = "CR2")`` and ``coef_test(..., test = "Satterthwaite")`` /
``linear_contrast(...)`` for an ``lm`` fit. The working model is the identity by default; with a
:class:`WorkingCovariance` (random intercepts, e.g. from a REML fit) the adjustment matrices and the
Satterthwaite df are computed under that model, as clubSandwich does with ``vcovCR(..., target = )``
(Imbens & Kolesár 2016: with few clusters, df computed under the identity are far too large).

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

__all__ = ["CR2Fit", "WorkingCovariance", "cr2_fit", "cluster_codes", "nested_cluster_labels"]

# clubSandwich's matrix_power() treats eigenvalues below 1e-12 as zero (a pseudo-inverse root).
_EIG_TOL = 1e-12
# Above this cluster size a model-based working covariance is not used (dense size^3 algebra per
# cluster); the identity working model is, and the fit says so.
_MAX_DENSE_TARGET = 2500


@dataclass(frozen=True)
class WorkingCovariance:
    """Working model ``Var(y) = sigma2 I + sum_l tau2_l Z_l Z_l'`` for CR2 (random intercepts).

    Parameters
    ----------
    sigma2 : float
        Residual variance (> 0).
    levels : sequence of (tau2, codes)
        For each random-intercept level its variance ``tau2 >= 0`` and the integer cluster code of
        each observation, ``-1`` for observations that carry no effect of that level (partial
        nesting: a control participant has no mentor).

    Notes
    -----
    Only the ratios ``tau2 / sigma2`` matter: the CR2 adjustments and the Satterthwaite df are
    invariant to the scale of the working model. Effects of a level are truncated to the CR2
    cluster an observation belongs to, so the working covariance is block diagonal by cluster.
    """

    sigma2: float
    levels: tuple = ()

    def ratios(self) -> list[tuple[float, np.ndarray]]:
        """``(tau2 / sigma2, codes)`` of each level with a positive variance."""
        if not (np.isfinite(self.sigma2) and self.sigma2 > 0):
            raise AnalysisError(f"CR2 working covariance: the residual variance must be positive; got {self.sigma2}.")
        out = []
        for tau2, codes in self.levels:
            if np.isfinite(tau2) and tau2 > 0:
                out.append((float(tau2) / float(self.sigma2), np.asarray(codes, dtype=np.int64).ravel()))
        return out


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
    working_model : ``"identity"`` or ``"random intercepts"`` (the :class:`WorkingCovariance` the
        adjustments and df were computed under).
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
    _apply_phi: object = None  # v -> Phi v (None: the identity)
    _mkm: np.ndarray | None = None  # M X' Phi X M
    working_model: str = "identity"

    @property
    def se(self) -> np.ndarray:
        """CR2 standard errors of the coefficients."""
        return np.sqrt(np.diag(self.vcov))

    def _loadings(self, C: np.ndarray, *, pairs: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Per-cluster ``d`` (G, k, k) = ``p_s' Phi_g p_t`` (``pairs=False``: only ``s = t``, (G, k))
        and ``z`` (G, 2p, k) = ``[X_g' Phi_g p; X_g' p]``.

        ``p = A X M c`` for each row ``c`` of ``C``. Under the working model the CR2 variances of
        the contrasts are quadratic forms ``y' u_s u_t' y`` summed over clusters with
        ``u_g = (I - H)_g' p_g``, whose G x G cross-moment matrices are
        ``Omega^{st} = diag(d^{st}) + Z_s S Z_t'`` with ``S = [[0, -M], [-M, M X'Phi X M]]``.
        """
        x, m = self._x, self._xtx_inv
        pmat = self._apply_a(x @ (m @ C.T))  # n x k
        phip = pmat if self._apply_phi is None else self._apply_phi(pmat)
        starts = self._starts
        prod = pmat[:, :, None] * phip[:, None, :] if pairs else pmat * phip
        d = np.add.reduceat(prod, starts, axis=0)
        w = np.add.reduceat(x[:, :, None] * pmat[:, None, :], starts, axis=0)
        f = w if self._apply_phi is None else np.add.reduceat(x[:, :, None] * phip[:, None, :], starts, axis=0)
        return d, np.concatenate([f, w], axis=1)

    def _s_matrix(self) -> np.ndarray:
        m = self._xtx_inv
        p = m.shape[0]
        mkm = m if self._mkm is None else self._mkm
        s = np.zeros((2 * p, 2 * p))
        s[:p, p:] = -m
        s[p:, :p] = -m
        s[p:, p:] = mkm
        return s

    def satterthwaite_df(self, L: np.ndarray) -> np.ndarray:
        """Pustejovsky–Tipton Satterthwaite df of each row ``c`` of ``L`` (``c' beta``).

        The CR2 variance of ``c' beta`` is ``sum_g (p_g' e_g)^2`` with ``p_g = A_g X_g M c``
        (``M = (X'X)^-1``). Under the working model ``Var(y) = Phi`` its mean and variance give
        ``df = (tr Omega)^2 / ||Omega||_F^2`` with ``Omega_gh = u_g' Phi u_h``,
        ``u_g = (I - H)_g' p_g`` (clubSandwich's ``Satterthwaite_df`` on its ``P_array``). With
        ``Omega = diag(d) + Z S Z'`` (see ``_loadings``) this is computed without forming the
        G x G matrix: ``tr Omega = sum_g (d_g + z_g' S z_g)`` and
        ``||Omega||_F^2 = sum_g d_g^2 + 2 sum_g d_g z_g' S z_g + tr((S Z'Z)^2)``. With the
        identity working model ``z_g' S z_g = -w_g' M w_g`` (``w_g = X_g' p_g``).
        """
        L = np.atleast_2d(np.asarray(L, dtype=float))
        d, z = self._loadings(L, pairs=False)
        s = self._s_matrix()
        e = np.einsum("gik,ij,gjk->gk", z, s, z)
        r = np.einsum("gik,gjk->kij", z, z)  # per contrast: Z'Z (2p x 2p)
        sr = np.einsum("ij,kjl->kil", s, r)
        frob = (d**2).sum(0) + 2.0 * (d * e).sum(0) + np.einsum("kij,kji->k", sr, sr)
        trace = d.sum(0) + e.sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(frob > 0, trace**2 / frob, np.nan)

    def wald_test(self, C: np.ndarray) -> dict[str, float]:
        """HTZ Wald test of ``C beta = 0`` (clubSandwich ``Wald_test(..., test = "HTZ")``).

        Returns ``F`` (the Hotelling-scaled statistic), ``df_num`` (q), ``df_denom`` and ``p``.

        Notes
        -----
        Pustejovsky & Tipton (2018), section 3: ``Q = (C b)' (C V C')^-1 (C b)``; with
        ``Omega = E[C V C']`` under the working model and the covariances of the entries of
        ``Omega^{-1/2} C V C' Omega^{-1/2}``, ``nu = q (q + 1) / sum(Var)`` and
        ``F = (nu - q + 1) / (nu q) Q ~ F(q, nu - q + 1)``. Every G x G array of clubSandwich's
        ``P_array`` (``P^{st} = diag(d^{st}) + Z_s S Z_t'``) is reduced to sums over clusters and
        2p x 2p products, so the cost is linear in G.
        """
        C = np.atleast_2d(np.asarray(C, dtype=float))
        q = C.shape[0]
        s = self._s_matrix()
        cb = C @ self.beta
        qstat = float(cb @ np.linalg.solve(C @ self.vcov @ C.T, cb))
        d, z = self._loadings(C)
        e = np.einsum("gia,ij,gjb->gab", z, s, z)
        omega = (d + e).sum(axis=0)
        lam, vec = np.linalg.eigh(0.5 * (omega + omega.T))
        root = np.where(lam > _EIG_TOL, 1.0 / np.sqrt(np.where(lam > _EIG_TOL, lam, 1.0)), 0.0)
        rot = (vec * root) @ vec.T  # Omega^{-1/2}
        d, z = self._loadings(rot @ C)  # P^{st} computed for the rotated contrasts
        e = np.einsum("gia,ij,gjb->gab", z, s, z)
        r_ab = np.einsum("gia,gjb->abij", z, z)  # R_ab = sum_g z_ag z_bg'
        sr = np.einsum("ij,abjk->abik", s, r_ab)  # S R_ab

        def inner(s_, t_, u_, v_):
            # <P^{st}, P^{uv}>_F over the G x G cluster pairs
            return float(np.sum(d[:, s_, t_] * d[:, u_, v_]) + np.sum(d[:, s_, t_] * e[:, u_, v_])
                         + np.sum(d[:, u_, v_] * e[:, s_, t_])
                         + np.einsum("ij,ji->", sr[t_, v_], sr[u_, s_]))

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


def _inv_sqrt_psd(g: np.ndarray) -> np.ndarray:
    """Stacked symmetric ``g^{-1/2}`` with eigenvalues below 1e-12 treated as zero (clubSandwich)."""
    lam, vec = np.linalg.eigh(0.5 * (g + np.swapaxes(g, -1, -2)))
    root = np.where(lam > _EIG_TOL, 1.0 / np.sqrt(np.where(lam > _EIG_TOL, lam, 1.0)), 0.0)
    return np.einsum("...ik,...k,...jk->...ij", vec, root, vec)


def _phi_operator(ratios: list[tuple[float, np.ndarray]], n: int):
    """``v -> Phi v`` for ``Phi = I + sum_l r_l Z_l Z_l'`` (sparse indicator products)."""
    from scipy import sparse

    mats = []
    for r, codes in ratios:
        member = codes >= 0
        _, inv = np.unique(codes[member], return_inverse=True)
        z = sparse.csr_matrix((np.ones(int(member.sum())), (np.flatnonzero(member), inv.ravel())),
                              shape=(n, int(inv.max()) + 1 if inv.size else 0))
        mats.append((r, z, z.T.tocsr()))

    def apply(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        out = v.copy()
        for r, z, zt in mats:
            out += r * (z @ (zt @ v))
        return out

    return apply


def _adjustment_operator(x: np.ndarray, m: np.ndarray, codes: np.ndarray, ratios=None, mkm=None):
    """Return a function applying the block-diagonal CR2 adjustment ``A = diag_g A_g`` to (n, k).

    Identity working model: ``A_g = (I - H_gg)^{-1/2}``. Working model ``Phi`` (clubSandwich's
    ``CR2`` with ``inverse_var = FALSE``): ``A_g = V_g' G_g^{-1/2} V_g`` with ``Phi_g = V_g' V_g``
    (upper Cholesky factor) and ``G_g = V_g (Phi_g - H_gg Phi_g - Phi_g H_gg + X_g M X'Phi X M
    X_g') V_g'``.

    Blocks are grouped by cluster size: singletons in closed form, small clusters of one size by
    one stacked eigendecomposition, large clusters (identity working model) by a low-rank update of
    the identity.
    """
    n = x.shape[0]
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, n])
    target = bool(ratios)
    plans = []
    for size in np.unique(sizes):
        first = starts[sizes == size]
        idx = order[first[:, None] + np.arange(size)[None, :]]  # clusters x size (row numbers)
        xs = x[idx]  # clusters x size x p
        if target:
            # Phi_g of each cluster: 1 on the diagonal plus r_l where two members share a level-l code
            phi = np.broadcast_to(np.eye(size), (len(first), size, size)).copy()
            for r, lc in ratios:
                c = lc[idx]
                phi += r * ((c[:, :, None] == c[:, None, :]) & (c[:, :, None] >= 0))
            h = np.einsum("gip,pq,gjq->gij", xs, m, xs)
            k = np.einsum("gip,pq,gjq->gij", xs, mkm, xs)
            hp = h @ phi
            t = phi - hp - np.swapaxes(hp, 1, 2) + k
            low = np.linalg.cholesky(phi)  # Phi = L L', so clubSandwich's V = L'
            g = np.swapaxes(low, 1, 2) @ t @ low
            a = low @ _inv_sqrt_psd(g) @ np.swapaxes(low, 1, 2)
            plans.append((idx, None, a))
        elif size == 1:
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
                kk = (sv[:, None] * vt) @ m @ (vt.T * sv[None, :])
                lam, q = np.linalg.eigh(0.5 * (kk + kk.T))
                rest = 1.0 - lam
                root = np.where(rest > _EIG_TOL, 1.0 / np.sqrt(np.where(rest > _EIG_TOL, rest, 1.0)), 0.0)
                plans.append((row, None, (u @ q, root - 1.0)))
        else:
            hgg = np.einsum("gip,pq,gjq->gij", xs, m, xs)
            a = _inv_sqrt_psd(np.eye(size)[None, :, :] - hgg)
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


def cr2_fit(x: np.ndarray, y: np.ndarray, codes: np.ndarray, *,
            target: WorkingCovariance | None = None, resid: np.ndarray | None = None) -> CR2Fit:
    """OLS of ``y`` on ``x`` with the Bell–McCaffrey CR2 cluster-robust covariance.

    Parameters
    ----------
    x : array (n, p)
        Design matrix of full column rank.
    y : array (n,)
        Response.
    codes : array (n,) of int
        Cluster code of each row (see :func:`cluster_codes`; singletons have unique codes).
    target : WorkingCovariance, optional
        Working model for the adjustment matrices and the Satterthwaite df (default: the
        identity). Random-intercept variances from a REML fit of the same design give df that
        reflect how few clusters there are (Imbens & Kolesár 2016). Ignored, with
        ``working_model = "identity"`` in the result, when a cluster has more than 2,500 rows.
    resid : array (n,), optional
        Residuals for the meat of the sandwich instead of the OLS residuals: for two-stage least
        squares, ``x`` is the projected design ``X_hat = P_W X`` (whose OLS coefficients are the
        2SLS estimates) and ``resid`` the structural residuals ``y - X b``, as clubSandwich does
        for ``AER::ivreg`` fits.

    Returns
    -------
    CR2Fit

    Notes
    -----
    ``V_CR2 = M (sum_g X_g' A_g e_g e_g' A_g X_g) M`` with ``M = (X'X)^-1``, residuals ``e`` and
    ``A_g`` the CR2 adjustment of cluster ``g``: ``(I - H_gg)^{-1/2}`` under the identity working
    model (the symmetric inverse square root of the cluster block of ``I - X M X'``), or
    ``V_g' G_g^{-1/2} V_g`` under a working model ``Phi`` (see ``_adjustment_operator``);
    eigenvalues below 1e-12 are treated as zero, as clubSandwich does. This is clubSandwich's
    ``vcovCR(type = "CR2")`` for ``lm``: default working model (identity, ``inverse_var = TRUE``),
    or ``target = Phi`` (``inverse_var = FALSE``). With every cluster a singleton and the identity
    it is the HC2 estimator.

    References
    ----------
    Bell, R. M. & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression
    with multi-stage samples. Survey Methodology 28, 169–181.
    Imbens, G. W. & Kolesár, M. (2016). Robust standard errors in small samples: some practical
    advice. Review of Economics and Statistics 98, 701–712.
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
    >>> fit_ri = cr2_fit(x, y, g, target=WorkingCovariance(1.0, ((0.5, g),)))
    >>> fit_ri.working_model
    'random intercepts'
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    codes = np.asarray(codes, dtype=np.int64).ravel()
    n, p = x.shape
    if n <= p:
        raise AnalysisError(f"CR2: {n} observations cannot estimate {p} coefficients.")
    if resid is not None:
        resid = np.asarray(resid, dtype=float).ravel()
    if codes.shape[0] != n or y.shape[0] != n or (resid is not None and resid.shape[0] != n):
        raise AnalysisError("CR2: x, y and the cluster codes must have one row per observation.")
    ratios = target.ratios() if target is not None else []
    for _, lc in ratios:
        if lc.shape[0] != n:
            raise AnalysisError("CR2: each level of the working covariance needs one code per observation.")
    # Sort by cluster once: every per-cluster sum below is then a contiguous segment sum. The
    # estimates do not depend on the row order.
    _, codes = np.unique(codes, return_inverse=True)
    order = np.argsort(codes.ravel(), kind="stable")
    codes = codes.ravel()[order].astype(np.int64)
    x, y = x[order], y[order]
    resid_given = None if resid is None else resid[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    g = starts.size
    counts = np.bincount(codes, minlength=g)
    if ratios and counts.max() > _MAX_DENSE_TARGET:
        ratios = []
    # a level's effect is truncated to the CR2 cluster: codes are (cluster, level code) pairs
    ratios = [(r, np.where(lc[order] >= 0, pd.factorize(pd.MultiIndex.from_arrays(
        [codes, lc[order]]))[0], -1).astype(np.int64)) for r, lc in ratios]
    qmat, r = np.linalg.qr(x)
    beta = np.linalg.solve(r, qmat.T @ y)
    rinv = np.linalg.solve(r, np.eye(p))
    m = rinv @ rinv.T
    resid = y - x @ beta if resid_given is None else resid_given
    apply_phi, mkm = None, None
    if ratios:
        apply_phi = _phi_operator(ratios, n)
        mkm = m @ (x.T @ apply_phi(x)) @ m
        mkm = 0.5 * (mkm + mkm.T)
    apply_a = _adjustment_operator(x, m, codes, ratios, mkm)
    adj = apply_a(resid)
    score = np.add.reduceat(x * adj[:, None], starts, axis=0)
    vcov = m @ (score.T @ score) @ m
    sigma2 = float(resid @ resid) / (n - p)
    return CR2Fit(
        beta=beta, vcov=0.5 * (vcov + vcov.T), vcov_ols=sigma2 * m, df_resid=n - p, n_obs=n,
        n_clusters=g, n_singletons=int((counts == 1).sum()), _x=x, _xtx_inv=m, _starts=starts,
        _apply_a=apply_a, _apply_phi=apply_phi, _mkm=mkm,
        working_model="random intercepts" if ratios else "identity",
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
