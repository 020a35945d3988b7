"""Broken instrument definitions are refused with a message naming the file, the field and the problem.

Every case starts from one small valid definition (``BASE``) and changes one thing, so a
failure can only come from that change. The message must name the file, the field path and
the problem, because that is what a user reads to fix the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mentor_eval.errors import InstrumentDefinitionError, MentorEvalError
from mentor_eval.instruments import list_instruments, load_instrument, parse_instrument

BASE = """\
id: demo
name: Demo scale
construct: belonging
citation:
  authors: ["Doe, J."]
  year: 2020
licence: free for testing
response_scale:
  min: 1
  max: 5
  labels: {1: Never, 5: Always}
items:
  - {id: "1", gist: "first", subscale: a}
  - {id: "2", gist: "second (reverse-keyed)", reverse: true, subscale: a}
  - {id: "3", gist: "third", subscale: b}
  - {id: "4", gist: "fourth", subscale: b}
  - {id: "5", gist: "Filler: weather", filler: true}
scales:
  - {id: a, items: ["1", "2"], method: mean, min_answered: 1}
  - {id: b, items: ["3", "4"], method: mean, min_answered: 1}
  - {id: total, subscales: [a, b], method: sum, min_answered: 3}
"""

FORMS = """\
forms:
  long:
    response_scale: {min: 1, max: 7}
  short:
    response_scale: {min: 1, max: 4}
default_form: long
"""

RESPONSE_SCALE = """\
response_scale:
  min: 1
  max: 5
  labels: {1: Never, 5: Always}
