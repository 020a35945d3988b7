"""Reliability: known answers (hand formulas, psych conventions), simulations, edge cases."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError
from mentor_eval.psychometrics import item_stats, reliability, scale_reliability
from mentor_eval.psychometrics.reliability import _feldt

DATA = Path(__file__).parent / "data"

# a tiny 6 x 4 matrix of 1-5 answers; the answers below are computed independently in each test
TINY = pd.DataFrame(
    {
        "q1": [1, 2, 4, 5, 3, 4],
        "q2": [2, 2, 5, 4, 3, 5],
        "q3": [1, 3, 4, 5, 2, 4],
        "q4": [2, 1, 3, 4, 4, 5],
    },
    dtype="Int64",
)


def alpha_by_variance_of_sum(X: np.ndarray) -> float:
    """Cronbach's definition: k/(k-1) * (1 - sum of item variances / variance of the total)."""
    k = X.shape[1]
    item_var = sum(np.var(X[:, j], ddof=1) for j in range(k))
    return k / (k - 1) * (1 - item_var / np.var(X.sum(axis=1), ddof=1))


@pytest.fixture(scope="module")
def hs_items() -> pd.DataFrame:
    return pd.read_csv(DATA / "HolzingerSwineford1939.csv")[[f"x{i}" for i in range(1, 10)]]


# ----------------------------------------------------------------------------- known answers
def test_alpha_on_tiny_matrix_by_hand():
    X = TINY.to_numpy(dtype=float)
    res = reliability(TINY).iloc[0]
    assert res["alpha"] == pytest.approx(alpha_by_variance_of_sum(X), abs=1e-10)
    # standardized alpha: Spearman-Brown of the mean inter-item correlation
    R = np.corrcoef(X, rowvar=False)
    rbar = R[np.triu_indices(4, 1)].mean()
    assert res["average_r"] == pytest.approx(rbar, abs=1e-12)
    assert res["alpha_std"] == pytest.approx(4 * rbar / (1 + 3 * rbar), abs=1e-10)
    assert res["n"] == 6 and res["k"] == 4 and res["n_dropped"] == 0


def test_hand_computed_two_item_alpha():
    # item variances 2.5 and 2.5, covariance 2.25: alpha = 2 * 2 * 2.25 / (2.5 + 2.5 + 4.5)
    df = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [1, 3, 2, 4, 5]})
    assert np.cov(df["a"], df["b"])[0, 1] == pytest.approx(2.25)
    res = reliability(df).iloc[0]
    assert res["alpha"] == pytest.approx(2 * (1 - 5.0 / 9.5), abs=1e-12)
    assert np.isnan(res["omega_total"]) and "at least 3 items" in res["note"]


def test_psych_conventions_on_holzinger_swineford(hs_items):
    """Each psych::alpha quantity recomputed from its definition (independent code paths)."""
    X = hs_items.to_numpy(dtype=float)
    n, k = X.shape
    res = reliability(hs_items).iloc[0]
    assert res["alpha"] == pytest.approx(alpha_by_variance_of_sum(X), abs=1e-10)
    R = np.corrcoef(X, rowvar=False)
    assert res["alpha_std"] == pytest.approx(k / (k - 1) * (1 - k / R.sum()), abs=1e-10)
    # Feldt bounds written with upper-tail quantiles (the opposite orientation to the module)
    a = res["alpha"]
    low = 1 - (1 - a) * stats.f.isf(0.025, n - 1, (n - 1) * (k - 1))
    high = 1 - (1 - a) * stats.f.isf(0.975, n - 1, (n - 1) * (k - 1))
    assert res["alpha_ci_low"] == pytest.approx(low, abs=1e-10)
    assert res["alpha_ci_high"] == pytest.approx(high, abs=1e-10)
    assert low < a < high
    # pingouin is a third implementation (it rounds its interval to 3 decimals)
    pg = pytest.importorskip("pingouin")
    pa, pci = pg.cronbach_alpha(data=hs_items)
    assert res["alpha"] == pytest.approx(pa, abs=1e-10)
    assert res["alpha_ci_low"] == pytest.approx(pci[0], abs=6e-4)
    assert res["alpha_ci_high"] == pytest.approx(pci[1], abs=6e-4)


