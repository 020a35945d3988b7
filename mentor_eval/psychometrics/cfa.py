"""Confirmatory factor analysis by maximum likelihood, following lavaan's conventions.

The estimator is written here (Fisher scoring on the normal-theory ML discrepancy with
analytic first derivatives) rather than borrowed, so that every convention that moves a
number -- the N (not N-1) divisor, the expected information, the baseline model, the
SRMR variant, the multi-group mean structure -- is visible and matches
``lavaan::cfa()`` with its defaults.
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from mentor_eval._params import check_columns, check_one_of
from mentor_eval.errors import AnalysisError, ParameterError

__all__ = ["CFAResult", "cfa", "parse_model"]

_FUNC = "cfa"
BFGS_AFTER = 50  # Fisher-scoring iterations before a BFGS rescue is tried
GROUP_EQUAL_OPTIONS = (
    "loadings",
    "intercepts",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
    "means",
)


def _single_thread_blas():
    """Run BLAS on one thread: the matrices here are small, and a multi-threaded OpenBLAS on a
    busy machine turned a 0.3 s fit into 6 s (threads spinning for a 150 x 150 solve)."""
    controller = _blas_controller()
    if controller is None:  # threadpoolctl missing: only a speed matter
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller():
    # Inspecting the loaded libraries costs ~10 ms on a busy machine; do it once, not per fit.
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


# --------------------------------------------------------------------------- model syntax
@dataclass(frozen=True)
class _UserRow:
    """One parameter written by the user: ``lhs op rhs`` with an optional modifier.

    ``mods`` holds one modifier per group, or a single one for all groups; a modifier is
    ``None`` (no modifier), ``("fixed", value)``, ``("free",)`` or ``("label", name)``.
    """

    lhs: str
    op: str
    rhs: str
    mods: tuple[tuple | None, ...] = (None,)


_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"


def _parse_modifier(text: str, model_line: str) -> tuple[tuple | None, ...]:
    text = text.strip()
    inner = re.fullmatch(r"c\((.*)\)", text)
    parts = [p.strip() for p in inner.group(1).split(",")] if inner else [text]
    mods: list[tuple | None] = []
    for p in parts:
        if p in ("NA", "na"):
            mods.append(("free",))
            continue
        try:
            mods.append(("fixed", float(p)))
            continue
        except ValueError:
            pass
        if re.fullmatch(_NAME, p):
            mods.append(("label", p))
        else:
            raise ParameterError(
                f"The model line {model_line!r} has a modifier {p!r} that cfa cannot read; use a number "
                "(fixed value), NA (free) or a label (equality constraint), e.g. '0.5*x1', 'NA*x1', 'a*x1'."
            )
    return tuple(mods)


def parse_model(model: str | Mapping[str, Sequence[str]]) -> list[_UserRow]:
    """Turn a model description into user parameter rows.

    Parameters
    ----------
    model : str or mapping
        Either ``{factor: [items, ...]}`` or lavaan syntax with one statement per line
        (or separated by ``;``): ``f =~ x1 + x2 + x3`` (loadings; a term may carry a
        modifier ``1*x1``, ``NA*x1`` or ``a*x1``, or per group ``c(a, b)*x1``) and
        ``a ~~ b`` (a variance or covariance, of two observed variables -- a residual
        covariance -- or of two factors). ``#`` and ``!`` start comments.

    Returns
    -------
    list of rows (``lhs``, ``op``, ``rhs``, ``mods``).

    Notes
    -----
    Statements continue over a line break before or after ``+``. Regressions (``~``),
    intercepts (``~1``), defined parameters (``:=``) and constraints (``==``, ``<``, ``>``)
    are rejected with a :class:`~mentor_eval.errors.ParameterError`: they belong to a full
    SEM, which this module does not fit.

    Examples
    --------
    >>> [(r.lhs, r.op, r.rhs) for r in parse_model("f =~ a + b + c")]
    [('f', '=~', 'a'), ('f', '=~', 'b'), ('f', '=~', 'c')]
    """
    if isinstance(model, Mapping):
        if not model:
            raise ParameterError("The 'model' parameter of cfa is empty; give at least one factor.")
        rows = []
        for f, items in model.items():
            if isinstance(items, str) or not isinstance(items, Iterable):
                raise ParameterError(
                    f"The 'model' parameter of cfa maps factor {f!r} to {items!r}; give a list of item columns."
                )
            items = list(items)
            if not items:
                raise ParameterError(f"Factor {f!r} in the 'model' parameter of cfa has no items.")
            rows += [_UserRow(str(f), "=~", str(x)) for x in items]
        return rows
    if not isinstance(model, str):
        raise ParameterError(
            f"The 'model' parameter of cfa must be a dict {{factor: [items]}} or lavaan syntax; "
            f"got {type(model).__name__}."
        )
    lines: list[str] = []
    for raw in re.split(r"[\n;]", model):
        line = re.split(r"[#!]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        # a statement may continue on the next line after (or before) a '+'
        if lines and (lines[-1].endswith("+") or line.startswith("+")):
            lines[-1] = lines[-1] + " " + line
        else:
            lines.append(line)
    rows: list[_UserRow] = []
    for line in lines:
        m = re.fullmatch(r"(" + _NAME + r")\s*(=~|~~|~\*~|<~|~|:=|==|<|>)\s*(.+)", line)
        if m is None:
            raise ParameterError(
                f"cfa cannot read the model line {line!r}; expected e.g. 'visual =~ x1 + x2 + x3' or 'x1 ~~ x2'."
            )
        lhs, op, rhs = m.group(1), m.group(2), m.group(3)
        if op not in ("=~", "~~"):
            raise ParameterError(
                f"The model line {line!r} uses the operator {op!r}; cfa supports only factor loadings (=~) "
                "and (co)variances (~~). Regressions, intercepts and constraints belong to a full SEM."
            )
        terms = [t.strip() for t in rhs.split("+")]
        if any(not t for t in terms):
            raise ParameterError(f"The model line {line!r} has an empty term (check the '+' signs).")
        for t in terms:
            if "*" in t:
                mod_text, name = t.rsplit("*", 1)
                mods = _parse_modifier(mod_text, line)
            else:
                name, mods = t, (None,)
            name = name.strip()
            if not re.fullmatch(_NAME, name):
                raise ParameterError(f"The model line {line!r} names {name!r}, which is not a valid variable name.")
            if op == "~~" and len(terms) > 1:
                raise ParameterError(f"Write one covariance per line; {line!r} has several terms.")
            rows.append(_UserRow(lhs, op, name, mods))
    if not any(r.op == "=~" for r in rows):
        raise ParameterError("The 'model' parameter of cfa defines no factor (no '=~' line).")
    return rows


# --------------------------------------------------------------------------- parameter table
@dataclass
class _Par:
    lhs: str
    op: str
    rhs: str
    group: int
    mat: str  # lambda | psi | theta | nu | alpha
    row: int
    col: int
    free: bool
    value: float  # fixed value, or start value when free
    label: str = ""
    pid: int = -1  # index into the free-parameter vector


@dataclass
class _Model:
    observed: list[str]
    latent: list[str]
    groups: list[str]
    pars: list[_Par]
    meanstructure: bool
    n_free: int = 0


def _mod_for_group(mods: tuple, g: int, ngroups: int, where: str):
    if len(mods) == 1:
        return mods[0]
    if len(mods) != ngroups:
        raise ParameterError(
            f"The modifier c(...) of {where} has {len(mods)} values but the data have {ngroups} group(s)."
        )
    return mods[g]


def _build_model(
    rows: list[_UserRow],
    columns: Iterable[str],
    groups: list[str],
    std_lv: bool,
    group_equal: tuple[str, ...],
    meanstructure: bool,
) -> _Model:
    latent: list[str] = []
    for r in rows:
        if r.op == "=~" and r.lhs not in latent:
            latent.append(r.lhs)
    cols = set(map(str, columns))
    observed: list[str] = []
    for r in rows:
        names = [r.rhs] if r.op == "=~" else [r.lhs, r.rhs]
        for nm in names:
            if nm in latent or nm in observed:
                continue
            if nm not in cols:
                raise ParameterError(
                    f"The model names {nm!r}, which is neither a factor defined with '=~' nor a column "
                    f"of the data."
                )
            observed.append(nm)
    for r in rows:
        if r.op == "=~" and r.rhs in latent:
            raise ParameterError(
                f"Factor {r.lhs!r} loads on factor {r.rhs!r}; higher-order factors are not supported by cfa."
            )
    ov_idx = {v: i for i, v in enumerate(observed)}
    lv_idx = {v: i for i, v in enumerate(latent)}
    ngroups = len(groups)

    # user rows keyed by (op, lhs, rhs) with symmetric keys for ~~
    user: dict[tuple[str, str, str], _UserRow] = {}
    for r in rows:
        key = (r.op, r.lhs, r.rhs)
        if r.op == "~~":
            a, b = sorted((r.lhs, r.rhs), key=lambda n: (n not in latent, n))
            if (a in latent) != (b in latent):
                raise ParameterError(
                    f"'{r.lhs} ~~ {r.rhs}' mixes a factor and an observed variable; covariances must be "
                    "between two factors or between two observed variables."
                )
            key = ("~~", a, b)
        if key in user:
            raise ParameterError(f"The model specifies '{r.lhs} {r.op} {r.rhs}' twice.")
        user[key] = r

    pars: list[_Par] = []

    def add(lhs, op, rhs, g, mat, i, j, default_free, default_value, auto_label=""):
        if op == "~~":
            ukey = ("~~", *sorted((lhs, rhs), key=lambda n: (n not in latent, n)))
        else:
            ukey = (op, lhs, rhs)
        ur = user.get(ukey)
        free, value, label = default_free, default_value, ""
        if ur is not None:
            mod = _mod_for_group(ur.mods, g, ngroups, f"'{lhs} {op} {rhs}'")
            if mod is not None:
                if mod[0] == "fixed":
                    free, value = False, mod[1]
                elif mod[0] == "free":
                    free = True
                else:
                    free, label = True, mod[1]
        if not label and auto_label:
            label = auto_label
        pars.append(_Par(lhs, op, rhs, g, mat, i, j, free, value, label))

    eq = set(group_equal)
    for g in range(ngroups):
        # loadings: first indicator is the marker unless std_lv or the user set a modifier on it
        for f in latent:
            inds = [r.rhs for r in rows if r.op == "=~" and r.lhs == f]
            for k, x in enumerate(inds):
                marker = k == 0 and not std_lv
                add(f, "=~", x, g, "lambda", ov_idx[x], lv_idx[f], not marker, 1.0 if marker else np.nan,
                    f".eq.=~.{f}.{x}" if "loadings" in eq else "")
        # residual variances of observed variables
        for x in observed:
            add(x, "~~", x, g, "theta", ov_idx[x], ov_idx[x], True, np.nan,
                f".eq.~~.{x}" if "residuals" in eq else "")
        # factor variances
        for f in latent:
            free_var = not std_lv or (g > 0 and "loadings" in eq)
            add(f, "~~", f, g, "psi", lv_idx[f], lv_idx[f], free_var, np.nan if free_var else 1.0,
                f".eq.~~.{f}" if "lv.variances" in eq else "")
        # factor covariances (all free, as lavaan's cfa default auto.cov.lv.x)
        for a_i, a in enumerate(latent):
            for b in latent[a_i + 1:]:
                add(a, "~~", b, g, "psi", lv_idx[b], lv_idx[a], True, 0.0,
                    f".eq.~~.{a}.{b}" if "lv.covariances" in eq else "")
        # residual covariances the user asked for
        for op, a, b in user:
            if op == "~~" and a != b and a in ov_idx:
                i, j = sorted((ov_idx[a], ov_idx[b]))
                add(a, "~~", b, g, "theta", j, i, True, 0.0,
                    f".eq.~~.{a}.{b}" if "residual.covariances" in eq else "")
        if meanstructure:
            for x in observed:
                add(x, "~1", "", g, "nu", ov_idx[x], 0, True, np.nan,
                    f".eq.~1.{x}" if "intercepts" in eq else "")
            for f in latent:
                free_mean = g > 0 and "intercepts" in eq
                add(f, "~1", "", g, "alpha", lv_idx[f], 0, free_mean, np.nan if free_mean else 0.0,
                    f".eq.~1.{f}" if "means" in eq else "")

    # a label that includes a fixed row fixes all rows carrying it (lavaan: equal to a constant)
    fixed_by_label = {p.label: p.value for p in pars if p.label and not p.free}
    for p in pars:
        if p.label in fixed_by_label and p.free:
            p.free, p.value = False, fixed_by_label[p.label]
    pid_of_label: dict[str, int] = {}
    n_free = 0
    for p in pars:
        if not p.free:
            continue
        if p.label and p.label in pid_of_label:
            p.pid = pid_of_label[p.label]
            continue
        p.pid = n_free
        if p.label:
            pid_of_label[p.label] = n_free
        n_free += 1
    return _Model(observed, latent, groups, pars, meanstructure, n_free)


# --------------------------------------------------------------------------- numerics
@dataclass
class _Index:
    """Vectorised view of the parameter table used by the hot loop."""

    g: np.ndarray
    mat: np.ndarray  # 0 lambda, 1 psi, 2 theta, 3 nu, 4 alpha
    i: np.ndarray
    j: np.ndarray
    pid: np.ndarray
    free: np.ndarray
    value: np.ndarray
    incidence: np.ndarray  # rows x n_free (1 where the row is that free parameter)
    n_free: int = 0
    # rows of each matrix (by code) and the free rows: fixed for a model, so computed once
    # here rather than on each of the thousands of evaluations of a fit
    rows_of: tuple = ()
    free_rows: np.ndarray | None = None
    sym_off: tuple = ()  # per code 1 and 2: True where an off-diagonal entry (counts twice)

    def __post_init__(self) -> None:
        self.rows_of = tuple(np.flatnonzero(self.mat == code) for code in range(5))
        self.free_rows = np.flatnonzero(self.free)
        self.sym_off = tuple(self.i[r] != self.j[r] for r in self.rows_of)


def _stacked(idx: _Index, K: int, G: int) -> _Index:
    """The parameter table of K copies of a G-group model: copy k has groups k*G .. k*G+G-1 and
    free parameters k*n_free .. ; evaluating K parameter vectors at once then reuses the
    group-batched algebra (each copy's numbers are those of a separate evaluation)."""
    R = len(idx.g)
    reps = np.repeat(np.arange(K), R)
    return _Index(
        g=np.tile(idx.g, K) + G * reps, mat=np.tile(idx.mat, K), i=np.tile(idx.i, K), j=np.tile(idx.j, K),
        pid=np.tile(idx.pid, K) + idx.n_free * reps, free=np.tile(idx.free, K), value=np.tile(idx.value, K),
        incidence=np.zeros((0, 0)), n_free=K * idx.n_free,
    )


_MAT_CODE = {"lambda": 0, "psi": 1, "theta": 2, "nu": 3, "alpha": 4}


def _index(model: _Model) -> _Index:
    P = model.pars
    idx = _Index(
        g=np.array([p.group for p in P]),
        mat=np.array([_MAT_CODE[p.mat] for p in P]),
        i=np.array([p.row for p in P]),
        j=np.array([p.col for p in P]),
        pid=np.array([p.pid for p in P]),
        free=np.array([p.free for p in P]),
        value=np.array([p.value for p in P], dtype=float),
        incidence=np.zeros((len(P), model.n_free)),
        n_free=model.n_free,
    )
    rows = np.flatnonzero(idx.free)
    idx.incidence[rows, idx.pid[rows]] = 1.0
    return idx


def _matrices(x: np.ndarray, idx: _Index, p: int, m: int, G: int):
    """Lambda, Psi, Theta, nu, alpha per group from the free-parameter vector."""
    vals = idx.value.astype(np.result_type(x, float)).copy()
    fr = idx.free_rows
    vals[fr] = x[idx.pid[fr]]
    dt = vals.dtype
    lam = np.zeros((G, p, m), dt)
    psi = np.zeros((G, m, m), dt)
    the = np.zeros((G, p, p), dt)
    nu = np.zeros((G, p), dt)
    al = np.zeros((G, m), dt)
    rows = idx.rows_of
    for code, arr in ((0, lam), (1, psi), (2, the)):
        s = rows[code]
        arr[idx.g[s], idx.i[s], idx.j[s]] = vals[s]
        if code != 0:  # Psi and Theta are symmetric
            arr[idx.g[s], idx.j[s], idx.i[s]] = vals[s]
    s = rows[3]
    nu[idx.g[s], idx.i[s]] = vals[s]
    s = rows[4]
    al[idx.g[s], idx.i[s]] = vals[s]
    return lam, psi, the, nu, al


def _implied(lam, psi, the, nu, al):
    sigma = lam @ psi @ np.swapaxes(lam, 1, 2) + the
    mu = nu + np.einsum("gpm,gm->gp", lam, al)
    return sigma, mu


def _jacobian(lam, psi, al, idx: _Index, G: int, p: int, meanstructure: bool) -> np.ndarray:
    """d(vec Sigma_g, mu_g)/d(free parameters), shape (G, p*p + p, n_free)."""
    R = len(idx.g)
    dS = np.zeros((R, p, p))
    dm = np.zeros((R, p))
    r = np.arange(R)
    A = lam @ psi  # G x p x m
    # loadings: dSigma = e_i (A[:, j])' + A[:, j] e_i'; dmu = e_i alpha_j
    s = r[idx.mat == 0]
    col = A[idx.g[s], :, idx.j[s]]  # len(s) x p
    dS[s, idx.i[s], :] += col
    dS[s, :, idx.i[s]] += col
    dm[s, idx.i[s]] = al[idx.g[s], idx.j[s]]
    # factor (co)variances: Lambda_:j Lambda_:k' (+ transpose when j != k)
    s = r[idx.mat == 1]
    lj = lam[idx.g[s], :, idx.i[s]]
    lk = lam[idx.g[s], :, idx.j[s]]
    outer = lj[:, :, None] * lk[:, None, :]
    off = (idx.i[s] != idx.j[s])[:, None, None]
    dS[s] = outer + np.where(off, np.swapaxes(outer, 1, 2), 0.0)
    # residual (co)variances
    s = r[idx.mat == 2]
    dS[s, idx.i[s], idx.j[s]] = 1.0
    dS[s, idx.j[s], idx.i[s]] = 1.0
    # intercepts and latent means
    s = r[idx.mat == 3]
    dm[s, idx.i[s]] = 1.0
    s = r[idx.mat == 4]
    dm[s] = lam[idx.g[s], :, idx.i[s]]
    if not meanstructure:
        dm[:] = 0.0
    rowjac = np.concatenate([dS.reshape(R, p * p), dm], axis=1)  # R x (p*p+p)
    out = np.zeros((G, idx.n_free, p * p + p))
    free = idx.free
    # rows sharing a parameter (equality constraints) add up
    np.add.at(out, (idx.g[free], idx.pid[free]), rowjac[free])
    return np.swapaxes(out, 1, 2)


@dataclass
class _Sample:
    n: np.ndarray  # per group
    mean: np.ndarray  # G x p
    cov: np.ndarray  # G x p x p, divisor N_g
    logdet: np.ndarray  # G


def _discrepancy(sigma, mu, sample: _Sample, meanstructure: bool):
    """Per-group F_ML = log|Sigma| + tr(S Sigma^-1) - log|S| - p (+ mean part); inf if not PD."""
    G, p, _ = sigma.shape
    sign, logdet = np.linalg.slogdet(sigma)
    if np.any(sign <= 0):
        return None
    inv = np.linalg.inv(sigma)
    f = logdet + np.einsum("gij,gji->g", sample.cov, inv) - sample.logdet - p
    d = sample.mean - mu
    if meanstructure:
        f = f + np.einsum("gi,gij,gj->g", d, inv, d)
    return f, inv, d


def _expected_info(inv, jac, sample: _Sample, meanstructure: bool) -> np.ndarray:
    """Total expected (Fisher) information sum_g N_g * I_g of the free parameters."""
    G, p, _ = inv.shape
    q = jac.shape[2]
    info = np.zeros((q, q))
    for g in range(G):
        W = inv[g]
        JS = np.ascontiguousarray(jac[g, : p * p].T).reshape(q, p, p)
        # 0.5 * tr(W dS_a W dS_b) for every pair (a, b), as batched matrix products
        WJW = (W @ JS @ W).reshape(q, p * p)
        I_g = 0.5 * WJW @ JS.reshape(q, p * p).T
        if meanstructure:
            Jm = jac[g, p * p:]
            I_g = I_g + Jm.T @ W @ Jm
        info += sample.n[g] * I_g
    return info


def _gradient(mats, inv, d, idx: _Index, sample: _Sample, meanstructure: bool) -> np.ndarray:
    """Gradient of sum_g N_g F_g, from the matrix derivatives (no Jacobian needed).

    With G = W - W M W (W = Sigma^-1, M = S + d d') and g_mu = -2 W d:
    dF/dLambda = 2 G Lambda Psi + g_mu alpha', dF/dPsi = Lambda' G Lambda,
    dF/dTheta = G, dF/dnu = g_mu, dF/dalpha = Lambda' g_mu; an off-diagonal entry of a
    symmetric matrix counts twice.
    """
    lam, psi = mats[0], mats[1]
    al = mats[4]
    M = sample.cov + (np.einsum("gi,gj->gij", d, d) if meanstructure else 0.0)
    Gs = inv - inv @ M @ inv
    gmu = -2.0 * np.einsum("gij,gj->gi", inv, d) if meanstructure else np.zeros_like(d)
    dlam = 2.0 * Gs @ lam @ psi + np.einsum("gi,gj->gij", gmu, al)
    dpsi = np.swapaxes(lam, 1, 2) @ Gs @ lam
    dal = np.einsum("gpm,gp->gm", lam, gmu)
    per_row = np.zeros(len(idx.g))
    rows = idx.rows_of
    for code, arr in ((0, dlam), (1, dpsi), (2, Gs)):
        s = rows[code]
        v = arr[idx.g[s], idx.i[s], idx.j[s]]
        if code != 0:
            v = np.where(idx.sym_off[code], 2.0 * v, v)
        per_row[s] = v
    s = rows[3]
    per_row[s] = gmu[idx.g[s], idx.i[s]]
    s = rows[4]
    per_row[s] = dal[idx.g[s], idx.i[s]]
    per_row *= sample.n[idx.g]
    free = idx.free_rows
    return np.bincount(idx.pid[free], weights=per_row[free], minlength=idx.n_free)


def _start_values(model: _Model, idx: _Index, sample: _Sample) -> np.ndarray:
    """Start values in the spirit of lavaan's: one-factor loadings per factor, half the variances."""
    m, G = len(model.latent), len(model.groups)
    start = np.full(len(model.pars), np.nan)
    for g in range(G):
        S = sample.cov[g]
        for fj in range(m):
            rows = [k for k, q in enumerate(model.pars) if q.group == g and q.mat == "lambda" and q.col == fj]
            items = np.array([model.pars[k].row for k in rows])
            sub = S[np.ix_(items, items)]
            vals, vecs = np.linalg.eigh(sub)
            load = vecs[:, -1] * np.sqrt(max(vals[-1], 1e-8))
            if load.sum() < 0:
                load = -load
            fixed = [t for t, k in enumerate(rows) if not model.pars[k].free]
            var_rows = [k for k, q in enumerate(model.pars)
                        if q.group == g and q.mat == "psi" and q.row == fj and q.col == fj]
            if fixed and abs(load[fixed[0]]) > 1e-8:
                scale = model.pars[rows[fixed[0]]].value / load[fixed[0]]
                load_s = load * scale
                fvar = 1.0 / scale**2
            else:
                load_s, fvar = load, 1.0
            for t, k in enumerate(rows):
                start[k] = load_s[t]
            for k in var_rows:
                start[k] = fvar
        for k, q in enumerate(model.pars):
            if q.group != g:
                continue
            if q.mat == "theta":
                start[k] = 0.5 * S[q.row, q.row] if q.row == q.col else 0.0
            elif q.mat == "psi" and q.row != q.col:
                start[k] = 0.0
            elif q.mat == "nu":
                start[k] = sample.mean[g, q.row]
            elif q.mat == "alpha":
                start[k] = 0.0
    x0 = np.zeros(model.n_free)
    cnt = np.zeros(model.n_free)
    for k, q in enumerate(model.pars):
        if q.free:
            x0[q.pid] += start[k]
            cnt[q.pid] += 1
    return x0 / np.maximum(cnt, 1)


def _numeric_hessian(x: np.ndarray, grad_at, steps: np.ndarray, grads_at=None) -> np.ndarray:
    """Central differences of the exact gradient, one column per parameter.

    ``grads_at(X)``, when given, returns the gradients at every row of ``X`` at once (or None,
    and then ``grad_at`` is called per point): the 2q points are then evaluated as one batch,
    with the same numbers as one call per point.
    """
    q = len(x)
    H = np.zeros((q, q))
    hs = np.array([steps[k] if np.isfinite(steps[k]) and steps[k] > 0 else 1e-6 * max(1.0, abs(x[k]))
                   for k in range(q)])
    E = np.zeros((q, q))
    E[np.arange(q), np.arange(q)] = hs
    both = grads_at(np.concatenate([x + E, x - E])) if grads_at is not None else None
    for k in range(q):
        if both is not None:
            H[:, k] = (both[k] - both[q + k]) / (2 * hs[k])
        else:
            H[:, k] = (grad_at(x + E[k]) - grad_at(x - E[k])) / (2 * hs[k])
    return 0.5 * (H + H.T)


def _batched_gradients(X: np.ndarray, idx: _Index, sample: _Sample, dims: tuple[int, int, int],
                       meanstructure: bool) -> np.ndarray | None:
    """Gradients of sum_g N_g F_g / N at each row of ``X`` (K x n_free), in one batched evaluation.

    The K points are evaluated as the K * G groups of a stacked model (:func:`_stacked`), so each
    row equals what one evaluation at that point gives. None when the implied covariance of some
    point is not positive definite (the caller then evaluates point by point).
    """
    p, m, G = dims
    K = X.shape[0]
    sidx = _stacked(idx, K, G)
    ssample = _Sample(np.tile(sample.n, K), np.tile(sample.mean, (K, 1)), np.tile(sample.cov, (K, 1, 1)),
                      np.tile(sample.logdet, K))
    mats = _matrices(X.ravel(), sidx, p, m, K * G)
    sigma, mu = _implied(*mats)
    sign, _ = np.linalg.slogdet(sigma)
    if np.any(sign <= 0):
        return None
    inv = np.linalg.inv(sigma)
    d = ssample.mean - mu
    return _gradient(mats, inv, d, sidx, ssample, meanstructure).reshape(K, -1) / sample.n.sum()


@dataclass
class _Fit:
    x: np.ndarray
    f_by_group: np.ndarray
    sigma: np.ndarray
    mu: np.ndarray
    mats: tuple
    info: np.ndarray
    jac: np.ndarray
    iterations: int
    converged: bool


def _estimate(model: _Model, idx: _Index, sample: _Sample, max_iter: int = 300) -> _Fit:
    """Minimise sum_g N_g F_g.

    Fisher scoring with step halving from the start values; close to the optimum, Newton
    steps with a Hessian differenced from the exact gradient (Fisher scoring is only
    linearly convergent when the model misfits); if Fisher scoring makes slow progress
    (e.g. near a Heywood case), a BFGS run on rescaled parameters brings it close first.
    Convergence is judged by the scale-free Newton decrement N g'(2I)^-1 g, in chi-square
    units, so items measured in thousands or in thousandths converge alike.
    """
    p, m, G = len(model.observed), len(model.latent), len(model.groups)
    ms = model.meanstructure
    ntot = sample.n.sum()

    def evaluate(x):
        mats = _matrices(x, idx, p, m, G)
        sigma, mu = _implied(*mats)
        out = _discrepancy(sigma, mu, sample, ms)
        fval = None if out is None else float(sample.n @ out[0]) / ntot
        return mats, sigma, mu, out, fval

    def grad_at(z):
        e = evaluate(z)
        if e[3] is None:
            return np.full_like(z, np.nan)
        return _gradient(e[0], e[3][1], e[3][2], idx, sample, ms) / ntot

    def grads_at(X):
        return _batched_gradients(X, idx, sample, (p, m, G), ms)

    def bfgs(x, info):
        try:
            scale = np.sqrt(np.abs(np.diag(np.linalg.inv(2.0 * info))))
        except np.linalg.LinAlgError:
            scale = np.ones_like(x)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)

        def fun(z):
            e = evaluate(z * scale)
            if e[3] is None:
                return 1e10, np.zeros_like(z)
            return e[4], _gradient(e[0], e[3][1], e[3][2], idx, sample, ms) / ntot * scale

        res = optimize.minimize(fun, x / scale, jac=True, method="BFGS",
                                options={"gtol": 1e-12, "maxiter": 5000})
        return res.x * scale

    x = _start_values(model, idx, sample)
    state = evaluate(x)
    if state[3] is None:
        # fall back to a safe start: small loadings keep Sigma positive definite
        x = np.where(np.abs(x) > 0, x * 0.1, x)
        state = evaluate(x)
        if state[3] is None:
            raise AnalysisError("cfa could not find start values with a positive definite implied covariance.")
    tol = 1e-14
    hess_chol = None
    bfgs_done = False
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - 'it' is reported
        mats, sigma, mu, (f, inv, d), fval = state
        jac = _jacobian(mats[0], mats[1], mats[4], idx, G, p, ms)
        grad = _gradient(mats, inv, d, idx, sample, ms) / ntot
        info = _expected_info(inv, jac, sample, ms) / ntot
        try:
            step = np.linalg.solve(2.0 * info, grad)
        except np.linalg.LinAlgError:
            raise AnalysisError(
                "The CFA model is not identified (its information matrix is singular): check that every "
                "factor has a fixed loading or a fixed variance and at least two or three items."
            ) from None
        decrement = ntot * float(grad @ step)
        if decrement < tol:
            converged = True
            break
        if decrement >= 1.0 and it > BFGS_AFTER and not bfgs_done:
            bfgs_done = True
            x_new = bfgs(x, info)
            cand = evaluate(x_new)
            if cand[3] is not None and cand[4] <= fval:
                x, state, hess_chol = x_new, cand, None
            continue
        if decrement < 1.0:
            # the Hessian changes little from here on: compute it once and reuse it (chord method)
            if hess_chol is None:
                scale = np.sqrt(np.abs(np.diag(np.linalg.inv(2.0 * info))))
                H = _numeric_hessian(x, grad_at, 1e-5 * scale, grads_at)
                try:
                    hess_chol = linalg.cho_factor(H) if np.all(np.isfinite(H)) else False
                except linalg.LinAlgError:
                    hess_chol = False
            if hess_chol is not False:
                step = linalg.cho_solve(hess_chol, grad)
        t = 1.0
        while t > 1e-10:
            x_new = x - t * step
            cand = evaluate(x_new)
            if cand[3] is not None and cand[4] <= fval + 1e-15 * max(1.0, abs(fval)):
                break
            t *= 0.5
        else:
            # no step lowers F any more: at the floor of floating-point accuracy, or stuck
            if decrement < 1e-6:
                converged = True
                break
            if hess_chol:
                hess_chol = None  # a stale Hessian: recompute it
                continue
            if not bfgs_done:
                bfgs_done = True
                x = bfgs(x, info)
                state = evaluate(x)
                if state[3] is None:
                    break
                continue
            break
        x, state = x_new, cand
        if t < 1.0 and hess_chol:
            hess_chol = None
    mats, sigma, mu, out, fval = state
    if out is None:
        return _Fit(x, np.full(G, np.nan), sigma, mu, mats, np.eye(len(x)), None, it, False)
    f, inv, d = out
    jac = _jacobian(mats[0], mats[1], mats[4], idx, G, p, ms)
    info = _expected_info(inv, jac, sample, ms)
    return _Fit(x, f, sigma, mu, mats, info, jac, it, converged)


