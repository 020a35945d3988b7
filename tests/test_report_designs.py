"""Every study design renders: single-arm pre/post, two arms, fifteen arms, one site, no
clusters, one wave only (a baseline report).

The report notebook's cells run in this process (``exec`` of each code cell, with the
parameters papermill would inject), once per simulated design: the same code as the
rendered report without a kernel start per design. tests/test_browser_designs.py renders
the fifteen-arm study to HTML and checks it in Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mentor_eval.models import list_models
from mentor_eval.simulate import simulate_study

REPORT = Path(__file__).resolve().parent.parent / "notebooks" / "evaluation_report.ipynb"

pytestmark = pytest.mark.slow


def _cells() -> list[str]:
    nb = json.loads(REPORT.read_text(encoding="utf-8"))
    out = []
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            out.append("".join(c["source"]))
    return out


def write_design(tmp: Path, design: str) -> Path:
    """A small simulated study of the named design, written as study.yaml + CSVs."""
    kw: dict = {"n_participants": 160, "seed": 5, "sites": 2, "item_missing": 0.0}
    if design == "single_arm":
        kw["arms"] = ["narrative_weaving"]
    elif design == "two_arms":
        kw["arms"] = ["control", "narrative_weaving"]
    elif design == "fifteen_arms":
        kw.update(arms=[m.key for m in list_models()], n_participants=15 * 24)
    elif design == "one_site":
        kw.update(arms=["control", "storytelling_circles"], sites=1)
    elif design == "no_clusters":
        kw["arms"] = ["control", "strength_spotlight"]
    elif design == "one_wave":
        kw.update(arms=["control", "narrative_weaving"], waves=["baseline"])
    sim = simulate_study(**kw)
    if design == "no_clusters":
        sim.config.pop("clusters", None)
    return sim.write(tmp / design)


def run_notebook(study: Path, out: Path, **params) -> dict:
    """Execute the report notebook's code cells here; returns the namespace and the HTML shown."""
    import IPython.display as ipd

    shown: list[str] = []
    ns: dict = {}
    real = ipd.display

    def capture(*objs, **kw):
        for o in objs:
            if isinstance(o, dict):
                shown.append(o.get("text/html", ""))
            elif hasattr(o, "data"):
                shown.append(str(o.data))

    ipd.display = capture
    try:
        cells = _cells()
        for i, src in enumerate(cells):
            exec(compile(src, f"cell {i}", "exec"), ns)
            if i == 0:  # the notebook imported display from IPython: route it here too
                ns["display"] = capture
            if i == 1:  # papermill's injected parameters
                ns.update({"study_path": str(study), "output_dir": str(out), **params})
    finally:
        ipd.display = real
    ns["_html"] = "\n".join(shown)
    return ns


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    from mentor_eval.report import display

    tmp = tmp_path_factory.mktemp("designs")
    out = {}
    for d in ("single_arm", "two_arms", "fifteen_arms", "one_site", "no_clusters", "one_wave"):
        display.reset_plotlyjs()
        # psychometrics (CFA, invariance) only once: they are tested elsewhere and cost most of the time
        out[d] = run_notebook(write_design(tmp, d), tmp / f"{d}_out", mixed=False, psychometrics=d == "two_arms")
    return out


@pytest.mark.parametrize("design", ["single_arm", "two_arms", "fifteen_arms", "one_site", "no_clusters",
                                    "one_wave"])
def test_design_renders_with_a_first_screen(designs, design):
    ns = designs[design]
    html = ns["_html"]
    assert 'class="me-bottom-line"' in html and 'class="me-cards"' in html
    assert "Traceback" not in html
    safe = ns["safe"]
    assert safe.data is None  # only protected results reached the page