def test_item_stats_by_definition(hs_items):
    X = hs_items.to_numpy(dtype=float)
    out = item_stats(hs_items)
    assert out["item"].tolist() == list(hs_items.columns)
    total = X.sum(axis=1)
    for j, row in out.iterrows():
        rest = total - X[:, j]
        assert row["r_drop"] == pytest.approx(np.corrcoef(X[:, j], rest)[0, 1], abs=1e-10)
        assert row["r_total"] == pytest.approx(np.corrcoef(X[:, j], total)[0, 1], abs=1e-10)
        assert row["alpha_if_dropped"] == pytest.approx(alpha_by_variance_of_sum(np.delete(X, j, 1)), abs=1e-10)
        assert row["mean"] == pytest.approx(X[:, j].mean(), abs=1e-12)
        assert row["sd"] == pytest.approx(X[:, j].std(ddof=1), abs=1e-12)
        assert row["n"] == len(X)


def test_reverse_keying_equals_manual_reversal():
    raw = TINY.copy()
    raw["q2"] = 6 - raw["q2"]  # q2 as a reverse-worded item would arrive
    res = reliability(raw, reverse=["q2"], scale=(1, 5))
    ref = reliability(TINY)
    assert res["alpha"].iloc[0] == pytest.approx(ref["alpha"].iloc[0], abs=1e-12)
    st = item_stats(raw, reverse=["q2"], scale=(1, 5)).set_index("item")
    assert st.loc["q2", "mean"] == pytest.approx(float(TINY["q2"].mean()))
    assert st.loc["q2", "reversed"] and not st.loc["q1", "reversed"]


def test_omega_matches_one_factor_formula(hs_items):
    # for three items the one-factor model is just identified: lambda_j^2 has a closed form
    X = hs_items[["x4", "x5", "x6"]].to_numpy(dtype=float)
    S = np.cov(X, rowvar=False)
    l1 = np.sqrt(S[0, 1] * S[0, 2] / S[1, 2])
    l2 = np.sqrt(S[0, 1] * S[1, 2] / S[0, 2])
    l3 = np.sqrt(S[0, 2] * S[1, 2] / S[0, 1])
    lam = np.array([l1, l2, l3])
    theta = np.diag(S) - lam**2
    omega = lam.sum() ** 2 / (lam.sum() ** 2 + theta.sum())
    res = reliability(hs_items[["x4", "x5", "x6"]]).iloc[0]
    assert res["omega_total"] == pytest.approx(omega, abs=1e-7)


# ----------------------------------------------------------------------------- missing data
def test_pairwise_equals_listwise_without_missing(hs_items):
    a = reliability(hs_items, missing="pairwise").iloc[0]
    b = reliability(hs_items).iloc[0]
    for col in ("alpha", "alpha_std", "average_r", "alpha_ci_low", "omega_total"):
        assert a[col] == pytest.approx(b[col], abs=1e-10)


def test_missing_policies(hs_items):
    df = hs_items.copy()
    df.iloc[::7, 2] = np.nan
    df.iloc[::11, 5] = np.nan
    n_complete = int(df.notna().all(axis=1).sum())
    lw = reliability(df).iloc[0]
    assert lw["n"] == n_complete and lw["n_dropped"] == len(df) - n_complete
    assert lw["alpha"] == pytest.approx(alpha_by_variance_of_sum(df.dropna().to_numpy()), abs=1e-10)
    pw = reliability(df, missing="pairwise").iloc[0]
    C = df.cov().to_numpy()  # pandas: pairwise-complete covariances
    k = C.shape[0]
    assert pw["alpha"] == pytest.approx(k / (k - 1) * (1 - np.trace(C) / C.sum()), abs=1e-10)
    assert pw["n"] == int(df.notna().astype(int).T.dot(df.notna().astype(int)).to_numpy().min())
    st = item_stats(df, missing="pairwise").set_index("item")
    assert st.loc["x3", "n"] == int(df["x3"].notna().sum())
    assert st.loc["x3", "sd"] == pytest.approx(df["x3"].std(), abs=1e-12)


# ----------------------------------------------------------------------------- simulations
def test_parallel_items_recover_population_reliability():
    rng = np.random.default_rng(2024)
    n, k, lam = 2000, 6, 0.7
    X = lam * rng.normal(size=(n, 1)) + rng.normal(scale=np.sqrt(1 - lam**2), size=(n, k))
    rho = lam**2
    pop = k * rho / (1 + (k - 1) * rho)  # alpha = omega for parallel items
    res = reliability(pd.DataFrame(X)).iloc[0]
    se = (res["alpha_ci_high"] - res["alpha_ci_low"]) / (2 * 1.96)
    assert abs(res["alpha"] - pop) < 4 * se
    assert abs(res["omega_total"] - pop) < 4 * se
    assert res["alpha_ci_low"] < pop < res["alpha_ci_high"] or abs(res["alpha"] - pop) < 3 * se