# --------------------------------------------------------------------------- fit measures
def _rmsea(X2: float, df: float, N: float, G: int) -> tuple[float, float, float, float]:
    """RMSEA, its 90% CI (noncentral chi-square inversion) and the close-fit p (H0: RMSEA <= .05)."""
    if df <= 0:
        return 0.0, 0.0, 0.0, np.nan
    rmsea = np.sqrt(max(X2 / N / df - 1.0 / N, 0.0)) * np.sqrt(G)

    def cdf(lam):
        return stats.ncx2.cdf(X2, df, lam) if lam > 0 else stats.chi2.cdf(X2, df)

    if df < 1 or cdf(0.0) < 0.95:
        lo = 0.0
    else:
        lam = optimize.brentq(lambda t: cdf(t) - 0.95, 0.0, X2, xtol=1e-12)
        lo = np.sqrt(lam / (N * df)) * np.sqrt(G)
    upper = max(N, 4 * X2)
    if df < 1 or cdf(upper) > 0.05 or cdf(0.0) < 0.05:
        hi = 0.0
    else:
        lam = optimize.brentq(lambda t: cdf(t) - 0.05, 0.0, upper, xtol=1e-12)
        hi = np.sqrt(lam / (N * df)) * np.sqrt(G)
    ncp = N * df * 0.05**2 / G
    pclose = float(stats.ncx2.sf(X2, df, ncp))
    return float(rmsea), float(lo), float(hi), pclose


