"""Known answers for p-value adjustment (R p.adjust semantics)."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import ParameterError
from mentor_eval.outcomes import adjust_pvalues
from mentor_eval.outcomes.multiplicity import adjust_family

P5 = [0.01, 0.02, 0.03, 0.04, 0.05]


def test_hand_derived_values():
    # R: p.adjust(c(.01,.02,.03,.04,.05), m) -- derived by hand from the definitions
    np.testing.assert_allclose(adjust_pvalues(P5, "bonferroni"), [0.05, 0.10, 0.15, 0.20, 0.25])
    # holm: cummax of (5,4,3,2,1) * p = .05,.08,.09,.08,.05 -> .05,.08,.09,.09,.09
    np.testing.assert_allclose(adjust_pvalues(P5, "holm"), [0.05, 0.08, 0.09, 0.09, 0.09])
    # BH: n/i * p = .05 for every i
    np.testing.assert_allclose(adjust_pvalues(P5, "BH"), [0.05] * 5)
    np.testing.assert_allclose(adjust_pvalues(P5, "hochberg"), [0.05] * 5)
    q = 1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5
    np.testing.assert_allclose(adjust_pvalues(P5, "by"), [0.05 * q] * 5)
    np.testing.assert_allclose(adjust_pvalues(P5, "none"), P5)


def test_unsorted_input_and_ties():
    p = [0.04, 0.01, 0.03, 0.01]
    # holm sorted: .01,.01,.03,.04 -> 4*.01=.04, 3*.01=.03->cummax .04, 2*.03=.06, 1*.04=.04->.06
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.06, 0.04, 0.06, 0.04])
    # BH: sorted .01,.01,.03,.04 ; n/i*p = .04,.02,.04,.04 ; cummin from the top -> .02,.02,.04,.04
    np.testing.assert_allclose(adjust_pvalues(p, "fdr"), [0.04, 0.02, 0.04, 0.02])
    # hochberg: (n-i+1)p = .04,.03,.06,.04 ; cummin from top -> .03,.03,.04,.04
    np.testing.assert_allclose(adjust_pvalues(p, "hochberg"), [0.04, 0.03, 0.04, 0.03])


def _simes(ps):
    ps = np.sort(ps)
    k = len(ps)
    return np.min(k * ps / np.arange(1, k + 1))


def _closed_test(p, local):
    """Adjusted p-values by brute-force closed testing with a local test."""
    m = len(p)
    out = np.zeros(m)
    for i in range(m):
        worst = 0.0
        for size in range(1, m + 1):
            for subset in combinations(range(m), size):
                if i in subset:
                    worst = max(worst, local(p[list(subset)]))
        out[i] = min(1.0, worst)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hommel_and_holm_equal_closed_testing(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=6)
    hommel = _closed_test(p, _simes)
    holm = _closed_test(p, lambda s: min(1.0, len(s) * s.min()))
    np.testing.assert_allclose(adjust_pvalues(p, "hommel"), hommel, rtol=1e-12)
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), holm, rtol=1e-12)


def test_hommel_hand_example_and_two_tests():
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.02, 0.04], "hommel"), [0.03, 0.04, 0.04])
    # with two tests R switches Hommel to Hochberg
    # Hochberg: 2 * .01 = .02 and 1 * .04 = .04
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.04], "hommel"), [0.02, 0.04])


def test_missing_values_and_family_size():
    out = adjust_pvalues([0.01, np.nan, 0.02], "bonferroni")
    np.testing.assert_allclose(out, [0.02, np.nan, 0.04])
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.02], "bonferroni", n=4), [0.04, 0.08])
    s = pd.Series([0.01, 0.02], index=["a", "b"])
    res = adjust_pvalues(s, "holm")
    assert list(res.index) == ["a", "b"] and res["a"] == pytest.approx(0.02)
    assert adjust_pvalues([0.3], "holm")[0] == 0.3


def test_bad_input():
    with pytest.raises(ParameterError, match="'method' parameter of adjust_pvalues"):
        adjust_pvalues(P5, "sidak")
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        adjust_pvalues([0.5, 1.5])
    with pytest.raises(ParameterError, match="'n' parameter"):
        adjust_pvalues(P5, n=2)


def test_adjust_family():
    res = pd.DataFrame({"outcome": ["a", "a", "b", "b"], "p": [0.01, 0.04, 0.02, 0.5]})
    out = adjust_family(res, by="outcome", method="holm")
    np.testing.assert_allclose(out["p_adj"], [0.02, 0.04, 0.04, 0.5])
    assert set(out["adjust"]) == {"holm"}
    assert list(out["family"]) == ["a", "a", "b", "b"]
    whole = adjust_family(res, by=None, method="bonferroni")
    np.testing.assert_allclose(whole["p_adj"], [0.04, 0.16, 0.08, 1.0])
    assert set(whole["family"]) == {"all"}
    assert "p_adj" not in res.columns  # input untouched
    with pytest.raises(ParameterError, match="lacks the column"):
        adjust_family(res, by="family")
