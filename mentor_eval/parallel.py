"""Resampling that scales: bootstrap replicates as frequency weights, run through joblib.

A bootstrap replicate of ``n`` rows is represented by its *frequency weights*: how often each
row was drawn. Weighted least squares with those weights is exactly ordinary least squares on
the resampled rows, so a statistic can process a whole batch of replicates at once with
batched matrix algebra (no Python fit per replicate). Resampling whole clusters (every row of
a drawn mentor or group enters with the cluster's draw count) and resampling within strata
(e.g. within each arm, keeping arm sizes fixed) are the same representation.

Reproducibility: every replicate has its own random stream, spawned from the seed with
:meth:`numpy.random.SeedSequence.spawn`, and replicates are cut into chunks of a fixed size
that does not depend on the number of workers. The same seed therefore gives bit-identical
replicates, and identical confidence intervals, on 1 or 16 workers and with any joblib
backend (``"loky"``, ``"threading"``, ``"multiprocessing"``, or ``"dask"`` inside
``joblib.parallel_config(backend="dask")``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import check_in_interval, check_one_of, check_positive_int, renamed_parameters
from mentor_eval.errors import AnalysisError, ParameterError

__all__ = [
    "ResamplingPlan",
    "resampling_plan",
    "replicate_weights",
    "run_bootstrap",
    "jackknife_weights",
    "bootstrap_ci",
    "DEFAULT_CHUNK",
]

DEFAULT_CHUNK = 250  # replicates per task: large enough to amortise the dispatch, small for memory


class ResamplingPlan:
    """How rows are resampled: the cluster of every row and the stratum of every cluster.

    Built by :func:`resampling_plan`; holds integer codes only, so it pickles cheaply to workers.

    Attributes
    ----------
    n : int
        Rows.
    cluster : ndarray of int, shape (n,)
        Cluster code of each row (``0 .. n_clusters - 1``); every row its own cluster when
        the data are not clustered.
    cluster_stratum : ndarray of int, shape (n_clusters,)
        Stratum code of each cluster (all zero without strata).
    """

    def __init__(self, cluster: np.ndarray, cluster_stratum: np.ndarray) -> None:
        self.cluster = np.asarray(cluster, dtype=np.int64)
        self.cluster_stratum = np.asarray(cluster_stratum, dtype=np.int64)
        self.n = len(self.cluster)
        self.n_clusters = len(self.cluster_stratum)
        # members of each stratum, drawn from with replacement
        self._strata = [np.flatnonzero(self.cluster_stratum == s) for s in np.unique(self.cluster_stratum)]

    @property
    def clustered(self) -> bool:
        """True when some cluster holds more than one row."""
        return self.n_clusters < self.n

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """Frequency weights (float, length n) of one replicate drawn with ``rng``."""
        counts = np.zeros(self.n_clusters)
        for members in self._strata:
            picks = members[rng.integers(0, len(members), len(members))]
            counts += np.bincount(picks, minlength=self.n_clusters)
        return counts[self.cluster]


def resampling_plan(n: int, *, clusters: Any = None, strata: Any = None, func: str = "run_bootstrap",
                    ) -> ResamplingPlan:
    """Build a :class:`ResamplingPlan` for ``n`` rows.

    Parameters
    ----------
    n : int
        Number of rows.
    clusters : array-like of length n, optional
        Cluster label of each row (missing labels: the row is a cluster of its own, as
        unmentored control participants are). Whole clusters are resampled.
    strata : array-like of length n, optional
        Stratum of each row (e.g. the arm); clusters are resampled within their stratum, so
        stratum sizes (in clusters) stay fixed. A cluster must lie within one stratum.
    func : str
        Name of the calling function, for error messages.

    Returns
    -------
    ResamplingPlan

    Raises
    ------
    ParameterError
        If ``clusters`` or ``strata`` has the wrong length.
    AnalysisError
        If a cluster spans two strata.
    """
    n = check_positive_int(func, "n", n)
    if clusters is None:
        cl = np.arange(n)
    else:
        s = pd.Series(np.asarray(clusters, dtype=object))
        if len(s) != n:
            raise ParameterError(f"The 'clusters' parameter of {func} must have one label per row ({n}); "
                                 f"got {len(s)}.")
        miss = s.isna().to_numpy()
        labels = s.astype(str).to_numpy(dtype=object)
        labels[miss] = np.array([f"\0solo{i}" for i in np.flatnonzero(miss)], dtype=object)
        cl = pd.factorize(labels)[0]
    n_cl = int(cl.max()) + 1
    if strata is None:
        cs = np.zeros(n_cl, dtype=np.int64)
    else:
        st = np.asarray(strata, dtype=object)
        if len(st) != n:
            raise ParameterError(f"The 'strata' parameter of {func} must have one label per row ({n}); "
                                 f"got {len(st)}.")
        codes = pd.factorize(pd.Series(st).astype(str))[0]
        cs = np.full(n_cl, -1, dtype=np.int64)
        cs[cl] = codes
        spans = np.bincount(cl, minlength=n_cl) != 0
        mixed = pd.DataFrame({"c": cl, "s": codes}).groupby("c")["s"].nunique()
        if (mixed > 1).any() or not spans.all():
            raise AnalysisError(f"{func}: a cluster lies in more than one stratum (e.g. a mentor with "
                                "mentees in two arms); clusters must be nested within strata.")
    return ResamplingPlan(cl, cs)


def _seeds(seed: Any, n_boot: int) -> list[np.random.SeedSequence]:
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(n_boot)


def replicate_weights(plan: ResamplingPlan, seeds: Sequence[np.random.SeedSequence]) -> np.ndarray:
    """Frequency weights of the replicates with the given seeds, shape (len(seeds), n)."""
    out = np.empty((len(seeds), plan.n))
    for i, ss in enumerate(seeds):
        out[i] = plan.draw(np.random.default_rng(ss))
    return out


def jackknife_weights(plan: ResamplingPlan) -> np.ndarray:
    """Leave-one-cluster-out weights, shape (n_clusters, n): row g drops cluster g (0), keeps the rest (1)."""
    return (plan.cluster[None, :] != np.arange(plan.n_clusters)[:, None]).astype(float)


def _run_chunk(statistic: Callable[[np.ndarray], np.ndarray], plan: ResamplingPlan,
               seeds: Sequence[np.random.SeedSequence]) -> np.ndarray:
    return np.asarray(statistic(replicate_weights(plan, seeds)), dtype=float)


def run_bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray],
    plan: ResamplingPlan,
    n_boot: int = 2000,
    *,
    seed: Any = None,
    n_jobs: int | None = 1,
    backend: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """Evaluate a batched statistic on ``n_boot`` bootstrap replicates, in parallel.

    Parameters
    ----------
    statistic : callable
        ``statistic(weights) -> ndarray``: given frequency weights of shape (b, n), one row
        per replicate, return the statistics of shape (b, k) (or (b,)). It must treat each
        row on its own (batched algebra), so results do not depend on how replicates are
        grouped. It is pickled to worker processes with the loky backend: close over arrays,
        not open files.
    plan : ResamplingPlan
        From :func:`resampling_plan` (clusters, strata).
    n_boot : int
        Number of replicates.
    seed : int, SeedSequence or None
        Root seed; replicate r uses ``SeedSequence(seed).spawn(n_boot)[r]``. None draws fresh
        entropy (not reproducible).
    n_jobs : int or None
        joblib workers (1: in this process; -1: all cores). None follows an enclosing
        ``joblib.parallel_config``.
    backend : str, optional
        joblib backend name (``"loky"``, ``"threading"``, ``"multiprocessing"``, ``"dask"``
        with a Dask client). None: joblib's default or an enclosing ``parallel_config``.
    chunk_size : int
        Replicates per task. Fixed chunks keep results identical whatever ``n_jobs``.

    Returns
    -------
    ndarray, shape (n_boot, k)
        Replicate statistics in replicate order.

    Notes
    -----
    The result depends only on ``seed``, ``plan``, ``n_boot`` and ``chunk_size``, never on
    ``n_jobs`` or ``backend``: each replicate draws from its own spawned stream.

    References
    ----------
    Efron, B., & Tibshirani, R. J. (1993). An introduction to the bootstrap. Chapman & Hall.
    Field, C. A., & Welsh, A. H. (2007). Bootstrapping clustered data. Journal of the Royal
    Statistical Society B, 69(3), 369-390.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10.0)
    >>> plan = resampling_plan(10)
    >>> boot = run_bootstrap(lambda w: (w @ x) / w.sum(axis=1), plan, 200, seed=1)
    >>> boot.shape
    (200, 1)
    """
    func = "run_bootstrap"
    n_boot = check_positive_int(func, "n_boot", n_boot)
    chunk_size = check_positive_int(func, "chunk_size", chunk_size)
    if not isinstance(plan, ResamplingPlan):
        raise ParameterError(f"The 'plan' parameter of {func} must be a ResamplingPlan (see resampling_plan); "
                             f"got {type(plan).__name__}.")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0):
        raise ParameterError(f"The 'n_jobs' parameter of {func} must be a non-zero integer or None; got {n_jobs!r}.")
    seeds = _seeds(seed, n_boot)
    chunks = [seeds[i:i + chunk_size] for i in range(0, n_boot, chunk_size)]
    if n_jobs == 1 and backend is None:
        parts = [_run_chunk(statistic, plan, c) for c in chunks]
    else:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=n_jobs, backend=backend)(delayed(_run_chunk)(statistic, plan, c) for c in chunks)
    out = np.concatenate([p.reshape(len(c), -1) for p, c in zip(parts, chunks, strict=True)], axis=0)
    return out


@renamed_parameters({"conf_level": "ci_level"})
def bootstrap_ci(
    boot: np.ndarray,
    estimate: np.ndarray,
    *,
    method: str = "percentile",
    ci_level: float = 0.95,
    jackknife: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Percentile or BCa confidence limits and bootstrap p values from replicate statistics.

    Parameters
    ----------
    boot : ndarray, shape (B, k)
        Replicate statistics (NaN replicates, e.g. an undefined proportion, are ignored).
    estimate : ndarray, shape (k,)
        Estimates on the original data.
    method : {"percentile", "bca"}
        Percentile interval, or bias-corrected and accelerated (needs ``jackknife``).
    ci_level : float
        Confidence level.
    jackknife : ndarray, shape (G, k), optional
        Leave-one-(cluster-)out estimates, for the BCa acceleration.

    Returns
    -------
    dict
        ``ci_low``, ``ci_high``, ``p`` (two-sided: twice the smaller tail share beyond zero,
        ``2 (min count + 1) / (B + 1)``, for ``"percentile"``; on the BCa-adjusted scale for ``"bca"``), ``se`` (SD of the replicates) and
        ``n_valid`` (finite replicates), each of shape (k,).

    Notes
    -----
    BCa (Efron 1987): bias correction ``z0 = Phi^-1(share of replicates < estimate)``,
    acceleration ``a = sum(d^3) / (6 (sum d^2)^1.5)`` with ``d = mean(jack) - jack``; the
    limits are the replicate quantiles at ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for
    ``z = Phi^-1(alpha/2), Phi^-1(1 - alpha/2)``.

    References
    ----------
    Efron, B. (1987). Better bootstrap confidence intervals. JASA, 82(397), 171-185.
    Preacher, K. J., & Hayes, A. F. (2008). Asymptotic and resampling strategies for
    assessing and comparing indirect effects. Behavior Research Methods, 40, 879-891.
    """
    func = "bootstrap_ci"
    check_one_of(func, "method", method, ("percentile", "bca"))
    ci_level = check_in_interval(func, "ci_level", ci_level, 0, 1)
    boot = np.atleast_2d(np.asarray(boot, dtype=float))
    if boot.shape[0] == 1 and np.ndim(estimate) == 0:
        boot = boot.T
    est = np.atleast_1d(np.asarray(estimate, dtype=float))
    k = est.shape[0]
    alpha = 1 - ci_level
    low = np.full(k, np.nan)
    high = np.full(k, np.nan)
    p = np.full(k, np.nan)
    se = np.full(k, np.nan)
    n_valid = np.zeros(k, dtype=int)
    if method == "bca" and jackknife is None:
        raise ParameterError(f"The 'jackknife' parameter of {func} is required for method='bca'.")
    for j in range(k):
        b = boot[:, j]
        b = np.sort(b[np.isfinite(b)])
        n_valid[j] = len(b)
        if len(b) < 2 or not np.isfinite(est[j]):
            continue
        se[j] = float(np.std(b, ddof=1))
        n_below0 = np.sum(b < 0) + 0.5 * np.sum(b == 0)
        share_below0 = n_below0 / len(b)
        if method == "percentile":
            low[j], high[j] = np.quantile(b, [alpha / 2, 1 - alpha / 2])
            # (count + 1) / (B + 1): a p value is never reported as exactly zero
            p[j] = min(1.0, 2 * (min(n_below0, len(b) - n_below0) + 1) / (len(b) + 1))
            continue
        jk = np.asarray(jackknife, dtype=float)[:, j]
        jk = jk[np.isfinite(jk)]
        prop = (np.sum(b < est[j]) + 0.5 * np.sum(b == est[j])) / len(b)
        prop = min(max(prop, 0.5 / len(b)), 1 - 0.5 / len(b))
        z0 = stats.norm.ppf(prop)
        d = jk.mean() - jk
        denom = 6.0 * np.sum(d ** 2) ** 1.5
        a = float(np.sum(d ** 3) / denom) if denom > 0 else 0.0
        z = stats.norm.ppf([alpha / 2, 1 - alpha / 2])
        adj = stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
        low[j], high[j] = np.quantile(b, adj)
        # invert the BCa map at zero: the level at which a limit reaches 0
        q0 = min(max(share_below0, 0.5 / len(b)), 1 - 0.5 / len(b))
        u = stats.norm.ppf(q0) - z0
        w = u / (1 + a * u)
        z_at0 = w - z0
        p[j] = float(min(1.0, 2 * min(stats.norm.cdf(z_at0), stats.norm.sf(z_at0))))
    return {"ci_low": low, "ci_high": high, "p": p, "se": se, "n_valid": n_valid}