def _srmr(sample: _Sample, sigma: np.ndarray, mu: np.ndarray, meanstructure: bool) -> float:
    """lavaan's 'srmr' (Bentler): residuals scaled by observed SDs, N-weighted across groups."""
    G, p, _ = sigma.shape
    tri = np.tril_indices(p)
    out = np.zeros(G)
    for g in range(G):
        sd = np.sqrt(np.diag(sample.cov[g]))
        r = (sample.cov[g] - sigma[g]) / np.outer(sd, sd)
        ss = np.sum(r[tri] ** 2)
        e = len(tri[0])
        if meanstructure:
            ss += np.sum(((sample.mean[g] - mu[g]) / sd) ** 2)
            e += p
        out[g] = np.sqrt(ss / e)
    return float(np.sum(sample.n / sample.n.sum() * out))


# --------------------------------------------------------------------------- public result
@dataclass(frozen=True)
class CFAResult:
    """Everything a CFA fit produces, as tidy DataFrames.

    Attributes
    ----------
    fit : DataFrame, one row
        ``chisq``, ``df``, ``p``, ``cfi``, ``tli``, ``rmsea``, ``rmsea_ci_low``,
        ``rmsea_ci_high`` (90% CI), ``rmsea_p`` (close fit, H0: RMSEA <= .05), ``srmr``,
        ``aic``, ``bic``, ``logl``, ``unrestricted_logl``, ``baseline_chisq``, ``baseline_df``,
        ``npar``, ``n``, ``n_groups``, ``converged``, ``iterations``.
    loadings : DataFrame
        (``group`` when multi-group), ``factor``, ``item``, ``estimate``, ``se``, ``std_all``,
        ``std_all_se``, ``z``, ``p``, ``free``. Fixed loadings have ``se`` 0 and NaN ``z``/``p``.
    factor_correlations : DataFrame
        (``group``), ``factor_a``, ``factor_b``, ``estimate`` (correlation, std.all), ``se``
        (delta method), ``z``, ``p``, ``covariance``, ``covariance_se``.
    factor_variances : DataFrame
        (``group``), ``factor``, ``estimate``, ``se``, ``z``, ``p``, ``free``.
    residual_variances : DataFrame
        (``group``), ``item``, ``estimate``, ``se``, ``std_all`` (share of the item's implied
        variance not explained by its factor), ``std_all_se``, ``z``, ``p``, ``free``.
    residual_covariances : DataFrame
        (``group``), ``item_a``, ``item_b``, ``estimate``, ``se``, ``std_all`` (residual
        correlation), ``z``, ``p``; empty unless the model declares ``x ~~ y``.
    intercepts : DataFrame
        Multi-group only (mean structure): ``group``, ``item``, ``estimate``, ``se``, ``z``, ``p``, ``free``.
    latent_means : DataFrame
        Multi-group only: ``group``, ``factor``, ``estimate``, ``se``, ``z``, ``p``, ``free``.
    group_fit : DataFrame
        ``group``, ``n``, ``chisq`` (this group's N_g * F_g; they sum to ``fit.chisq``).
    parameters : DataFrame
        Every parameter: ``group``, ``lhs``, ``op``, ``rhs``, ``label``, ``free``, ``estimate``,
        ``se``, ``z``, ``p``, ``std_all``, ``std_all_se``.
    n_dropped : int
        Rows dropped by listwise deletion (any model column or the group column missing).
    notes : tuple of str
        Warnings about the solution (e.g. negative variance estimates).
    """

    fit: pd.DataFrame
    loadings: pd.DataFrame
    factor_correlations: pd.DataFrame
    factor_variances: pd.DataFrame
    residual_variances: pd.DataFrame
    residual_covariances: pd.DataFrame
    intercepts: pd.DataFrame
    latent_means: pd.DataFrame
    group_fit: pd.DataFrame
    parameters: pd.DataFrame
    n_dropped: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def _std_all(mats, idx: _Index) -> np.ndarray:
    """std.all value of every parameter row (works for real or complex matrices)."""
    lam, psi, the, nu, al = mats
    sigma, _ = _implied(lam, psi, the, nu, al)
    g, i, j, code = idx.g, idx.i, idx.j, idx.mat
    ov_sd = np.sqrt(np.diagonal(sigma, axis1=1, axis2=2))  # implied SDs of the items
    lv_sd = np.sqrt(np.diagonal(psi, axis1=1, axis2=2))
    # lavaan scales covariances by sqrt(|variance|) so a Heywood case still gives a number;
    # the complex-step derivative needs the analytic form instead
    fix = (lambda v: v) if np.iscomplexobj(psi) else np.abs
    cov_lv_sd = np.sqrt(fix(np.diagonal(psi, axis1=1, axis2=2)))
    res_sd = np.sqrt(fix(np.diagonal(the, axis1=1, axis2=2)))
    out = np.zeros(len(g), dtype=lam.dtype)
    s = code == 0
    out[s] = lam[g[s], i[s], j[s]] * lv_sd[g[s], j[s]] / ov_sd[g[s], i[s]]
    s = code == 1
    out[s] = psi[g[s], i[s], j[s]] / np.where(i[s] == j[s], lv_sd[g[s], i[s]] ** 2,
                                              cov_lv_sd[g[s], i[s]] * cov_lv_sd[g[s], j[s]])
    s = (code == 2) & (i == j)
    out[s] = the[g[s], i[s], i[s]] / ov_sd[g[s], i[s]] ** 2
    # residual covariances: lavaan's default cov.std scales them by the residual SDs
    s = (code == 2) & (i != j)
    out[s] = the[g[s], i[s], j[s]] / (res_sd[g[s], i[s]] * res_sd[g[s], j[s]])
    s = code == 3
    out[s] = nu[g[s], i[s]] / ov_sd[g[s], i[s]]
    s = code == 4
    out[s] = al[g[s], i[s]] / lv_sd[g[s], i[s]]
    return out