def test_single_arm_gets_the_pre_post_version(designs):
    ns = designs["single_arm"]
    from mentor_eval.report import headline

    eff = headline.headline_effects(ns["safe"])
    assert set(eff["kind"]) == {"pre/post"}
    text = " ".join(headline.bottom_line(ns["safe"]))
    assert "no comparison group" in text
    # plain names ("Hope", "Belonging") as in the multi-arm bottom line, not the instruments' full labels
    assert ("Hope rose" in text or "Hope fell" in text) and "Adult Hope Scale" not in text
    for r in eff.itertuples(index=False):  # an interval across zero is called uncertain, a clear one sized
        name = "Hope" if "hope" in r.outcome else "Belonging"
        if r.g_ci_low > 0 or r.g_ci_high < 0:
            assert f"{r.improvement_index:+.0f} percentile points" in text.split(name, 1)[1].split(";")[0]
        else:
            assert "too uncertain to rule out no change" in text.split(name, 1)[1].split(";")[0]
    assert "Not eligible" in headline.wwc_rating(ns["safe"])[0]
    assert "How much participants changed" in ns["_html"]
    # the figure fills exactly the squares the bottom line calls clear
    assert eff["clear"].tolist() == [bool(lo > 0 or hi < 0) for lo, hi in zip(eff["g_ci_low"], eff["g_ci_high"],
                                                                               strict=True)]
    fig = headline.headline_figure(ns["safe"])
    filled = [t.marker.symbol[0] == "square" for t in fig.data]
    assert sorted(filled) == sorted(eff["clear"].tolist())


def test_headline_markers_follow_the_bottom_line(designs):
    from mentor_eval.report import headline

    safe = designs["two_arms"]["safe"]
    eff = headline.headline_effects(safe)
    expect = (eff["g_ci_low"] > 0) & (eff["p_adj"] < 0.05)
    assert eff["clear"].tolist() == expect.tolist()
    fig = headline.headline_figure(safe)
    by = {(t.name, t.xaxis): t.marker.symbol[0] for t in fig.data}
    axes = {o: ("x" if i == 0 else f"x{i + 1}") for i, o in enumerate(dict.fromkeys(eff["outcome_label"]))}
    for r in eff.itertuples(index=False):
        assert by[(r.arm_label, axes[r.outcome_label])] == ("square" if r.clear else "square-open")
    assert "filled square" in fig.layout.meta["caption"].lower()
    assert fig.layout.xaxis2.matches == "x"
    # a run without psychometrics says so on its card rather than dropping it
    assert {c["title"]: c["value"] for c in headline.glance_cards(safe)}["Reliability"].startswith("lowest alpha")
    skipped = {c["title"]: c for c in headline.glance_cards(designs["fifteen_arms"]["safe"])}
    assert skipped["Reliability"]["value"] == "not checked" and "skipped" in skipped["Reliability"]["detail"]


def test_fifteen_arms_headline_has_a_row_per_model(designs):
    from mentor_eval.report import headline

    safe = designs["fifteen_arms"]["safe"]
    fig = headline.headline_figure(safe)
    rows = set(fig.layout.yaxis.categoryarray)
    n_models = len(list_models()) - 1  # every mentored model; control is the reference
    assert n_models == 15 and len(rows) == n_models
    colours = {}
    for t in fig.data:
        colours.setdefault(t.name, set()).add(t.marker.color)
    assert all(len(c) == 1 for c in colours.values())
    assert len({next(iter(c)) for c in colours.values()}) == n_models  # fifteen distinct colours


def test_one_wave_is_a_baseline_report(designs):
    ns = designs["one_wave"]
    from mentor_eval.report import headline

    text = " ".join(headline.bottom_line(ns["safe"]))
    assert "baseline report" in text


