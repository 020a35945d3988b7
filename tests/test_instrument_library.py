"""The shipped instrument library: every definition loads and carries the facts of the reference notes.

The expected values below are written out by hand from the project's instrument reference
notes (structure, keys, response scales, scoring method, citation, reliability), so a
definition that drifts from the published facts fails here.

Running this file as a script prints the library table of ``instruments/README.md``
(``python tests/test_instrument_library.py``); a test checks that the README holds it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from mentor_eval.instruments import CONSTRUCTS, Instrument, list_instruments, load_instrument
from mentor_eval.resources import instruments_dir

REPO = Path(__file__).resolve().parents[1]
README = REPO / "instruments" / "README.md"


def _ids(*numbers: int) -> list[str]:
    return [str(n) for n in numbers]


AHS_8 = ["Definitely false", "Mostly false", "Somewhat false", "Slightly false", "Slightly true",
         "Somewhat true", "Mostly true", "Definitely true"]
CHS_6 = ["None of the time", "A little of the time", "Some of the time", "A lot of the time",
         "Most of the time", "All of the time"]

# id -> facts. "scales": scale id -> (item ids, method, (lowest, highest) score on the default form).
# "forms": form name -> (min, max, published labels that must be recorded exactly at their codes, or
# None when none are published; every point carries a label either way).
EXPECTED: dict[str, dict] = {
    "adult_hope_scale": dict(
        construct="hope", n_items=12, fillers=_ids(3, 5, 7, 11), reverse=[],
        scales={"agency": (_ids(2, 9, 10, 12), "sum", (4, 32)),
                "pathways": (_ids(1, 4, 6, 8), "sum", (4, 32)),
                "total": (_ids(1, 2, 4, 6, 8, 9, 10, 12), "sum", (8, 64))},
        forms={"8-point": (1, 8, dict(enumerate(AHS_8, start=1))),
               # intermediate labels of the 4-point form are flagged UNCONFIRMED in its notes
               "4-point": (1, 4, {1: "Definitely false", 2: "Mostly false", 3: "Mostly true",
                                  4: "Definitely true"})},
        default_form="8-point", alpha={"8-point": 0.82, "4-point": 0.77},
        year=1991, doi="10.1037/0022-3514.60.4.570", age_range=None, first_author="Snyder",
    ),
    "state_hope_scale": dict(
        construct="hope", n_items=6, fillers=[], reverse=[],
        scales={"pathways": (_ids(1, 3, 5), "sum", (3, 24)),
                "agency": (_ids(2, 4, 6), "sum", (3, 24)),
                "total": (_ids(1, 2, 3, 4, 5, 6), "sum", (6, 48))},
        forms={"standard": (1, 8, dict(enumerate(AHS_8, start=1)))},
        default_form="standard", alpha={"standard": None},
        year=1996, doi="10.1037/0022-3514.70.2.321", age_range=None, first_author="Snyder",
    ),
    "childrens_hope_scale": dict(
        construct="hope", n_items=6, fillers=[], reverse=[],
        scales={"agency": (_ids(1, 3, 5), "sum", (3, 18)),
                "pathways": (_ids(2, 4, 6), "sum", (3, 18)),
                "total": (_ids(1, 2, 3, 4, 5, 6), "sum", (6, 36))},
        forms={"standard": (1, 6, dict(enumerate(CHS_6, start=1)))},
        default_form="standard", alpha={"standard": 0.72},
        year=1997, doi="10.1093/jpepsy/22.3.399", age_range=(8, 16), first_author="Snyder",
    ),
    "hopeful_future_expectations": dict(
        construct="hope", n_items=4, fillers=[], reverse=[],
        scales={"total": (_ids(1, 2, 3, 4), "mean", (1, 5))},
        forms={"standard": (1, 5, {1: "Very low", 2: "Low", 3: "About 50/50", 4: "High", 5: "Very high"})},
        default_form="standard", alpha={"standard": None},
        year=None, doi=None, age_range=(10, 18), first_author="4-H Study of Positive Youth Development",
    ),
    "pssm": dict(
        construct="belonging", n_items=18, fillers=[], reverse=_ids(3, 6, 9, 12, 16),
        scales={"total": (_ids(*range(1, 19)), "sum", (18, 90)),
                "mean": (_ids(*range(1, 19)), "mean", (1, 5))},
        forms={"standard": (1, 5, {1: "Not at all true", 5: "Completely true"})},
        default_form="standard", alpha={"standard": None},
        year=1993, doi=None, age_range=None, first_author="Goodenow",
    ),
    "general_belongingness_scale": dict(
        construct="belonging", n_items=12, fillers=[], reverse=_ids(3, 4, 6, 7, 9, 12),
        scales={"acceptance_inclusion": (_ids(1, 2, 5, 8, 10, 11), "mean", (1, 7)),
                "rejection_exclusion": (_ids(3, 4, 6, 7, 9, 12), "mean", (1, 7)),
                "total": (_ids(*range(1, 13)), "mean", (1, 7))},
        forms={"standard": (1, 7, {1: "Strongly disagree", 7: "Strongly agree"})},
        default_form="standard", alpha={"standard": 0.95},
        year=2012, doi=None, age_range=None, first_author="Malone",
    ),
    "sense_of_social_fit": dict(
        construct="belonging", n_items=17, fillers=[], reverse=_ids(2, 3, 5, 6, 13),
        scales={"total": (_ids(*range(1, 18)), "mean", (1, 5))},
        forms={"5-point": (1, 5, None), "7-point": (1, 7, None)},
        default_form="5-point", alpha={"5-point": None, "7-point": None},
        year=2007, doi="10.1037/0022-3514.92.1.82", age_range=None, first_author="Walton",
    ),
    "belonging_uncertainty": dict(
        construct="belonging", n_items=3, fillers=[], reverse=["3"],
        scales={"total": (_ids(1, 2, 3), "mean", (1, 7))},
        forms={"standard": (1, 7, None)},
        default_form="standard", alpha={"standard": None},
        year=2007, doi="10.1037/0022-3514.92.1.82", age_range=None, first_author="Walton",
    ),
    "sobi_p": dict(
        construct="belonging", n_items=18, fillers=[],
        reverse=[str(i) for i in range(1, 19) if i != 4],
        scales={"total": (_ids(*range(1, 19)), "sum", (18, 72))},
        forms={"standard": (1, 4, {1: "Strongly disagree", 4: "Strongly agree"})},
        default_form="standard", alpha={"standard": None},
        year=1995, doi=None, age_range=None, first_author="Hagerty",
    ),
    "hemingway_school_connectedness": dict(
        construct="belonging", n_items=6, fillers=[], reverse=["bored"],
        scales={"total": ([*_ids(1, 2, 3, 4, 5), "bored"], "mean", (1, 5))},
        forms={"standard": (1, 5, {1: "Not at all true", 5: "Very true"})},
        default_form="standard", alpha={"standard": None},
        year=None, doi=None, age_range=None, first_author="Karcher",
    ),
    "youth_strength_of_relationship": dict(
        construct="relationship_quality", n_items=10, fillers=[],
        reverse=[f"negative_{i}" for i in range(1, 5)],
        scales={"total": ([*(f"positive_{i}" for i in range(1, 7)), *(f"negative_{i}" for i in range(1, 5))],
                          "mean", (1, 5))},
        forms={"standard": (1, 5, {1: "Never true", 5: "Always true"})},
        default_form="standard", alpha={"standard": None},
        year=2014, doi=None, age_range=None, first_author="Rhodes",
    ),
    "youth_centered_relationship": dict(
        construct="relationship_quality", n_items=5, fillers=[], reverse=[],
        scales={"total": (_ids(1, 2, 3, 4, 5), "mean", (1, 4))},
        forms={"standard": (1, 4, {1: "Not true at all", 4: "Very true"})},
        default_form="standard", alpha={"standard": None},
        year=None, doi=None, age_range=None, first_author="National Mentoring Resource Center",
    ),
    "growth_goal_focus": dict(
        construct="relationship_quality", n_items=6, fillers=[], reverse=[],
        scales={"total": (_ids(1, 2, 3, 4, 5, 6), "mean", (1, 4))},
        forms={"standard": (1, 4, {1: "Very false", 4: "Very true"})},
        default_form="standard", alpha={"standard": None},
        year=2008, doi=None, age_range=None, first_author="DuBois",
    ),
    "mentoring_functions_questionnaire_9": dict(
        construct="relationship_quality", n_items=9, fillers=[], reverse=[],
        scales={"career_support": (_ids(1, 2, 3), "mean", (1, 5)),
                "psychosocial_support": (_ids(4, 5, 6), "mean", (1, 5)),
                "role_modelling": (_ids(7, 8, 9), "mean", (1, 5))},
        forms={"standard": (1, 5, None)},
        default_form="standard", alpha={"standard": None},
        year=2004, doi=None, age_range=None, first_author="Castro",
    ),
}

# id -> phrases that must each appear in a note (top-level or form note) that says UNCONFIRMED.
UNCONFIRMED_NOTES: dict[str, list[str]] = {
    "adult_hope_scale": ["licence", "Intermediate labels of the 4-point form"],
    "state_hope_scale": ["reliability"],
    "hopeful_future_expectations": ["source article"],
    "pssm": ["official", "intermediate labels"],
    "general_belongingness_scale": ["subscale mapping", "intermediate labels", "Licence"],
    "sense_of_social_fit": ["Reverse keys 2, 3, 5, 6, 13", "labels"],
    "belonging_uncertainty": ["labels", "Licence"],
    "sobi_p": ["SOBI-A", "positively worded", "sum"],
    "hemingway_school_connectedness": ["position", "intermediate labels"],
    "youth_strength_of_relationship": ["reverse", "scoring method"],
    "youth_centered_relationship": ["developers", "intermediate labels"],
    "growth_goal_focus": ["DuBois (2008)"],
    "mentoring_functions_questionnaire_9": ["item map", "answer points", "scoring method"],
}


def _definition_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(instruments_dir().glob("*.yaml"))}


def _all_notes(inst: Instrument) -> list[str]:
    return [*inst.notes, *(n for f in inst.forms.values() for n in f.notes)]


@pytest.fixture(scope="module")
def library() -> dict[str, Instrument]:
    return {inst.id: inst for inst in list_instruments()}


# ----------------------------------------------------------------------------- the library as a whole
def test_every_shipped_file_loads_and_its_id_matches_the_file_name():
    files = _definition_files()
    assert len(files) >= 12
    for stem, path in files.items():
        inst = load_instrument(path)
        assert inst.id == stem
        assert inst.source == path.name


def test_library_holds_every_expected_instrument(library):
    assert set(EXPECTED) <= set(library)
    assert len(library) >= 12
    assert set(library) == set(_definition_files())


def test_every_non_filler_item_is_scored_and_no_filler_is(library):
    for inst in library.values():
        scored = {i for s in inst.scales for i in s.item_ids}
        for item in inst.items:
            assert (item.id in scored) is (not item.filler), (inst.id, item.id)


def test_gists_are_present_and_mark_keying(library):
    for inst in library.values():
        for item in inst.items:
            assert item.gist.strip(), (inst.id, item.id)
            assert ("(reverse-keyed)" in item.gist) is item.reverse, (inst.id, item.id, item.gist)
            if item.filler:
                assert item.gist.startswith("Filler"), (inst.id, item.id)


def test_constructs_and_citations_are_complete(library):
    for inst in library.values():
        assert inst.construct in CONSTRUCTS
        assert inst.citation.authors and inst.citation.authors[0].strip()
        assert inst.licence.strip()


def test_min_answered_follows_the_project_rule(library):
    """At least 75% of a scale's items, rounded up (the documented project rule)."""
    for inst in library.values():
        for s in inst.scales:
            assert s.min_answered == math.ceil(0.75 * s.n_items), (inst.id, s.id)


