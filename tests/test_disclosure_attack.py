"""An attacker tries to recover every suppressed value from what the report publishes, and must fail.

For each protected table the test writes down every linear relation a reader can see or
knows: published totals, the same number printed twice (an arm's enrolled count at every
wave), shares times their published denominator, categories summing to a published n.
Unknowns are the hidden values. A hidden value is recovered when the relations fix it
(it lies in the row space of the system restricted to the unknowns, after every
published value is substituted). Property-based (hypothesis) over random tables, and
on the protected sample study.

The same tests check the other half of the rule: nothing is hidden that need not be.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentor_eval.outcomes.design import ALL_ARMS
from mentor_eval.report.protect import _protect_baseline, _protect_flow, _protect_reliable_change


class Attacker:
    """Linear relations sum(c_i * v_i) = b over values v_i, some published, some hidden."""

    def __init__(self) -> None:
        self.rows: list[tuple[dict[str, float], float]] = []
        self.known: dict[str, float] = {}
        self.hidden: dict[str, float] = {}  # the true values of hidden cells (for the report of a leak)

    def value(self, name: str, shown: object, truth: float) -> None:
        if shown is None or pd.isna(shown):
            self.hidden[name] = float(truth)
        else:
            self.known[name] = float(shown)

    def relate(self, coef: dict[str, float], const: float = 0.0) -> None:
        self.rows.append((coef, const))

    def recovered(self) -> list[str]:
        names = sorted(self.hidden)
        if not names:
            return []
        col = {n: j for j, n in enumerate(names)}
        a = []
        for coef, _const in self.rows:
            if any(v not in self.known and v not in col for v in coef):
                continue  # involves a value the reader does not have at all
            row = np.zeros(len(names))
            for v, c in coef.items():
                if v in col:
                    row[col[v]] += c
            if np.any(row != 0):
                a.append(row)
        if not a:
            return []
        a = np.vstack(a)
        rank = np.linalg.matrix_rank(a)
        out = []
        for n, j in col.items():
            e = np.zeros(len(names))
            e[j] = 1.0
            if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
                out.append(n)
        return out


# --------------------------------------------------------------------------- participant flow

@st.composite
def flows(draw):
    n_arms = draw(st.integers(2, 5))
    waves = ["w1", "w2", "w3"]
    rows = []
    for k in range(n_arms):
        enrolled = draw(st.integers(1, 60))
        a1 = enrolled
        a2 = draw(st.integers(0, a1))
        a3 = draw(st.integers(0, a2))
        for w, a in zip(waves, (a1, a2, a3), strict=True):
            rows.append({"arm": f"arm{k}", "wave": w, "n_enrolled": enrolled, "n_assessed": a, "n_analysed": a3})
    raw = pd.DataFrame(rows)
    tot = raw.groupby("wave", sort=False)[["n_enrolled", "n_assessed", "n_analysed"]].sum().reset_index()
    tot.insert(0, "arm", ALL_ARMS)
    raw = pd.concat([raw, tot], ignore_index=True)
    raw["pct_assessed"] = 100 * raw["n_assessed"] / raw["n_enrolled"]
    raw["pct_analysed"] = 100 * raw["n_analysed"] / raw["n_enrolled"]
    return raw, waves, draw(st.sampled_from([5, 10]))


def _flow_attack(raw: pd.DataFrame, shown: pd.DataFrame, waves: list[str]) -> Attacker:
    att = Attacker()
    truth = raw.set_index(["arm", "wave"])
    pub = shown.set_index(["arm", "wave"])
    arms = [a for a in truth.index.get_level_values(0).unique() if a != ALL_ARMS]
    for (a, w), r in truth.iterrows():
        for c in ("n_enrolled", "n_assessed", "n_analysed"):
            att.value(f"{c}|{a}|{w}", pub.loc[(a, w), c], r[c])
    for a in arms:
        for w in waves:
            for c in ("n_enrolled", "n_analysed"):  # one number per arm, printed at every wave
                if w != waves[0]:
                    att.relate({f"{c}|{a}|{w}": 1.0, f"{c}|{a}|{waves[0]}": -1.0})
            # a percentage and one of its two counts give the other
            for c, pc in (("n_assessed", "pct_assessed"), ("n_analysed", "pct_analysed")):
                pct = pub.loc[(a, w), pc]
                if pd.notna(pct):
                    att.relate({f"{c}|{a}|{w}": 1.0, f"n_enrolled|{a}|{w}": -float(pct) / 100})
        att.relate({f"n_analysed|{a}|{waves[-1]}": 1.0, f"n_assessed|{a}|{waves[-1]}": -1.0})
    for w in waves:
        for c in ("n_enrolled", "n_assessed", "n_analysed"):
            att.relate({f"{c}|{ALL_ARMS}|{w}": 1.0, **{f"{c}|{a}|{w}": -1.0 for a in arms}})
            if w != waves[0] and c != "n_assessed":
                att.relate({f"{c}|{ALL_ARMS}|{w}": 1.0, f"{c}|{ALL_ARMS}|{waves[0]}": -1.0})
        for c, pc in (("n_assessed", "pct_assessed"), ("n_analysed", "pct_analysed")):
            pct = pub.loc[(ALL_ARMS, w), pc]
            if pd.notna(pct):
                att.relate({f"{c}|{ALL_ARMS}|{w}": 1.0, f"n_enrolled|{ALL_ARMS}|{w}": -float(pct) / 100})
    return att


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows())
def test_flow_cells_cannot_be_recovered(case):
    raw, waves, m = case
    shown = _protect_flow(raw, m, waves)
    att = _flow_attack(raw, shown, waves)
    leaks = att.recovered()
    assert leaks == [], {k: att.hidden[k] for k in leaks}
    # every small count is hidden
    cells = raw[raw["arm"] != ALL_ARMS]
    pub = shown.set_index(["arm", "wave"])
    for r in cells.itertuples(index=False):
        for c in ("n_enrolled", "n_assessed", "n_analysed"):
            v = getattr(r, c)
            if 0 < v < m:
                assert pd.isna(pub.loc[(r.arm, r.wave), c])


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 5), st.integers(10, 80))
def test_flow_hides_nothing_when_no_cell_is_small(n_arms, base):
    rows = []
    for k in range(n_arms):
        for w, a in zip(["w1", "w2"], (base + 10 * k, base + 5 * k), strict=True):
            rows.append({"arm": f"arm{k}", "wave": w, "n_enrolled": base + 10 * k, "n_assessed": a,
                         "n_analysed": base + 5 * k})
    raw = pd.DataFrame(rows)
    raw["pct_assessed"] = 100 * raw["n_assessed"] / raw["n_enrolled"]
    raw["pct_analysed"] = 100 * raw["n_analysed"] / raw["n_enrolled"]
    shown = _protect_flow(raw, 10, ["w1", "w2"])
    assert not shown["suppressed"].any()


# --------------------------------------------------------------------------- reliable change

@st.composite
def change_rows(draw):
    rows = []
    for k in range(draw(st.integers(1, 4))):
        imp, unc, det = (draw(st.integers(0, 80)) for _ in range(3))
        n = imp + unc + det
        if n == 0:
            unc, n = 1, 1
        rows.append({"outcome": "o", "arm": f"arm{k}", "n": n, "n_improved": imp, "n_unchanged": unc,
                     "n_deteriorated": det, "n_reliably_improved": imp, "share_improved": imp / n,
                     "share_unchanged": unc / n, "share_deteriorated": det / n, "share_reliably_improved": imp / n})
    return pd.DataFrame(rows), draw(st.sampled_from([5, 10]))


@settings(max_examples=80, deadline=None)
@given(change_rows())
def test_reliable_change_counts_cannot_be_recovered(case):
    rc, m = case
    out = _protect_reliable_change(rc, m, set())
    cats = ["improved", "unchanged", "deteriorated"]
    for i in range(len(rc)):
        r, s = rc.iloc[i], out.iloc[i]
        att = Attacker()
        att.value("n", s["n"], r["n"])
        for c in cats:
            att.value(c, s[f"n_{c}"], r[f"n_{c}"])
            if pd.notna(s[f"share_{c}"]):
                att.relate({c: 1.0, "n": -float(s[f"share_{c}"])})
        att.relate({"n": 1.0, **{c: -1.0 for c in cats}})
        if pd.notna(s["share_not_improved"]):
            att.relate({"unchanged": 1.0, "deteriorated": 1.0, "n": -float(s["share_not_improved"])})
        if pd.notna(s["share_not_deteriorated"]):
            att.relate({"improved": 1.0, "unchanged": 1.0, "n": -float(s["share_not_deteriorated"])})
        leaks = att.recovered()
        small = [c for c in cats if 0 < r[f"n_{c}"] < m]
        assert leaks == [], (leaks, r.to_dict())
        for c in small:
            assert pd.isna(s[f"n_{c}"]) and pd.isna(s[f"share_{c}"])
        if not small and r["n"] >= m:
            assert not s["suppressed"]  # nothing hidden that need not be
        # one small tail: the improved share stays visible when improved itself is not small
        if small == ["deteriorated"] and r["n_improved"] >= m and r["n_unchanged"] + r["n_deteriorated"] >= m:
            assert pd.notna(s["share_improved"]) and pd.notna(s["share_not_improved"])
        # the chart's line "improved: fewer than m" names exactly the small categories, and only
        # categories that are in fact hidden
        named = [c.strip() for c in s["small_categories"].split(",") if c.strip()]
        assert named == (small if r["n"] >= m else []), (named, r.to_dict())
        assert all(pd.isna(s[f"n_{c}"]) for c in named)


# --------------------------------------------------------------------------- baseline categories

@st.composite
def baselines(draw):
    levels = ["female", "male", "nonbinary"]
    groups = {}
    for g in ("control", "a", "b"):
        groups[g] = [draw(st.integers(0, 60)) for _ in levels]
        if sum(groups[g]) == 0:
            groups[g][0] = 1
    rows = []
    for arm in ("a", "b"):
        for j, lv in enumerate(levels):
            na, nr = sum(groups[arm]), sum(groups["control"])
            pa, pr = groups[arm][j] / na, groups["control"][j] / nr
            rows.append({"variable": f"gender={lv}", "arm": arm, "reference": "control", "n_arm": na, "n_ref": nr,
                         "mean_arm": pa, "mean_ref": pr, "sd_arm": np.nan, "sd_ref": np.nan, "g": pa - pr,
                         "kind": "binary", "category": "satisfies", "note": ""})
    return pd.DataFrame(rows), groups, levels, draw(st.sampled_from([5, 10]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(baselines())
def test_baseline_category_counts_cannot_be_recovered(case):
    base, groups, levels, m = case
    out = _protect_baseline(base, m, set())
    for grp in groups:
        att = Attacker()
        side = ("mean_arm", "n_arm") if grp != "control" else ("mean_ref", "n_ref")
        rows = out[out["arm"] == grp] if grp != "control" else out[out["arm"] == "a"]
        if pd.isna(rows[side[1]].iloc[0]):  # the group itself is small: nothing about it is shown
            assert 0 < sum(groups[grp]) < m and rows[side[0]].isna().all()
            continue
        n = int(rows[side[1]].iloc[0])
        for j, lv in enumerate(levels):
            shown = rows.loc[rows["variable"] == f"gender={lv}", side[0]].iloc[0]
            att.value(lv, None if pd.isna(shown) else shown * n, groups[grp][j])
        att.relate({lv: 1.0 for lv in levels}, n)
        leaks = att.recovered()
        assert leaks == [], (grp, leaks, groups[grp])
        for j, lv in enumerate(levels):
            if 0 < groups[grp][j] < m:
                assert pd.isna(rows.loc[rows["variable"] == f"gender={lv}", side[0]].iloc[0])
        if not any(0 < c < m for c in groups[grp]):
            assert rows[side[0]].notna().all()  # nothing hidden that need not be
    # a verdict never stands beside a hidden share
    gone = out["mean_arm"].isna() | out["mean_ref"].isna()
    assert out.loc[gone, "g"].isna().all() and out.loc[gone, "category"].isna().all()


# --------------------------------------------------------------------------- the sample study

@pytest.mark.slow
def test_sample_report_hides_nothing_recoverable():
    from test_report_content import sample_results

    from mentor_eval.report.protect import protect

    raw = sample_results()
    for m in (10, 150):
        safe = protect(raw, m)
        att = _flow_attack(raw.flow, safe.flow, list(raw.study.wave_keys))
        # the attrition table prints the same enrolled and analysed counts again
        for r in safe.attrition.itertuples(index=False):
            final = raw.study.final
            for c in ("n_enrolled", "n_analysed"):
                v = getattr(r, c)
                if pd.notna(v):
                    att.relate({f"{c}|{r.arm}|{final}": 1.0}, float(v))
                    att.known.setdefault(f"attr|{c}|{r.arm}", float(v))
        leaks = [k for k in att.recovered() if k in att.hidden]
        assert leaks == [], leaks


@pytest.mark.slow
def test_model_fit_reveals_no_hidden_arm_count():
    """A model's n is the sum of the arm counts beside its means, and BIC - AIC = k (log n - 2)
    gives n back: wherever an arm count is hidden, both must be, and nothing else."""
    from test_report_content import sample_results

    from mentor_eval.report.protect import protect

    raw = sample_results()
    for m, expect_hidden in ((10, False), (150, True)):
        safe = protect(raw, m)
        fit = safe.model_fit
        assert len(fit) == 2 * len(set(raw.contrasts["outcome"]))  # ANCOVA + mixed model per outcome
        for r in fit.itertuples(index=False):
            att = Attacker()
            if r.model == "ancova":
                cells = safe.ancova_means[safe.ancova_means["outcome"] == r.outcome]
                truth = raw.ancova_means[raw.ancova_means["outcome"] == r.outcome].set_index("arm")["n"]
                total = "n"
            else:
                cells = safe.mixed_means[safe.mixed_means["outcome"] == r.outcome]
                truth = raw.mixed_means[raw.mixed_means["outcome"] == r.outcome].set_index(["wave", "arm"])["n"]
                total = "n_obs"
            keys = [f"cell|{i}" for i in range(len(cells))]
            for k, c in zip(keys, cells.itertuples(index=False), strict=True):
                att.value(k, c.n, truth.loc[c.arm] if r.model == "ancova" else truth.loc[(c.wave, c.arm)])
            raw_fit = raw.model_fit.set_index(["outcome", "model"]).loc[(r.outcome, r.model)]
            shown_total = getattr(r, total)
            if pd.notna(r.BIC) and pd.notna(r.AIC):  # the reader works n out of the criteria
                n_obs = float(np.exp((r.BIC - r.AIC) / r.n_params + 2))
                assert n_obs == pytest.approx(raw_fit["n_obs"], rel=1e-6)  # the attack works
                shown_total = shown_total if pd.notna(shown_total) else n_obs
            att.value("total", shown_total, raw_fit[total])
            att.relate({**{k: 1.0 for k in keys}, "total": -1.0})
            leaks = [k for k in att.recovered() if k in att.hidden]
            assert leaks == [], (m, r.outcome, r.model, leaks)
            hidden_cells = any(k in att.hidden for k in keys)
            # nothing hidden that need not be: the size goes only with a hidden cell
            assert pd.isna(r.n) == hidden_cells and pd.isna(r.BIC) == hidden_cells, (m, r.outcome, r.model)
            assert pd.notna(r.AIC) and pd.notna(r.logLik)
            assert hidden_cells == expect_hidden