def test_tables_are_exported_as_one_workbook(designs):
    import openpyxl

    from mentor_eval.report import export

    ns = designs["two_arms"]
    xlsx = Path(ns["output_dir"]) / "evaluation_report_tables" / "evaluation_report.xlsx"
    assert xlsx in ns["written"]
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    names = wb.sheetnames
    assert names[0] == "About"
    expected = list(export.report_tables(ns["safe"]))
    assert names[1:] == expected and "Effects vs control" in names and "Headline effects" in names
    assert "Model fit" in names and "ICC per level" in names and "Clustered vs unclustered SE" in names
    header = [c.value for c in next(wb["Model fit"].iter_rows(max_row=1))]
    assert {"Outcome", "Model", "n", "AIC", "BIC", "Singular fit"} <= set(header)
    header = [c.value for c in next(wb["Effects vs control"].iter_rows(max_row=1))]
    assert "Arm" in header and "Adjusted p" in header and "suppressed" not in header


def test_workbook_marks_suppressed_cells(tmp_path):
    import openpyxl
    import pandas as pd

    from mentor_eval.report.export import _sheet

    t = pd.DataFrame({"Arm": ["a", "b"], "n": pd.array([None, 12], dtype="Int64"), "suppressed": [True, False],
                      "n_suppressed": [True, False]})
    s = _sheet(t)
    assert s["n"].tolist() == ["suppressed", 12] and list(s.columns) == ["Arm", "n"]
    s.to_excel(tmp_path / "x.xlsx", index=False)
    ws = openpyxl.load_workbook(tmp_path / "x.xlsx").active
    assert [c.value for c in ws["B"]] == ["n", "suppressed", 12]


def test_researcher_tables(designs):
    from mentor_eval.report import tables

    safe = designs["fifteen_arms"]["safe"]
    methods = tables.contrast_methods_table(safe)
    assert len(methods) and set(methods.columns) >= {"Family", "Analysis", "Standard errors", "Multiplicity"}
    assert methods["Contrasts"].sum() >= len(safe.contrasts)
    icc = tables.icc_table(designs["two_arms"]["safe"])
    assert icc.empty or {"Outcome", "Level", "ICC"} <= set(icc.columns)
    # model fit: one row per outcome and model fitted, from the pipeline's model_fit table
    two = designs["two_arms"]["safe"]
    fit = tables.model_fit_table(two)
    assert len(fit) == len(two.model_fit) == len(set(two.contrasts["outcome"]))  # ANCOVA only (mixed=False)
    assert {"Outcome", "Model", "Method", "n", "Observations", "Clusters per level", "ICC per level", "logLik",
            "AIC", "BIC", "Singular fit"} <= set(fit.columns)
    assert set(fit["Model"]) == {"ANCOVA at the last wave"}
    assert fit["AIC"].notna().all() and fit["n"].notna().all()
    # the simulated study declares mentor clusters: the ANCOVA is the REML mixed model
    assert set(fit["Method"]) == {"REML mixed model; Satterthwaite df"}
    assert all("Mentor" in c for c in fit["Clusters per level"]), fit["Clusters per level"].tolist()
    se = tables.clustered_se_table(two)
    assert len(se) == len(two.contrasts)
    ratio = se["SE (clustered)"] / se["SE (unclustered)"]
    assert (se["Ratio"] - ratio).abs().max() < 1e-12 and (se["Ratio"] > 0.5).all()
    assert tables.clustered_se_table(designs["no_clusters"]["safe"]).empty
    # a single-arm study has no ANCOVA; its fit table is empty without the mixed model, never an error
    assert tables.model_fit_table(designs["single_arm"]["safe"]).empty


def test_rating_reason_counts_high_attrition_like_the_summary():
    from test_report_content import sample_results

    from mentor_eval.report import headline, narrative
    from mentor_eval.report.protect import protect

    safe = protect(sample_results())
    verdicts = safe.attrition["verdict"]
    n_high, n_all = int((verdicts == "high").sum()), int(verdicts.notna().sum())
    assert n_high > 0  # the sample has high attrition somewhere: the sentence is exercised
    _, why = headline.wwc_rating(safe)
    summary = " ".join(narrative.executive_summary(safe))
    assert f"for {n_high} of {n_all} comparisons" in summary
    assert ("every arm" in why) == (n_high == n_all) and "some arms" not in why
    assert why in " ".join(headline.bottom_line(safe))