"""


def variant(old: str, new: str, text: str = BASE) -> str:
    """``text`` with ``old`` replaced by ``new``; ``old`` must occur exactly once."""
    assert text.count(old) == 1, f"test setup: {old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def write(directory: Path, text: str, name: str = "demo") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(InstrumentDefinitionError) as info:
        load_instrument(path)
    return str(info.value)


def test_base_definition_is_valid(tmp_path):
    inst = load_instrument(write(tmp_path, BASE))
    assert inst.id == "demo"
    assert inst.scale("total").item_ids == ("1", "2", "3", "4")
    assert inst.reverse_item_ids == ("2",)


# (case id, changed definition, field path, problem text)
CASES = [
    ("unknown item in a scale",
     variant('items: ["1", "2"]', 'items: ["1", "99"]'),
     "scales[0].items[1]", "unknown item '99'; items are: 1, 2, 3, 4, 5"),
    ("reverse item without a response scale",
     variant(RESPONSE_SCALE, ""),
     "items[1].reverse", "reverse-keyed but the instrument has no response_scale"),
    ("no response scale at all",
     variant(RESPONSE_SCALE, "").replace(", reverse: true", ""),
     "response_scale", "is required"),
    ("min greater than max",
     variant("  min: 1\n  max: 5", "  min: 5\n  max: 1"),
     "response_scale.min", "min (5) must be smaller than max (1)"),
    ("min equal to max",
     variant("  min: 1\n  max: 5", "  min: 3\n  max: 3"),
     "response_scale.min", "min (3) must be smaller than max (3)"),
    ("response scale code not a whole number",
     variant("  min: 1\n", "  min: 1.5\n"),
     "response_scale.min", "must be a whole number; got a number 1.5"),
    ("response scale without max",
     variant("  max: 5\n", ""),
     "response_scale", "needs both 'min' and 'max'"),
    ("duplicate item ids",
     variant('{id: "2", gist: "second', '{id: "1", gist: "second'),
     "items[1].id", "duplicate item id '1'"),
    ("duplicate scale ids",
     variant("{id: b, items", "{id: a, items"),
     "scales[1].id", "duplicate scale id 'a'"),
    ("unknown construct",
     variant("construct: belonging", "construct: happiness"),
     "construct", "must be one of hope, belonging, relationship_quality, other; got 'happiness'"),
    ("unknown top-level key",
     variant("licence: free for testing\n", "licence: free for testing\ncolour: blue\n"),
     "colour", "is not a known field; allowed fields:"),
    ("unknown item key",
     variant('gist: "third",', 'gist: "third", reversed: true,'),
     "items[2].reversed", "is not a known field; allowed fields: filler, gist, id, reverse, subscale. Did you mean 'reverse'?"),
    ("unknown scale key",
     variant("method: mean, min_answered: 1}\n  - {id: b",
             "method: mean, minimum: 1}\n  - {id: b"),
     "scales[0].minimum", "is not a known field"),
    ("unknown citation key",
     variant("  year: 2020\n", "  year: 2020\n  publisher: ACME\n"),
     "citation.publisher", "is not a known field"),
    ("filler in a scale",
     variant('items: ["3", "4"]', 'items: ["3", "4", "5"]'),
     "scales[1].items[2]", "item '5' is a filler and cannot be scored"),
    ("reverse filler",
     variant("filler: true}", "filler: true, reverse: true}"),
     "items[4].reverse", "item '5' is a filler; a filler cannot be reverse-keyed"),
    ("scale including itself via subscales",
     variant("subscales: [a, b]", "subscales: [a, b, total]"),
     "scales[2].subscales", "scale 'total' includes itself through total"),
    ("two scales including each other",
     variant("{id: a, items: [\"1\", \"2\"],", "{id: a, items: [\"1\", \"2\"], subscales: [total],"),
     "scales[0].subscales", "scale 'a' includes itself through a -> total"),
    ("scale counting an item twice (listed twice)",
     variant('items: ["1", "2"]', 'items: ["1", "2", "1"]'),
     "scales[0]", "scale 'a' counts item(s) 1 more than once"),
    ("scale counting an item twice (through a subscale)",
     variant("subscales: [a, b], method: sum", 'items: ["1"], subscales: [a, b], method: sum'),
     "scales[2]", "scale 'total' counts item(s) 1 more than once"),
    ("subscale naming no scale",
     variant("subscales: [a, b]", "subscales: [a, c]"),
     "scales[2].subscales[1]", "unknown scale 'c'; scales are: a, b, total"),
    ("scale with neither items nor subscales",
     variant('{id: b, items: ["3", "4"], method: mean', "{id: b, method: mean"),
     "scales[1]", "lists neither 'items' nor 'subscales'"),
    ("unknown scale method",
     variant("method: sum", "method: median"),
     "scales[2].method", "must be one of sum, mean; got 'median'"),
    ("min_answered zero",
     variant("method: sum, min_answered: 3", "method: sum, min_answered: 0"),
     "scales[2].min_answered", "must be between 1 and the scale's 4 items; got 0"),
    ("min_answered above the item count",
     variant("method: sum, min_answered: 3", "method: sum, min_answered: 5"),
     "scales[2].min_answered", "must be between 1 and the scale's 4 items; got 5"),
    ("unscored non-filler item",
     variant('items: ["3", "4"]', 'items: ["3"]').replace(", subscale: b}", "}"),
     "scales", "item(s) 4 are in no scale; mark them 'filler: true' or add them to a scale"),
    ("item naming a subscale that does not list it",
     variant('{id: "3", gist: "third", subscale: b}', '{id: "3", gist: "third", subscale: a}'),
     "items[2].subscale", "item '3' says it belongs to 'a', but that scale does not list it"),
    ("item naming a subscale that does not exist",
     variant('{id: "3", gist: "third", subscale: b}', '{id: "3", gist: "third", subscale: z}'),
     "items[2].subscale", "names subscale 'z', which is not among the scales"),
    ("label code outside the range",
     variant("labels: {1: Never, 5: Always}", "labels: {1: Never, 9: Always}"),
     "response_scale.labels.9", "code 9 is outside the response scale 1-5"),
    ("label code not a whole number",
     variant("labels: {1: Never, 5: Always}", "labels: {1: Never, x: Always}"),
     "response_scale.labels.x", "label keys must be whole-number codes"),
    ("duplicate labels",
     variant("labels: {1: Never, 5: Always}", "labels: {1: Never, 3: Sometimes, 5: never}"),
     "response_scale.labels.5", "label 'never' is also used for code 1"),
    ("unquoted YAML boolean as a label",
     variant("labels: {1: Never, 5: Always}", "labels: {1: No, 5: Always}"),
     "response_scale.labels.1", "must be text; got true/false False"),
    ("default_form naming no form",
     variant(RESPONSE_SCALE, variant("default_form: long", "default_form: medium", FORMS)),
     "default_form", "names no form; forms are: long, short"),
    ("forms and response_scale both given",
     variant(RESPONSE_SCALE, RESPONSE_SCALE + FORMS),
     "response_scale", "give either 'response_scale' or 'forms', not both"),
    ("form without a response scale",
     variant(RESPONSE_SCALE, variant("    response_scale: {min: 1, max: 4}\n", "    notes: [x]\n", FORMS)),
     "forms.short.response_scale", "is required for every form"),
    ("reliability out of range",
     variant("licence: free for testing\n", "licence: free for testing\npublished_reliability: 1.2\n"),
     "published_reliability", "must be a reliability between 0 and 1; got 1.2"),
    ("reliability mapping out of range",
     variant("licence: free for testing\n",
             "licence: free for testing\npublished_reliability: {alpha: -0.3}\n"),
     "published_reliability.alpha", "must be a reliability between 0 and 1; got -0.3"),
    ("age range reversed",
     variant("licence: free for testing\n", "licence: free for testing\nage_range: [16, 8]\n"),
     "age_range", "youngest (16) is older than oldest (8)"),
    ("age range of one value",
     variant("licence: free for testing\n", "licence: free for testing\nage_range: [8]\n"),
     "age_range", "must be [youngest, oldest]"),
    ("missing citation",
     variant('citation:\n  authors: ["Doe, J."]\n  year: 2020\n', ""),
     "citation", "is required"),
    ("citation without authors",
     variant('authors: ["Doe, J."]', "authors: []"),
     "citation.authors", "must name at least one author"),
    ("citation year not a number",
     variant("year: 2020", "year: twenty"),
     "citation.year", "must be a whole number; got text 'twenty'"),
    ("missing licence",
     variant("licence: free for testing\n", ""),
     "licence", "is required"),
    ("missing name",
     variant("name: Demo scale\n", ""),
     "name", "is required"),
    ("empty gist",
     variant('gist: "third"', 'gist: "  "'),
     "items[2].gist", "must not be empty"),
    ("missing gist",
     variant('gist: "third", ', ""),
     "items[2].gist", "is required"),
    ("reverse not true or false",
     variant("reverse: true", "reverse: maybe"),
     "items[1].reverse", "must be true or false; got text 'maybe'"),
    ("no items",
     variant(BASE[BASE.index("items:\n"):BASE.index("scales:")], "items: []\n"),
     "items", "must list at least one item"),
    ("no scales",
     variant(BASE[BASE.index("scales:"):], "scales: []\n"),
     "scales", "must define at least one scored scale"),
    ("items not a list",
     variant(BASE[BASE.index("items:\n"):BASE.index("scales:")], "items: first, second\n"),
     "items", "must be a list; got text"),
    ("id with capitals",
     variant("id: demo", "id: Demo"),
     "id", "must be lower-case letters, digits and underscores, starting with a letter; got 'Demo'"),
]


@pytest.mark.parametrize(("text", "field", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_definition_is_refused_with_file_field_and_problem(tmp_path, text, field, problem):
    message = refused(write(tmp_path, text))
    assert message.startswith("demo.yaml:"), message
    assert f"field '{field}" in message, message
    assert problem in message, message


def test_the_battery_is_large_enough():
    assert len(CASES) >= 20


def test_error_is_a_mentor_eval_error(tmp_path):
    """The CLI prints MentorEvalError messages without a traceback; this error must be one."""
    with pytest.raises(MentorEvalError):
        load_instrument(write(tmp_path, variant("construct: belonging", "construct: joy")))


def test_id_not_matching_the_file_name(tmp_path):
    message = refused(write(tmp_path, BASE, name="other_name"))
    assert message.startswith("other_name.yaml:")
    assert "field 'id'" in message
    assert "the id 'demo' must match the file name ('other_name')" in message


def test_invalid_yaml_names_the_line(tmp_path):
    text = variant('  - {id: "3", gist: "third", subscale: b}', '  - {id: "3", gist: "third", subscale: b')
    line = text.splitlines().index('  - {id: "3", gist: "third", subscale: b') + 1
    message = refused(write(tmp_path, text))
    assert message.startswith("demo.yaml:")
    assert "not valid YAML" in message
    # the parser reports the line where it noticed the unclosed bracket: the broken one or the next
    assert any(f"line {n}, column" in message for n in (line, line + 1)), message


def test_a_definition_that_is_not_a_mapping(tmp_path):
    message = refused(write(tmp_path, "- just\n- a list\n"))
    assert message.startswith("demo.yaml:")
    assert "must be a mapping" in message


def test_parse_instrument_names_the_given_source():
    with pytest.raises(InstrumentDefinitionError, match=r"^inline: field 'construct': must be one of"):
        parse_instrument({"id": "x", "name": "X", "construct": "mood"}, source="inline")


def test_missing_file_path(tmp_path):
    with pytest.raises(InstrumentDefinitionError, match="does not exist"):
        load_instrument(tmp_path / "nowhere.yaml")


def test_unknown_form_lists_the_forms():
    with pytest.raises(InstrumentDefinitionError,
                       match=r"Instrument 'adult_hope_scale' has no form '5-point'; allowed: '8-point', '4-point'"):
        load_instrument("adult_hope_scale", form="5-point")


# ----------------------------------------------------------------------------- looking up by id
def test_unknown_instrument_id_lists_the_known_ids(tmp_path):
    write(tmp_path, BASE)
    with pytest.raises(InstrumentDefinitionError) as info:
        load_instrument("adult_hope_scael", directory=tmp_path)
    message = str(info.value)
    assert "Unknown instrument 'adult_hope_scael'" in message
    for known in ("adult_hope_scale", "pssm", "general_belongingness_scale", "demo"):
        assert known in message


def test_loading_from_a_user_directory(tmp_path):
    user = tmp_path / "my_instruments"
    user.mkdir()
    write(user, BASE)
    inst = load_instrument("demo", directory=user)
    assert inst.id == "demo" and inst.source == "demo.yaml"
    # also as text, and through a list of directories
    assert load_instrument("demo", directory=str(user)).id == "demo"
    other = tmp_path / "other"
    other.mkdir()
    assert load_instrument("demo", directory=[other, user]).id == "demo"
    ids = [i.id for i in list_instruments(directory=user)]
    assert "demo" in ids and "adult_hope_scale" in ids
    # not found without the directory
    with pytest.raises(InstrumentDefinitionError, match="Unknown instrument 'demo'"):
        load_instrument("demo")


def test_a_user_directory_overrides_a_bundled_id(tmp_path):
    local = variant("id: demo", "id: pssm")
    local = variant("name: Demo scale", "name: PSSM, local adaptation", local)
    write(tmp_path, local, name="pssm")
    mine = load_instrument("pssm", directory=tmp_path)
    assert mine.name == "PSSM, local adaptation"
    assert len(mine.items) == 5
    listed = {i.id: i for i in list_instruments(directory=tmp_path)}
    assert listed["pssm"].name == "PSSM, local adaptation"
    # the bundled definition is untouched when no directory is given
    assert len(load_instrument("pssm").items) == 18


def test_a_missing_user_directory_is_reported(tmp_path):
    with pytest.raises(InstrumentDefinitionError, match="does not exist"):
        load_instrument("adult_hope_scale", directory=tmp_path / "missing")


def test_a_broken_file_in_a_user_directory_is_reported_when_loaded(tmp_path):
    write(tmp_path, variant("method: sum", "method: total"))
    with pytest.raises(InstrumentDefinitionError, match=r"^demo\.yaml: field 'scales\[2\]\.method'"):
        load_instrument("demo", directory=tmp_path)


def test_an_edited_file_is_reloaded(tmp_path):
    """Definitions are cached by file and modification time; an edit must not be hidden by the cache."""
    import os

    path = write(tmp_path, BASE)
    assert load_instrument(path).name == "Demo scale"
    path.write_text(variant("name: Demo scale", "name: Demo scale, revised"), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert load_instrument(path).name == "Demo scale, revised"