def cfa(
    data: pd.DataFrame,
    model: str | Mapping[str, Sequence[str]],
    *,
    estimator: str = "ML",
    std_lv: bool = False,
    group: str | None = None,
    group_equal: Iterable[str] = (),
    missing: str = "listwise",
) -> CFAResult:
    """Fit a confirmatory factor analysis by maximum likelihood (lavaan's defaults).

    Parameters
    ----------
    data : DataFrame
        One row per respondent; item columns numeric (nullable ``Int64`` is fine).
    model : dict or str
        ``{factor: [item columns]}`` or lavaan syntax (``"visual =~ x1 + x2 + x3"`` lines;
        ``x1 ~~ x2`` adds a residual covariance, ``f1 ~~ 0*f2`` fixes a factor covariance;
        modifiers ``1*x``, ``NA*x``, ``label*x``; see :func:`parse_model`).
    estimator : {"ML"}
        Normal-theory maximum likelihood, the only estimator offered.
    std_lv : bool, default False
        False: identify each factor by fixing its first loading to 1 (marker variable).
        True: fix factor variances to 1 and free all loadings (in multi-group models with
        equal loadings the variances are freed in all groups but the first, as lavaan >= 0.6-4).
    group : str, optional
        Column defining groups; fits a multi-group model with a mean structure. Groups are
        ordered by first appearance in the data (as lavaan).
    group_equal : iterable of str
        Parameters held equal across groups: ``"loadings"``, ``"intercepts"``, and also
        ``"residuals"``, ``"residual.covariances"``, ``"lv.variances"``, ``"lv.covariances"``,
        ``"means"``. With ``"intercepts"`` the latent means are freed in all groups but the first.
    missing : {"listwise"}
        Rows with a missing value in any model column (or the group column) are dropped and
        counted in ``n_dropped``. Full-information ML is not offered.

    Returns
    -------
    CFAResult
        Frozen dataclass of DataFrames; see :class:`CFAResult` for every column.

    Notes
    -----
    The sample covariance matrix of each group uses divisor :math:`N_g`, and the ML
    discrepancy is :math:`F_g = \\log|\\Sigma| + \\operatorname{tr}(S\\Sigma^{-1}) - \\log|S| - p
    + (\\bar y - \\mu)'\\Sigma^{-1}(\\bar y - \\mu)` (mean part only for multi-group models).
    The test statistic is :math:`\\chi^2 = \\sum_g N_g F_g` (lavaan's ``likelihood = "normal"``).
    Estimation is Fisher scoring with step halving from one-factor start values, finished by
    BFGS if needed. Standard errors come from the inverse of the expected information
    :math:`\\sum_g N_g \\Delta_g' \\Gamma_g \\Delta_g` evaluated at the model-implied moments;
    SEs of standardized (std.all) estimates use the delta method with a numerical Jacobian.

    Fit measures: CFI and TLI against the independence baseline (free variances, and free
    means when there is a mean structure, per group); RMSEA :math:`\\sqrt{G}\\sqrt{\\max(0,
    \\chi^2/(N\\,df) - 1/N)}` with a 90% CI from inverting the noncentral chi-square and the
    close-fit p-value with ncp :math:`N\\,df\\,0.05^2/G`; SRMR is lavaan's default (Bentler):
    residuals :math:`(s_{ij}-\\hat\\sigma_{ij})/\\sqrt{s_{ii}s_{jj}}` over the lower triangle with
    the diagonal (plus :math:`(\\bar y_i-\\hat\\mu_i)/\\sqrt{s_{ii}}` with a mean structure),
    root mean square per group, then averaged with weights :math:`N_g/N`. AIC/BIC use the
    log-likelihood with free parameters ``npar``.

    References
    ----------
    Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. Journal of
    Statistical Software, 48(2), 1-36.
    Browne, M. W., & Cudeck, R. (1993). Alternative ways of assessing model fit.
    Bentler, P. M. (1995). EQS structural equations program manual.

    Examples
    --------
    >>> res = cfa(df, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6")  # doctest: +SKIP
    >>> res.fit[["chisq", "df", "cfi", "rmsea", "srmr"]]  # doctest: +SKIP
    """
    check_one_of(_FUNC, "estimator", estimator, ("ML",))
    check_one_of(_FUNC, "missing", missing, ("listwise",))
    if not isinstance(std_lv, bool):
        raise ParameterError(f"The 'std_lv' parameter of cfa must be True or False; got {std_lv!r}.")
    if isinstance(group_equal, str):
        group_equal = (group_equal,)
    group_equal = tuple(group_equal)
    for ge in group_equal:
        check_one_of(_FUNC, "group_equal", ge, GROUP_EQUAL_OPTIONS)
    if group_equal and group is None:
        raise ParameterError("The 'group_equal' parameter of cfa needs 'group' (a grouping column).")
    check_columns(_FUNC, data, [] if group is None else [group])
    rows = parse_model(model)

    # groups and listwise deletion
    latent = {r.lhs for r in rows if r.op == "=~"}
    names = []
    for r in rows:
        for nm in ([r.rhs] if r.op == "=~" else [r.lhs, r.rhs]):
            if nm not in latent and nm not in names:
                names.append(nm)
    check_columns(_FUNC, data, names)
    used = names + ([group] if group is not None else [])
    frame = data[used]
    values = {}
    for c in names:
        col = frame[c]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise ParameterError(f"Column {c!r} used by the cfa model is not numeric (dtype {col.dtype}).")
        values[c] = col.astype("float64").to_numpy(na_value=np.nan)
    X = np.column_stack([values[c] for c in names])
    keep = ~np.isnan(X).any(axis=1)
    if group is not None:
        gcol = frame[group]
        keep &= gcol.notna().to_numpy()
        labels = pd.unique(gcol[keep])
        groups = [str(v) for v in labels]
        gcodes = pd.Categorical(gcol[keep], categories=labels).codes
    else:
        groups = ["all"]
        gcodes = np.zeros(int(keep.sum()), dtype=int)
    n_dropped = int((~keep).sum())
    X = X[keep]
    model_obj = _build_model(rows, data.columns, groups, std_lv, group_equal, meanstructure=group is not None)
    # reorder the data columns to the model's observed order
    order = [names.index(v) for v in model_obj.observed]
    X = X[:, order]
    p, G = len(model_obj.observed), len(groups)
    if G < 2 and group is not None:
        raise AnalysisError(f"The group column {group!r} has only one group after dropping missing rows.")

    ns = np.bincount(gcodes, minlength=G).astype(float)
    for g in range(G):
        if ns[g] <= p:
            raise AnalysisError(
                f"Group {groups[g]!r} has {int(ns[g])} complete rows for {p} observed variables; cfa needs "
                "more rows than variables in every group (and many more for trustworthy estimates)."
            )
    means = np.zeros((G, p))
    covs = np.zeros((G, p, p))
    for g in range(G):
        Xg = X[gcodes == g]
        means[g] = Xg.mean(axis=0)
        Z = Xg - means[g]
        covs[g] = Z.T @ Z / ns[g]
    variances = np.diagonal(covs, axis1=1, axis2=2)
    if np.any(variances <= 0):
        g, j = np.argwhere(variances <= 0)[0]
        raise AnalysisError(
            f"Item {model_obj.observed[j]!r} has zero variance in group {groups[g]!r}; drop it from the model."
        )
    sign, logdet = np.linalg.slogdet(covs)
    if np.any(sign <= 0):
        raise AnalysisError(
            "The sample covariance matrix is singular (some items are exact linear combinations of others, "
            "or there are too few rows); cfa cannot fit a model to it."
        )
    sample = _Sample(ns, means, covs, logdet)
    moments_per_group = p * (p + 1) // 2 + (p if model_obj.meanstructure else 0)
    df = G * moments_per_group - model_obj.n_free
    if df < 0:
        raise AnalysisError(
            f"The CFA model is not identified: it has {model_obj.n_free} free parameters but only "
            f"{G * moments_per_group} observed moments (df = {df}). Add items or constraints."
        )
    idx = _index(model_obj)
    with _single_thread_blas():
        return _fit_and_report(model_obj, idx, sample, groups, group is not None, n_dropped, df)


