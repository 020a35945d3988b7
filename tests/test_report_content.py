"""Report content: disclosure-safe results and the frames behind each table and figure."""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import ParameterError
from mentor_eval.pipeline import StudyResults, run_study
from mentor_eval.report import figures, html, names, protect, tables
from mentor_eval.report.disclosure import suppress_small_cells

BIG = 150  # larger than the control arm's 138 analysed participants, smaller than every other arm's


@functools.lru_cache(maxsize=1)
def sample_results() -> StudyResults:
    """The bundled sample study, analysed once per test session (shared with test_narrative)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_study(None)


@pytest.fixture(scope="module")
def raw() -> StudyResults:
    return sample_results()


@pytest.fixture(scope="module")
def safe(raw) -> StudyResults:
    return protect.protect(raw)


@pytest.fixture(scope="module")
def strict(raw) -> StudyResults:
    return protect.protect(raw, BIG)


# --------------------------------------------------------------------------- protect


def test_protect_drops_row_level_data_and_records_the_rule(raw, safe):
    assert raw.data is not None
    assert safe.data is None
    assert protect.is_protected(safe) and not protect.is_protected(raw)
    rep = safe.provenance["report"]
    assert rep["min_cell"] == raw.study.privacy.min_cell == 10
    assert rep["n_enrolled"] == len(raw.data.participants) == 1200
    assert rep["sites"] and set(rep["sites"]) == set(raw.data.participants["site_id"])
    # the original results are untouched
    assert "suppressed" not in raw.flow.columns


def test_protect_is_idempotent_and_refuses_a_second_threshold(safe):
    assert protect.protect(safe) is safe
    assert protect.protect(safe, 10) is safe
    with pytest.raises(ParameterError, match="already protected with min_cell=10"):
        protect.protect(safe, 20)


def test_protect_rejects_bad_input(raw):
    with pytest.raises(ParameterError, match="StudyResults"):
        protect.protect(raw.flow)
    with pytest.raises(ParameterError, match="min_cell"):
        protect.protect(raw, 0)


def _count_columns(frame: pd.DataFrame) -> list[str]:
    return [c[: -len("_suppressed")] for c in frame.columns if c.endswith("_suppressed")]


@pytest.mark.parametrize("which", ["safe", "strict"])
def test_no_published_count_is_below_min_cell(which, request):
    res = request.getfixturevalue(which)
    m = res.provenance["report"]["min_cell"]
    checked = 0
    for name, t in res.tables().items():
        for c in _count_columns(t):
            shown = pd.to_numeric(t[c], errors="coerce").dropna()
            assert not ((shown > 0) & (shown < m)).any(), (name, c)
            checked += 1
    assert checked >= 10


def test_exclusion_counts_are_not_published(safe):
    for name, t in safe.tables().items():
        assert not set(protect.EXCLUSION_COUNTS) & set(t.columns), name


def test_flow_suppression_hides_small_cells_and_their_complements(raw, strict):
    flow = strict.flow
    cells = flow[flow["arm"] != "all"]
    post = cells[cells["wave"] == raw.study.final]
    raw_post = raw.flow[(raw.flow["arm"] != "all") & (raw.flow["wave"] == raw.study.final)].set_index("arm")
    small = set(raw_post.index[raw_post["n_assessed"] < BIG])
    assert small == {"control"}
    hidden = set(post.loc[post["n_assessed_suppressed"], "arm"])
    assert small <= hidden
    assert len(hidden) >= 2  # a lone hidden cell would be total minus the others
    # the percentage would reveal the count
    assert post.loc[post["n_assessed_suppressed"], "pct_assessed"].isna().all()
    # analysed = assessed at the last wave: hidden together
    assert set(cells.loc[cells["n_analysed_suppressed"], "arm"]) >= hidden


def test_suppression_propagates_across_tables(strict):
    # the control arm is hidden at the last wave, so no comparison with it can be published
    assert strict.contrasts["suppressed"].all()
    assert strict.contrasts["g"].isna().all() and strict.contrasts["n_ref"].isna().all()
    assert strict.hypotheses["estimate"].isna().all()
    assert (strict.hypotheses["verdict"] == "not reported (the comparison involves a group of fewer than 150 people)").all()
    mm = strict.mixed_means
    ctrl_post = mm[(mm["arm"] == "control") & (mm["wave"] == "post")]
    assert ctrl_post["estimate"].isna().all() and ctrl_post["suppressed"].all()
    mc = strict.mixed_contrasts
    assert mc.loc[mc["wave"] == "post", "estimate"].isna().all()
    rba = strict.reliability_by_arm
    assert rba.loc[(rba["arm"] == "control") & (rba["wave"] == "post"), "alpha"].isna().all()


def test_baseline_category_counts_are_protected(raw, safe):
    # the control arm has 5 non-binary participants: its gender proportions are cells below 10
    base = raw.baseline
    nb = base[(base["variable"] == "gender=nonbinary")]
    assert round(float(nb["mean_ref"].iloc[0] * nb["n_ref"].iloc[0])) < 10
    out = safe.baseline
    gender = out[out["variable"].str.startswith("gender=")]
    ref = gender.drop_duplicates("variable").set_index("variable")["mean_ref"]
    # the small category is hidden, and exactly one complement with it: hiding only the
    # non-binary share would leave it as 1 - female - male; hiding all three over-hides
    assert pd.isna(ref["gender=nonbinary"])
    assert ref.isna().sum() == 2
    # what stays visible cannot pin the hidden shares: they sum to more than one person's share
    assert 1 - ref.sum() > 1 / 200
    # a hidden share takes g and the WWC verdict computed from it along
    gone = gender[gender["mean_ref"].isna()]
    assert gone["g"].isna().all() and gone["category"].isna().all()
    kept = gender[gender["mean_ref"].notna() & gender["mean_arm"].notna()]
    assert len(kept) and kept["g"].notna().all() and kept["category"].notna().all()
    # continuous characteristics stay visible
    age = out[out["variable"] == "age"]
    assert age["mean_arm"].notna().all() and age["g"].notna().all()


def test_reliable_change_counts_get_complementary_suppression(raw, safe):
    rcs = raw.reliable_change
    small = rcs[(rcs["n_deteriorated"] > 0) & (rcs["n_deteriorated"] < 10)]
    assert len(small)
    out = safe.reliable_change.set_index(["outcome", "arm"])
    for o, a in zip(small["outcome"], small["arm"], strict=True):
        row = out.loc[(o, a)]
        assert pd.isna(row["n_deteriorated"]) and pd.isna(row["share_deteriorated"])
        # n is published, so a second category must be hidden too
        hidden = [pd.isna(row[f"n_{c}"]) for c in ("improved", "unchanged", "deteriorated")]
        assert sum(hidden) >= 2


def test_item_distribution_small_levels_hidden(raw, safe):
    d = raw.item_distributions
    assert ((d["n"] > 0) & (d["n"] < 10)).any()
    out = safe.item_distributions
    shown = pd.to_numeric(out["n"], errors="coerce")
    assert not ((shown > 0) & (shown < 10)).any()
    assert out.loc[out["n_suppressed"], "share"].isna().all()


def test_moderator_estimates_of_small_subgroups_are_hidden(safe):
    mods = safe.moderators
    nb = mods[mods["level"] == "nonbinary"]
    assert len(nb) and nb["estimate"].isna().all()
    omnibus = mods[mods["test"] == "interaction F"]
    assert omnibus["p"].notna().all()


def test_participant_ids_are_scrubbed_from_notes(raw):
    pid = str(raw.data.participants["participant_id"].iloc[3])
    notes = pd.DataFrame({"step": ["reliable change"], "target": ["x"],
                          "reason": [f"participant {pid} has no baseline; {pid}X is not an id"]})
    out = protect.protect(dataclasses.replace(raw, notes=notes))
    reason = out.notes["reason"].iloc[0]
    assert pid + " " not in reason and "[participant id] has no baseline" in reason
    assert f"{pid}X" in reason  # only whole ids are replaced
    assert out.provenance["report"]["participant_ids_scrubbed"] == 1


def test_suppressed_flags_match_disclosure_module():
    t = pd.DataFrame({"arm": ["a", "a", "b", "b"], "wave": [1, 2, 1, 2], "n": [40, 4, 38, 35],
                      "mean": [3.1, 2.9, 3.0, 3.3]})
    ref = suppress_small_cells(t, "n", value_cols=["mean"], group_keys=["arm", "wave"])
    mine = protect._suppress(t, ["n"], ["mean"], 10, keys=["arm", "wave"], margins="all")
    pd.testing.assert_frame_equal(ref, mine)


# --------------------------------------------------------------------------- tables and figures


def test_tables_require_protected_results(raw):
    with pytest.raises(ParameterError, match="protect"):
        tables.baseline_table(raw)
    with pytest.raises(ParameterError, match="protect"):
        figures.forest_data(raw)


def test_flow_table_for_report_labels_and_suppresses(raw):
    t = tables.flow_table_for_report(raw, BIG)
    assert {"Arm", "Wave", "Enrolled", "Assessed", "Analysed"} <= set(t.columns)
    assert "Control (no mentoring)" in set(t["Arm"]) and "All arms" in set(t["Arm"])
    ctrl = t[(t["Arm"] == "Control (no mentoring)") & (t["Wave"] == "post")]
    assert ctrl["Assessed"].isna().all() and ctrl["Assessed_suppressed"].all()


def test_forest_data_takes_g_or_raw_differences(safe, raw):
    g = figures.forest_data(safe)
    con = raw.contrasts
    assert len(g) == len(con)
    first = con[(con["outcome"] == "adult_hope_scale.total") & (con["arm"] == "narrative_weaving")].iloc[0]
    row = g[(g["outcome"] == "Adult Hope Scale: Total hope") & (g["arm"] == "Narrative Weaving")].iloc[0]
    assert row["estimate"] == pytest.approx(first["g"])
    assert row["ci_low"] == pytest.approx(first["g_ci_low"]) and row["ci_high"] == pytest.approx(first["g_ci_high"])
    assert (g["scale"] == "standardized (g)").all()
    raw_d = figures.forest_data(safe, scale="raw")
    r2 = raw_d[(raw_d["outcome"] == row["outcome"]) & (raw_d["arm"] == row["arm"])].iloc[0]
    assert r2["estimate"] == pytest.approx(first["estimate"])
    # primary outcomes first, in the study's order
    assert g["outcome"].iloc[0] == "Adult Hope Scale: Total hope"
    with pytest.raises(ParameterError, match="scale"):
        figures.forest_data(safe, scale="d")


def test_hypotheses_table_explains_verdicts(safe, raw):
    t = tables.hypotheses_table(safe)
    assert list(t["Hypothesis"]) == list(raw.hypotheses["hypothesis"])
    assert list(t["Verdict"]) == list(raw.hypotheses["verdict"])
    sup = t[t["Verdict"] == "supported"]
    assert sup["What it means"].str.contains("support the expected direction").all()
    nots = t[t["Verdict"] == "not supported"]
    assert nots["What it means"].str.contains("not proof that there is no effect").all()
    assert np.allclose(t["Adjusted p"].astype(float), raw.hypotheses["p_adj"])


def test_baseline_table_words(safe):
    t = tables.baseline_table(safe)
    assert "WWC baseline equivalence" in t.columns
    shown = t["WWC baseline equivalence"].notna()
    assert t.loc[shown, "WWC baseline equivalence"].str.contains("SD").all()
    # a verdict is missing only where the g behind it is suppressed
    assert (t.loc[~shown, "suppressed"]).all() and t.loc[~shown, "Difference (g)"].isna().all()
    assert "n arm" not in t.columns and "n arm" in tables.baseline_table(safe, full=True).columns


def test_figures_are_built_from_protected_tables(strict):
    fig = figures.means_figure(strict, "adult_hope_scale.total")
    assert "Not shown to protect privacy" in fig.layout.meta["note"]
    ctrl = [t for t in fig.data if t.name == "Control (no mentoring)"][0]
    assert ctrl.y[-1] is None or math.isnan(ctrl.y[-1])
    forest = figures.forest_figure(strict)
    assert "standardized" in forest.layout.meta["caption"]
    assert all(all(v is None or math.isnan(v) for v in t.x) for t in forest.data if t.x is not None)
    flow = figures.flow_figure(strict)
    assert "Not shown to protect privacy" in flow.layout.meta["note"]
    assert "all" not in {t.name for t in flow.data}


def test_every_sample_figure_has_alt_text_and_caption(safe):
    figs = [figures.flow_figure(safe), figures.forest_figure(safe)]
    for o in names.report_outcomes(safe):
        figs += [figures.means_figure(safe, o), figures.change_figure(safe, o), figures.reliable_change_figure(safe, o)]
    figs += [figures.item_distribution_figure(safe, i) for i in names.report_instruments(safe)]
    assert len(figs) == 2 + 3 * 4 + 3
    for f in figs:
        assert f.layout.meta["alt"] and f.layout.meta["caption"]


def test_html_helpers_escape_user_strings(safe):
    assert html.paragraphs_html(["<b>x</b>"]) == '<div class="me-prose"><p>&lt;b&gt;x&lt;/b&gt;</p></div>'
    assert html.bullets_html([]) == ""
    card = {"label": "<script>alert(1)</script>", "model_name": "M", "format_words": "w", "description": "d",
            "belonging_mechanism": "b", "hope_mechanism": "h", "n_enrolled": None, "is_control": False}
    html_ = html.arm_cards_html([card])
    assert "<script>" not in html_ and "&lt;script&gt;alert(1)&lt;/script&gt;" in html_
    assert "number withheld" in html_
    title = tables.title_html(safe, "<i>T</i>")
    assert "<i>" not in title and "&lt;i&gt;T&lt;/i&gt;" in title


def test_item_statistics_per_scale(raw):
    t = tables.item_statistics(raw, "general_belongingness_scale")
    assert len(set(t["Scale"])) == 2 and "Acceptance/Inclusion (item mean)" in set(t["Scale"])
    assert len(t) == 12 and t["Reversed"].sum() == 6
    assert t["Item-rest r"].between(0, 1).all()
    with pytest.raises(ParameterError, match="unprotected"):
        tables.item_statistics(protect.protect(raw), "general_belongingness_scale")


def test_methods_appendix_tables(safe):
    inputs = tables.inputs_table(safe)
    assert list(inputs["Input"]) == ["study", "participants", "responses"]
    assert inputs["SHA-256"].str.fullmatch(r"[0-9a-f]{64}").all()
    params = tables.parameters_table(safe).set_index("Parameter")["Value"]
    assert params["report_min_cell"] == "10" and params["design"] == "randomized"
    assert "pandas" in set(tables.versions_table(safe)["Software"])


def test_check_audience():
    assert names.check_audience("researcher") == "researcher"
    with pytest.raises(ParameterError, match="audience"):
        names.check_audience("public")
