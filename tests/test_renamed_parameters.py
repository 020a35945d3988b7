"""One name for the interval level: ``ci_level`` everywhere, the old spellings kept for one release.

Before 0.2 the level of an interval was ``ci`` (prepost, ancova, effect sizes, reliability),
``conf_level`` (mediation, moderation, dose_response, cace, bootstrap_ci, simulated_power),
``level`` (meta_analysis, meta_regression, portfolio.yaml) or ``alpha`` = 1 - level
(mixed_model, cluster_robust). Each old keyword still works, warns (FutureWarning) and gives
the same numbers as the new one.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

import mentor_eval as me
from mentor_eval._params import REMOVED_IN, alpha_to_ci_level, renamed_parameters
from mentor_eval.errors import ParameterError
from mentor_eval.outcomes.effectsize import (
    effect_size_from_stats,
    noncentral_t_ci,
    paired_effect_size_from_stats,
)
from mentor_eval.outcomes.longitudinal import cluster_robust
from mentor_eval.parallel import bootstrap_ci

RENAMED = [
    (me.prepost, "ci"), (me.ancova, "ci"), (me.effect_size, "ci"), (noncentral_t_ci, "ci"),
    (effect_size_from_stats, "ci"), (paired_effect_size_from_stats, "ci"), (me.reliability, "ci"),
    (me.scale_reliability, "ci"), (me.mediation, "conf_level"), (me.moderation, "conf_level"),
    (me.dose_response, "conf_level"), (me.cace, "conf_level"), (bootstrap_ci, "conf_level"),
    (me.simulated_power, "conf_level"), (me.meta_analysis, "level"), (me.meta_regression, "level"),
    (me.mixed_model, "alpha"), (cluster_robust, "alpha"),
]


@pytest.mark.parametrize("func,old", RENAMED, ids=lambda v: getattr(v, "__name__", v))
def test_signature_shows_only_the_new_name(func, old):
    params = inspect.signature(func).parameters
    assert "ci_level" in params and params["ci_level"].default == 0.95
    assert old not in params
    assert "ci_level" in (func.__doc__ or "")


def _long(seed: int = 1, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pid = np.arange(2 * n)
    arm = np.where(pid < n, "control", "mentoring")
    pre = rng.normal(3, 1, pid.size)
    post = pre * 0.6 + 1.2 + 0.4 * (arm == "mentoring") + rng.normal(0, 0.6, pid.size)
    mid = 0.5 * (pre + post) + rng.normal(0, 0.3, pid.size)
    frame = pd.DataFrame({
        "participant_id": np.tile([f"P{i:03d}" for i in pid], 3),
        "arm": np.tile(arm, 3),
        "wave": np.repeat(["baseline", "midpoint", "post"], pid.size),
        "score": np.concatenate([pre, mid, post]),
    })
    return frame.assign(outcome="hope")


def _same(new, old) -> None:
    frames_new = new.tables() if hasattr(new, "tables") and callable(new.tables) else {"t": new}
    frames_old = old.tables() if hasattr(old, "tables") and callable(old.tables) else {"t": old}
    assert frames_new.keys() == frames_old.keys()
    for key, frame in frames_new.items():
        pd.testing.assert_frame_equal(pd.DataFrame(frame), pd.DataFrame(frames_old[key]))


def _call_old(func, *args, old: str, value, **kwargs):
    with pytest.warns(FutureWarning) as record:
        res = func(*args, **{old: value}, **kwargs)
    text = str(record[0].message)
    assert f"'{old}' parameter of {func.__name__} is deprecated" in text
    assert "'ci_level'" in text and REMOVED_IN in text
    return res


def test_prepost_and_ancova_accept_ci():
    d = _long()
    for func in (me.prepost, me.ancova):
        kw = {"cluster_method": "none"} if func is me.ancova else {}
        new = func(d, ci_level=0.9, **kw)
        old = _call_old(func, d, old="ci", value=0.9, **kw)
        _same(new, old)
        res99 = func(d, ci_level=0.99, **kw)
        wide = pd.DataFrame(res99.tables()["contrasts"] if func is me.ancova else res99)
        narrow = pd.DataFrame(new.tables()["contrasts"] if func is me.ancova else new)
        # the level reaches the intervals: 99% is wider than 90%
        assert ((wide["ci_high"] - wide["ci_low"]) > (narrow["ci_high"] - narrow["ci_low"])).all()


def test_mixed_model_alpha_becomes_ci_level():
    d = _long()
    new = me.mixed_model(d, ci_level=0.9)
    with pytest.warns(FutureWarning, match=r"alpha=0\.1 is ci_level=0\.9"):
        old = me.mixed_model(d, alpha=0.1)
    _same(new, old)
    row = new.fixed.iloc[1]
    from scipy import stats
    q = stats.t.ppf(0.95, row["df"])
    assert row["ci_high"] - row["estimate"] == pytest.approx(q * row["se"], rel=1e-9)


def test_cluster_robust_alpha_becomes_ci_level():
    d = _long()
    _same(cluster_robust(d, ci_level=0.8), _call_old(cluster_robust, d, old="alpha", value=0.2))


def test_mediation_accepts_conf_level_and_ci():
    two = pd.concat([_long(1), _long(2).assign(outcome="belonging")])
    kw = {"mediator": "belonging", "outcome": "hope", "mid": "midpoint", "n_boot": 0, "seed": 3, "n_mc": 500}
    new = me.mediation(two, ci_level=0.9, ci_method=["monte-carlo"], **kw)
    with pytest.warns(FutureWarning) as record:
        old = me.mediation(two, conf_level=0.9, ci=["monte-carlo"], **kw)
    assert {str(r.message).split("'")[1] for r in record} == {"conf_level", "ci"}
    assert any("use 'ci_method'" in str(r.message) for r in record)
    _same(new, old)


def test_meta_analysis_level():
    frame = pd.DataFrame({"g": [0.1, 0.3, 0.25, 0.5], "variance": [0.01, 0.02, 0.015, 0.03],
                          "study": list("abcd")})
    new = me.meta_analysis(frame, study="study", ci_level=0.8)
    old = _call_old(me.meta_analysis, frame, study="study", old="level", value=0.8)
    _same(new, old)


def test_effect_sizes_reliability_and_bootstrap_accept_old_names():
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.3, 1, 30), rng.normal(0, 1, 30)
    _same(me.effect_size(x, y, ci_level=0.8), _call_old(me.effect_size, x, y, old="ci", value=0.8))
    new = noncentral_t_ci(2.0, 20, ci_level=0.9)
    old = _call_old(noncentral_t_ci, 2.0, 20, old="ci", value=0.9)
    np.testing.assert_array_equal(np.asarray(new), np.asarray(old))
    # positional calls are unchanged by the rename
    np.testing.assert_array_equal(np.asarray(noncentral_t_ci(2.0, 20, 0.9)), np.asarray(new))
    items = pd.DataFrame(rng.integers(1, 6, (50, 4)), columns=list("abcd"))
    _same(me.reliability(items, ci_level=0.9), _call_old(me.reliability, items, old="ci", value=0.9))
    boot = rng.normal(size=(400, 1))
    np.testing.assert_array_equal(
        np.asarray(bootstrap_ci(boot, np.array([0.0]), method="percentile", ci_level=0.9)),
        np.asarray(_call_old(bootstrap_ci, boot, np.array([0.0]), method="percentile", old="conf_level",
                             value=0.9)))


def test_old_and_new_together_is_an_error():
    with pytest.raises(ParameterError, match="'ci' parameter of prepost is the old name of 'ci_level'"):
        me.prepost(_long(), ci=0.9, ci_level=0.9)
    with pytest.raises(ParameterError, match="'alpha' parameter of mixed_model"):
        me.mixed_model(_long(), alpha=0.1, ci_level=0.9)


def test_bad_old_value_is_checked_under_the_new_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(ParameterError, match="The 'ci_level' parameter of mixed_model must be in"):
            me.mixed_model(_long(), alpha=1.5)
        with pytest.raises(ParameterError, match="The 'ci_level' parameter of mixed_model must be a number"):
            me.mixed_model(_long(), alpha="wide")


def test_decorator_warns_at_the_callers_line():
    @renamed_parameters({"old": "new", "neg": ("new", lambda v: -v)})
    def f(a, new=1):
        return a, new

    with pytest.warns(FutureWarning) as record:
        assert f(0, old=5) == (0, 5)
    assert record[0].filename == __file__
    with pytest.warns(FutureWarning, match=r"neg=2 is new=-2"):
        assert f(0, neg=2) == (0, -2)
    assert f(0, new=3) == (0, 3)
    assert alpha_to_ci_level(0.05) == 0.95 and alpha_to_ci_level(0.1) == 0.9


def test_portfolio_yaml_level_is_the_old_name_of_ci_level(tmp_path):
    from mentor_eval.errors import StudyConfigError
    from mentor_eval.portfolio import load_portfolio
    study = tmp_path / "programs" / "a"
    study.mkdir(parents=True)
    (study / "study.yaml").write_text("name: a\n", encoding="utf-8")
    for key in ("ci_level", "level"):
        (tmp_path / "portfolio.yaml").write_text(
            f"name: P\nstudies: [programs/*]\n{key}: 0.9\n", encoding="utf-8")
        assert load_portfolio(tmp_path / "portfolio.yaml").ci_level == 0.9
    (tmp_path / "portfolio.yaml").write_text(
        "name: P\nstudies: [programs/*]\nlevel: 0.9\nci_level: 0.9\n", encoding="utf-8")
    with pytest.raises(StudyConfigError, match="old name of 'ci_level'"):
        load_portfolio(tmp_path / "portfolio.yaml")