def _fit_and_report(model_obj: _Model, idx: _Index, sample: _Sample, groups: list[str], multi: bool,
                    n_dropped: int, df: int) -> CFAResult:
    p, m, G = len(model_obj.observed), len(model_obj.latent), len(groups)
    ns, logdet = sample.n, sample.logdet
    variances = np.diagonal(sample.cov, axis1=1, axis2=2)
    est = _estimate(model_obj, idx, sample)
    if not est.converged:
        raise AnalysisError(
            "The CFA did not converge. The model may be misspecified or under-identified, or the sample too "
            f"small for it (n = {int(ns.sum())}, {model_obj.n_free} parameters); check that each factor has at "
            "least three items that correlate positively."
        )
    notes: list[str] = []
    try:
        vcov = np.linalg.inv(est.info)
        if np.any(np.diag(vcov) < 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        raise AnalysisError(
            "The CFA solution is empirically under-identified (singular information matrix at the estimates), "
            "so standard errors cannot be computed. Typical causes: too few respondents for the number of "
            f"parameters (n = {int(ns.sum())}, {model_obj.n_free} parameters), a factor whose items barely "
            "correlate (its loadings collapse to zero), or a factor with neither a fixed loading nor a fixed variance."
        ) from None

    # ---- fit measures
    N = float(ns.sum())
    chisq = float(ns @ est.f_by_group)
    pvalue = float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan
    # independence baseline: free variances (and means) per group
    base_by_group = ns * (np.log(variances).sum(axis=1) - logdet)
    base_chisq = float(base_by_group.sum())
    base_df = G * (p * (p - 1) // 2)
    denom = max(chisq - df, base_chisq - base_df, 0.0)
    cfi = 1.0 - max(chisq - df, 0.0) / denom if denom > 0 else 1.0
    if df > 0 and base_df > 0:
        tli = ((base_chisq / base_df) - (chisq / df)) / ((base_chisq / base_df) - 1.0)
    else:
        tli = 1.0
    rmsea, rlo, rhi, rp = _rmsea(chisq, df, N, G)
    srmr = _srmr(sample, est.sigma, est.mu, model_obj.meanstructure)
    const = p * np.log(2 * np.pi)
    unres = float(np.sum(-0.5 * ns * (const + logdet + p)))
    logl = float(unres - 0.5 * chisq)
    npar = model_obj.n_free
    fit = pd.DataFrame([{
        "chisq": chisq, "df": int(df), "p": pvalue, "cfi": cfi, "tli": tli,
        "rmsea": rmsea, "rmsea_ci_low": rlo, "rmsea_ci_high": rhi, "rmsea_p": rp,
        "srmr": srmr, "aic": -2 * logl + 2 * npar, "bic": -2 * logl + npar * np.log(N),
        "logl": logl, "unrestricted_logl": unres, "baseline_chisq": base_chisq,
        "baseline_df": int(base_df), "npar": int(npar), "n": int(N), "n_groups": G,
        "converged": est.converged, "iterations": est.iterations,
    }])
    group_fit = pd.DataFrame({"group": groups, "n": ns.astype(int), "chisq": ns * est.f_by_group})

    # ---- parameter table with SEs and standardized values
    vals = idx.value.copy()
    vals[idx.free] = est.x[idx.pid[idx.free]]
    se = np.zeros(len(vals))
    se[idx.free] = np.sqrt(np.diag(vcov))[idx.pid[idx.free]]
    std = np.real(_std_all(est.mats, idx))
    # delta method: complex-step Jacobian of the standardized values
    q = model_obj.n_free
    J = np.zeros((len(vals), q))
    h = 1e-20
    for k in range(q):
        xc = est.x.astype(complex)
        xc[k] += 1j * h
        mats_c = _matrices(xc, idx, p, m, G)
        J[:, k] = np.imag(_std_all(mats_c, idx)) / h
    std_se = np.sqrt(np.maximum(np.einsum("ik,kl,il->i", J, vcov, J), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(idx.free, vals / np.where(se > 0, se, np.nan), np.nan)
    pval = 2 * stats.norm.sf(np.abs(z))
    P = model_obj.pars
    table = pd.DataFrame({
        "group": [groups[q_.group] for q_ in P],
        "lhs": [q_.lhs for q_ in P],
        "op": [q_.op for q_ in P],
        "rhs": [q_.rhs for q_ in P],
        "mat": [q_.mat for q_ in P],
        "label": [q_.label if not q_.label.startswith(".eq.") else "" for q_ in P],
        "free": idx.free,
        "estimate": vals,
        "se": se,
        "z": z,
        "p": pval,
        "std_all": std,
        "std_all_se": std_se,
    })
    for q_, v in zip(P, vals, strict=True):
        if q_.op == "~~" and q_.lhs == q_.rhs and v < 0:
            notes.append(f"Negative variance estimate for {q_.lhs!r} in group {groups[q_.group]!r} (Heywood case).")
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=3)

    lead = ["group"] if multi else []

    def pick(mask, rename, cols):
        t = table[mask].rename(columns=rename)
        return t[lead + cols].reset_index(drop=True)

    is_diag = table["lhs"] == table["rhs"]
    loadings = pick(table["op"] == "=~", {"lhs": "factor", "rhs": "item"},
                    ["factor", "item", "estimate", "se", "std_all", "std_all_se", "z", "p", "free"])
    fc_mask = (table["mat"] == "psi") & ~is_diag
    fcor = table[fc_mask]
    factor_correlations = pd.DataFrame({
        **({"group": fcor["group"].to_numpy()} if multi else {}),
        "factor_a": fcor["lhs"].to_numpy(), "factor_b": fcor["rhs"].to_numpy(),
        "estimate": fcor["std_all"].to_numpy(), "se": fcor["std_all_se"].to_numpy(),
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        zc = factor_correlations["estimate"] / factor_correlations["se"]
    factor_correlations["z"] = zc
    factor_correlations["p"] = 2 * stats.norm.sf(np.abs(zc))
    factor_correlations["covariance"] = fcor["estimate"].to_numpy()
    factor_correlations["covariance_se"] = fcor["se"].to_numpy()
    factor_variances = pick((table["mat"] == "psi") & is_diag, {"lhs": "factor"},
                            ["factor", "estimate", "se", "z", "p", "free"])
    residual_variances = pick((table["mat"] == "theta") & is_diag, {"lhs": "item"},
                              ["item", "estimate", "se", "std_all", "std_all_se", "z", "p", "free"])
    residual_covariances = pick((table["mat"] == "theta") & ~is_diag, {"lhs": "item_a", "rhs": "item_b"},
                                ["item_a", "item_b", "estimate", "se", "std_all", "z", "p"])
    intercepts = pick(table["mat"] == "nu", {"lhs": "item"}, ["item", "estimate", "se", "z", "p", "free"])
    latent_means = pick(table["mat"] == "alpha", {"lhs": "factor"}, ["factor", "estimate", "se", "z", "p", "free"])
    parameters = table.drop(columns="mat")
    if not multi:
        parameters = parameters.drop(columns="group")
    return CFAResult(
        fit=fit, loadings=loadings, factor_correlations=factor_correlations,
        factor_variances=factor_variances, residual_variances=residual_variances,
        residual_covariances=residual_covariances, intercepts=intercepts, latent_means=latent_means,
        group_fit=group_fit, parameters=parameters, n_dropped=n_dropped, notes=tuple(notes),
    )


def one_factor_ml(cov: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """ML one-factor model (factor variance 1) fitted to a covariance matrix.

    Returns the loadings, the residual variances and whether the fit converged. Used by
    :func:`mentor_eval.psychometrics.reliability` for McDonald's omega; the estimates do not
    depend on ``n`` (it only scales the test statistic) nor on the covariance divisor.
    """
    k = cov.shape[0]
    names = [f"i{j}" for j in range(k)]
    rows = [_UserRow("f", "=~", nm) for nm in names]
    model = _build_model(rows, names, ["all"], True, (), meanstructure=False)
    idx = _index(model)
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        raise AnalysisError("The item covariance matrix is singular; omega cannot be estimated.")
    sample = _Sample(np.array([float(n)]), np.zeros((1, k)), cov[None].astype(float), np.array([logdet]))
    try:
        with _single_thread_blas():
            est = _estimate(model, idx, sample)
    except AnalysisError:
        return np.full(k, np.nan), np.full(k, np.nan), False
    lam = np.asarray(est.mats[0][0, :, 0], dtype=float)
    theta = np.diag(np.asarray(est.mats[2][0], dtype=float)).copy()
    if lam.sum() < 0:  # the sign of a single factor is arbitrary; report positive loadings
        lam = -lam
    return lam, theta, est.converged