def test_feldt_interval_coverage():
    """Feldt's interval is exact for parallel normal items; coverage should be about 95%."""
    rng = np.random.default_rng(7)
    reps, n, k, lam = 4000, 30, 5, 0.6
    rho = lam**2
    pop = k * rho / (1 + (k - 1) * rho)
    X = lam * rng.normal(size=(reps, n, 1)) + rng.normal(scale=np.sqrt(1 - rho), size=(reps, n, k))
    item_var = X.var(axis=1, ddof=1).sum(axis=1)
    tot_var = X.sum(axis=2).var(axis=1, ddof=1)
    alphas = k / (k - 1) * (1 - item_var / tot_var)
    low, high = _feldt(alphas, n, k, 0.95)
    coverage = np.mean((low < pop) & (pop < high))
    assert 0.935 < coverage < 0.965
    # the public function uses the same interval
    res = reliability(pd.DataFrame(X[0])).iloc[0]
    assert res["alpha_ci_low"] == pytest.approx(low[0], abs=1e-12)


def test_bootstrap_interval(hs_items):
    a = reliability(hs_items, method="bootstrap", n_boot=500, seed=1).iloc[0]
    b = reliability(hs_items, method="bootstrap", n_boot=500, seed=1).iloc[0]
    assert a["alpha_ci_low"] == b["alpha_ci_low"] and a["ci_method"] == "bootstrap"
    feldt = reliability(hs_items).iloc[0]
    assert a["alpha_ci_low"] < a["alpha"] < a["alpha_ci_high"]
    assert abs(a["alpha_ci_low"] - feldt["alpha_ci_low"]) < 0.03
    assert abs(a["alpha_ci_high"] - feldt["alpha_ci_high"]) < 0.03
    df = hs_items.copy()
    df.iloc[::9, 0] = np.nan
    pw = reliability(df, missing="pairwise", method="bootstrap", n_boot=200, seed=2).iloc[0]
    assert pw["alpha_ci_low"] < pw["alpha"] < pw["alpha_ci_high"]


# ----------------------------------------------------------------------------- edge cases
def test_reverse_needs_scale():
    with pytest.raises(ParameterError, match="'scale' parameter of reliability is required"):
        reliability(TINY, reverse=["q2"])
    with pytest.raises(ParameterError, match="'reverse' parameter .* names 'q9'"):
        reliability(TINY, reverse=["q9"], scale=(1, 5))
    with pytest.raises(ParameterError, match="min < max"):
        reliability(TINY, scale=(5, 1))


def test_out_of_scale_values_are_rejected():
    with pytest.raises(DataValidationError, match=r"'q2' holds the value 5 \(row 2\), outside .*\[1, 4\]"):
        reliability(TINY, scale=(1, 4))


def test_constant_item():
    df = TINY.copy()
    df["q3"] = 3
    with pytest.raises(AnalysisError, match="'q3' have the same answer"):
        reliability(df)


def test_single_item():
    with pytest.raises(ParameterError, match="at least two item columns; got 1"):
        reliability(TINY[["q1"]])


def test_all_missing_item():
    df = TINY.copy()
    df["q4"] = pd.array([pd.NA] * 6, dtype="Int64")
    with pytest.raises(AnalysisError, match="'q4' have no answers"):
        reliability(df)


def test_too_few_complete_rows():
    df = TINY.copy()
    df.loc[0:3, "q1"] = pd.NA
    with pytest.raises(AnalysisError, match="Only 2 of 6 rows answer every item"):
        reliability(df)


def test_negative_alpha_is_returned_with_warning():
    df = TINY.copy()
    df["q2"] = 6 - df["q2"]
    df["q4"] = 6 - df["q4"]
    with pytest.warns(UserWarning, match="reverse-keyed"):
        res = reliability(df).iloc[0]
    assert res["alpha"] < 0
    assert res["alpha"] == pytest.approx(alpha_by_variance_of_sum(df.to_numpy(dtype=float)), abs=1e-10)
    assert "negative" in res["note"]


def test_bad_parameters():
    with pytest.raises(ParameterError, match="'ci_level'"):
        reliability(TINY, ci_level=1.5)
    with pytest.raises(ParameterError, match="'method'"):
        reliability(TINY, method="duhachek")
    with pytest.raises(ParameterError, match="'missing'"):
        reliability(TINY, missing="mean")
    with pytest.raises(ParameterError, match="DataFrame"):
        reliability(TINY.to_numpy())
    with pytest.raises(DataValidationError, match="not numeric"):
        reliability(TINY.assign(q1=list("abcdef")))


# ----------------------------------------------------------------------------- scale_reliability
@dataclass(frozen=True)
class _RS:
    min: int
    max: int