def test_every_definition_states_the_missing_data_rule_is_the_projects(library):
    for inst in library.values():
        assert any("min_answered" in n and "project" in n for n in inst.notes), inst.id


def test_unconfirmed_licences_are_noted(library):
    for inst in library.values():
        if "UNCONFIRMED" in inst.licence:
            assert any("UNCONFIRMED" in n and "icence" in n for n in _all_notes(inst)), inst.id


# ----------------------------------------------------------------------------- facts per instrument
@pytest.mark.parametrize("iid", sorted(EXPECTED))
def test_structure_matches_the_reference(iid):
    exp = EXPECTED[iid]
    inst = load_instrument(iid)
    assert inst.construct == exp["construct"]
    assert len(inst.items) == exp["n_items"]
    assert [i.id for i in inst.items if i.filler] == exp["fillers"]
    assert list(inst.reverse_item_ids) == exp["reverse"]
    assert set(inst.scale_ids) == set(exp["scales"])
    for sid, (items, method, _) in exp["scales"].items():
        s = inst.scale(sid)
        assert sorted(s.item_ids) == sorted(items), sid
        assert s.method == method, sid
    # the subscale field of every item agrees with the scale that lists it
    for item in inst.items:
        if item.subscale is not None:
            assert item.id in inst.scale(item.subscale).item_ids