@dataclass(frozen=True)
class _Item:
    id: str
    reverse: bool = False
    filler: bool = False


@dataclass(frozen=True)
class _Scale:
    id: str
    item_ids: tuple[str, ...]
    method: str = "mean"


@dataclass(frozen=True)
class _Instrument:
    id: str
    response_scale: _RS
    items: tuple[_Item, ...]
    scales: tuple[_Scale, ...]

    def column_names(self, pattern: str) -> dict[str, str]:
        return {i.id: pattern.replace("{item}", i.id) for i in self.items}


def _responses(rng, n=120):
    f = rng.normal(size=n)
    cols = {}
    for i in range(1, 5):
        x = np.clip(np.round(3 + f + rng.normal(scale=0.5, size=n)), 1, 5)
        cols[f"t_{i}"] = 6 - x if i == 4 else x  # item 4 is worded in reverse
    cols["t_5"] = rng.integers(1, 6, size=n)  # filler, unrelated
    df = pd.DataFrame(cols).astype("Int64")
    df.insert(0, "participant_id", [f"p{i // 2}" for i in range(n)])
    df.insert(1, "wave", ["baseline", "post"] * (n // 2))
    return df


def test_scale_reliability_with_stand_in_instrument():
    rng = np.random.default_rng(5)
    inst = _Instrument(
        "toy", _RS(1, 5),
        (_Item("1"), _Item("2"), _Item("3"), _Item("4", reverse=True), _Item("5", filler=True)),
        (_Scale("total", ("1", "2", "3", "4")), _Scale("pair", ("1", "5"))),
    )
    resp = _responses(rng)
    parts = pd.DataFrame({"participant_id": [f"p{i}" for i in range(60)], "arm": ["ctrl", "nw"] * 30})
    out = scale_reliability(resp, inst, "t_{item}", participants=parts, threshold=0.70)
    assert list(out.columns[:4]) == ["wave", "arm", "instrument", "scale"]
    assert len(out) == 2 * 2 * 2  # waves x arms x scales
    merged = resp.merge(parts, on="participant_id")
    for _, row in out.iterrows():
        sub = merged[(merged["wave"] == row["wave"]) & (merged["arm"] == row["arm"])]
        cols = ["t_1", "t_2", "t_3", "t_4"] if row["scale"] == "total" else ["t_1", "t_5"]
        X = sub[cols].to_numpy(dtype=float)
        if row["scale"] == "total":
            X[:, 3] = 6 - X[:, 3]
        assert row["alpha"] == pytest.approx(alpha_by_variance_of_sum(X), abs=1e-10)
        assert row["n"] == len(sub)
        assert row["below_threshold"] == (row["alpha"] < 0.70)
    total = out[out["scale"] == "total"]
    assert (total["alpha"] > 0.7).all() and not total["below_threshold"].any()
    assert out[out["scale"] == "pair"]["below_threshold"].all()


def test_scale_reliability_reports_uncomputable_cells():
    rng = np.random.default_rng(6)
    inst = _Instrument("toy", _RS(1, 5), tuple(_Item(str(i)) for i in range(1, 4)),
                       (_Scale("total", ("1", "2", "3")),))
    resp = _responses(rng)
    resp.loc[resp["wave"] == "post", "t_1"] = pd.NA
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = scale_reliability(resp, inst, "t_{item}", by=("wave",))
    post = out.set_index("wave").loc["post"]
    assert np.isnan(post["alpha"]) and "not computed" in post["note"]
    assert pd.isna(post["below_threshold"])
    with pytest.raises(ParameterError, match="pass 'participants'"):
        scale_reliability(resp, inst, "t_{item}")


def test_scale_reliability_with_bundled_instrument():
    instruments = pytest.importorskip("mentor_eval.instruments")
    gbs = instruments.load_instrument("general_belongingness_scale")
    rng = np.random.default_rng(8)
    n = 200
    f = rng.normal(size=n)
    data = {}
    for item in gbs.items:
        x = np.clip(np.round(4 + 1.2 * f + rng.normal(size=n)), 1, 7)
        data[f"gbs_{item.id}"] = 8 - x if item.reverse else x
    resp = pd.DataFrame(data).astype("Int64")
    resp["wave"] = "baseline"
    out = scale_reliability(resp, gbs, "gbs_{item}", by=("wave",))
    assert set(out["scale"]) == set(gbs.scale_ids)
    # reverse-worded items are re-keyed from the definition, so every scale is coherent
    assert (out["alpha"] > 0.8).all() and (out["average_r"] > 0).all()