@pytest.mark.parametrize("iid", sorted(EXPECTED))
def test_response_scales_and_forms_match_the_reference(iid):
    exp = EXPECTED[iid]
    inst = load_instrument(iid)
    assert inst.form == exp["default_form"]
    assert list(inst.forms) == list(exp["forms"])
    for fname, (lo, hi, labels) in exp["forms"].items():
        f = inst.with_form(fname)
        rs = f.response_scale
        assert (rs.min, rs.max) == (lo, hi), fname
        # every point carries a label, so a fully labelled export maps (issue 12.4) ...
        assert sorted(rs.labels) == list(range(lo, hi + 1)), fname
        # ... and the published anchors are recorded exactly at their codes
        if labels is not None:
            assert {k: rs.labels[k] for k in labels} == labels, fname
        assert f.published_alpha == exp["alpha"][fname], fname


@pytest.mark.parametrize("iid", sorted(EXPECTED))
def test_score_ranges_match_the_reference(iid):
    inst = load_instrument(iid)
    for sid, (_, _, (lo, hi)) in EXPECTED[iid]["scales"].items():
        assert inst.scale_range(sid) == (lo, hi), sid


@pytest.mark.parametrize("iid", sorted(EXPECTED))
def test_citation_and_age_range_match_the_reference(iid):
    exp = EXPECTED[iid]
    inst = load_instrument(iid)
    assert inst.citation.year == exp["year"]
    assert inst.citation.doi == exp["doi"]
    assert inst.citation.authors[0].startswith(exp["first_author"])
    assert inst.age_range == exp["age_range"]


def test_ahs_four_point_form_keeps_its_end_labels():
    rs = load_instrument("adult_hope_scale", form="4-point").response_scale
    assert (rs.labels[1], rs.labels[4]) == ("Definitely false", "Definitely true")


def test_sense_of_social_fit_seven_point_form_widens_the_range():
    inst = load_instrument("sense_of_social_fit", form="7-point")
    assert inst.scale_range("total") == (1.0, 7.0)


def test_pssm_default_scale_is_the_total_and_the_mean_is_noted():
    inst = load_instrument("pssm")
    assert inst.scales[0].id == "total"
    assert any("'mean'" in n and "UNCONFIRMED" in n for n in inst.notes)


@pytest.mark.parametrize("iid", sorted(UNCONFIRMED_NOTES))
def test_unconfirmed_facts_are_flagged_in_notes(iid):
    notes = [n for n in _all_notes(load_instrument(iid)) if "UNCONFIRMED" in n]
    for phrase in UNCONFIRMED_NOTES[iid]:
        assert any(phrase.lower() in n.lower() for n in notes), (iid, phrase)


def test_reverse_keys_score_as_the_reference_says():
    """All answers at the top of the scale: reverse-keyed items count as the bottom."""
    from mentor_eval.scoring import score

    pssm = pd.DataFrame({str(i): [5] for i in range(1, 19)})
    out = score(pssm, "pssm")
    assert out.loc[0, "total"] == 13 * 5 + 5 * 1
    assert out.loc[0, "mean"] == pytest.approx((13 * 5 + 5 * 1) / 18)

    gbs = pd.DataFrame({str(i): [7] for i in range(1, 13)})
    out = score(gbs, "general_belongingness_scale")
    assert out.loc[0, "acceptance_inclusion"] == 7
    assert out.loc[0, "rejection_exclusion"] == 1
    assert out.loc[0, "total"] == 4


# ----------------------------------------------------------------------------- README table
def _points(inst: Instrument) -> str:
    if len(inst.forms) == 1:
        return str(inst.response_scale.n_points)
    parts = []
    for name, f in inst.forms.items():
        tag = f"{name}, default" if name == inst.form else name
        parts.append(f"{f.response_scale.n_points} ({tag})")
    return "; ".join(parts)


def library_table(instruments: list[Instrument] | None = None) -> str:
    """The Markdown table of the library, as it appears in ``instruments/README.md``."""
    rows = [
        "| id | name | construct | items | scales | points | licence |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for inst in instruments if instruments is not None else list_instruments():
        n_fill = sum(i.filler for i in inst.items)
        n_rev = len(inst.reverse_item_ids)
        items = str(len(inst.items))
        extra = [f"{n_fill} fillers"] if n_fill else []
        extra += [f"{n_rev} reversed"] if n_rev else []
        if extra:
            items += f" ({', '.join(extra)})"
        scales = ", ".join(f"{s.id} ({s.method})" for s in inst.scales)
        rows.append(f"| `{inst.id}` | {inst.name} | {inst.construct} | {items} | {scales} | "
                    f"{_points(inst)} | {inst.licence} |")
    return "\n".join(rows)


def test_readme_table_matches_the_definitions():
    text = README.read_text(encoding="utf-8")
    assert library_table() in text, (
        "instruments/README.md is out of date; regenerate its table with "
        "`python tests/test_instrument_library.py`."
    )


def test_readme_documents_every_accepted_key():
    from mentor_eval import instruments as mod

    text = README.read_text(encoding="utf-8")
    keys = mod._TOP_KEYS | mod._ITEM_KEYS | mod._SCALE_KEYS | mod._CITATION_KEYS | {"min", "max", "labels"}
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert not missing


def test_readme_example_definition_is_valid():
    import yaml

    from mentor_eval.instruments import parse_instrument

    text = README.read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    inst = parse_instrument(yaml.safe_load(block), source="README example")
    assert inst.id == "my_scale"
    assert inst.scale("total").item_ids == ("1", "2", "4")
    assert inst.reverse_item_ids == ("2",)


if __name__ == "__main__":
    print(library_table())
