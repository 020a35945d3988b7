"""Study configuration: loading study.yaml and the errors for every kind of mistake."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from mentor_eval.errors import StudyConfigError
from mentor_eval.resources import sample_study_dir
from mentor_eval.study import FileSpec, Study, load_study

STUDIES = Path(__file__).parent / "data" / "studies"


@pytest.fixture(scope="module")
def basic_raw() -> dict:
    return yaml.safe_load((STUDIES / "basic" / "study.yaml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, raw) -> Path:
    """Write a study.yaml (plus the data files of the basic study) into tmp_path."""
    for name in ("participants.csv", "responses.csv"):
        shutil.copy(STUDIES / "basic" / name, tmp_path / name)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- valid studies
def test_basic_study_loads_with_every_field():
    s = load_study(STUDIES / "basic" / "study.yaml")
    assert isinstance(s, Study)
    assert s.name == "Test Valley Mentoring Pilot" and s.design == "randomized"
    assert s.path == (STUDIES / "basic" / "study.yaml").resolve() and s.root == s.path.parent
    assert [a.key for a in s.arms] == ["ctrl", "nw", "sc"]
    assert s.arms[2].label == "Storytelling Circles"  # defaults to the model's name
    assert s.arms[2].model.format == "group"
    assert s.control_arm == "ctrl"
    assert s.wave_keys == ("baseline", "midpoint", "post") and s.baseline == "baseline" and s.final == "post"
    assert [w.week for w in s.waves] == [0, 12, 24]
    ahs = s.instrument("adult_hope_scale")
    assert ahs.form == "8-point" and ahs.instrument.response_scale.max == 8
    assert ahs.waves == s.wave_keys
    ysor = s.instrument("youth_strength_of_relationship")
    assert ysor.waves == ("midpoint", "post")  # reordered to wave order
    assert ysor.columns == "ysor_{item}"
    cols = s.item_columns()
    assert cols["adult_hope_scale"]["12"] == "ahs_12" and cols["general_belongingness_scale"]["3"] == "gbs_3"
    assert s.outcomes.primary == ("adult_hope_scale.total", "general_belongingness_scale.total")
    assert s.outcomes.secondary == ("adult_hope_scale.agency", "adult_hope_scale.pathways")
    si, scale = s.resolve_outcome("adult_hope_scale.agency")
    assert si is ahs and scale.item_ids == ("2", "9", "10", "12")
    assert s.covariates == ("age", "gender") and s.clusters == ("site_id", "mentor_id")
    assert s.dosage == ("sessions_attended",)
    assert [(h.id, h.arm, h.outcome, h.direction) for h in s.hypotheses] == [
        ("H1", "nw", "adult_hope_scale.pathways", "increase"),
        ("belonging_sc", "sc", "general_belongingness_scale.total", "increase"),
    ]
    assert s.privacy.min_cell == 10 and s.privacy.pseudonymize == ("participant_id",)
    assert s.privacy.allow_identifying == ()
    fs = s.files.responses
    assert isinstance(fs, FileSpec)
    assert fs.path == (STUDIES / "basic" / "responses.csv").resolve() and fs.path.is_absolute()
    assert (fs.format, fs.layout, fs.sheet, fs.encoding, fs.delimiter) == (None, "long", None, None, None)
    assert (fs.id_column, fs.wave_column, dict(fs.wave_map), fs.wide_pattern) == ("participant_id", "wave", {}, None)


def test_study_is_frozen():
    s = load_study(STUDIES / "basic")  # a directory holding study.yaml
    with pytest.raises(AttributeError):
        s.name = "x"  # type: ignore[misc]


def test_single_arm_study_with_a_custom_model():
    s = load_study(STUDIES / "custom_model" / "study.yaml")
    assert s.design == "single-arm" and s.control_arm is None
    assert [m.key for m in s.custom_models] == ["legacy_groups"]
    assert s.arms[0].model.custom and s.arms[0].model.format == "group"
    assert "legacy_groups" in [m.key for m in s.models()]
    assert s.instrument("adult_hope_scale").instrument.response_scale.max == 4  # 4-point form
    assert s.item_columns()["adult_hope_scale"]["1"] == "hope1"
    assert s.files.participants.path.name == "people.csv"
    assert s.baseline == "pre" and s.final == "post"


def test_file_specs_with_reader_options():
    s = load_study(STUDIES / "redcap_wide" / "study.yaml")
    p, r = s.files.participants, s.files.responses
    assert (p.format, p.delimiter, p.encoding, p.id_column) == ("csv", ";", "latin-1", "record_id")
    assert p.path.name == "participants.txt" and p.path.parent.name == "data"
    assert (r.format, r.wave_column, r.id_column) == ("redcap", "redcap_event_name", "record_id")
    assert dict(r.wave_map) == {"baseline_arm_1": "baseline", "followup_arm_1": "post"}
    assert s.design == "quasi-experimental" and s.control_arm == "comparison"


def test_wide_layout_and_check_files_false(tmp_path, basic_raw):
    raw = copy.deepcopy(basic_raw)
    raw["files"]["responses"] = {"path": "later/wide.xlsx", "layout": "wide", "sheet": "Data",
                                 "wide_pattern": "{wave}_{column}"}
    path = _write(tmp_path, raw)
    with pytest.raises(StudyConfigError, match="does not exist"):
        load_study(path)
    s = load_study(path, check_files=False)
    r = s.files.responses
    assert (r.layout, r.sheet, r.wide_pattern, r.format) == ("wide", "Data", "{wave}_{column}", None)


def test_resolve_outcome_errors():
    s = load_study(STUDIES / "basic")
    with pytest.raises(StudyConfigError, match="has no scale 'hope'; scales are: agency, pathways, total"):
        s.resolve_outcome("adult_hope_scale.hope")
    with pytest.raises(StudyConfigError, match="has no instrument 'pssm'"):
        s.resolve_outcome("pssm.total")
    with pytest.raises(StudyConfigError, match="instrument_id.scale_id"):
        s.resolve_outcome("total")


def test_the_bundled_sample_study_loads():
    s = load_study()
    assert s.path == (sample_study_dir() / "study.yaml").resolve()
    assert len(s.arms) == 6 and s.control_arm == "control"
    assert any(a.model.format == "group" for a in s.arms)
    assert s.wave_keys == ("baseline", "midpoint", "post")
    assert s.instrument_ids == ("adult_hope_scale", "general_belongingness_scale", "youth_strength_of_relationship")
    assert s.instrument("youth_strength_of_relationship").waves == ("midpoint", "post")
    assert s.outcomes.primary == ("adult_hope_scale.total", "general_belongingness_scale.total")
    assert set(s.outcomes.secondary) == {"adult_hope_scale.agency", "adult_hope_scale.pathways"}
    assert 2 <= len(s.hypotheses) <= 4
    assert s.clusters == ("site_id", "mentor_id") and s.privacy.min_cell == 10
    assert s.privacy.pseudonymize == ()  # synthetic ids: nothing to pseudonymise, no key needed
    assert s.files.participants.path.is_file() and s.files.responses.path.is_file()


# ---------------------------------------------------------------------- the error battery
def _set(raw: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    node = raw
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is _DELETE:
        if isinstance(node, list):
            del node[int(last)]
        else:
            del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


class _Delete:
    """Marker: remove the key (a stable repr keeps test ids equal across pytest-xdist workers)."""

    def __repr__(self) -> str:
        return "<delete>"


_DELETE = _Delete()

BATTERY = [
    # (what to change, new value, key path in the message, text in the message)
    ("arms.1.model", "narative_weaving", "arms[1].model",
     "unknown mentorship model 'narative_weaving'; allowed models: control, narrative_weaving"),
    ("arms.1.model", "narative_weaving", "arms[1].model", "dream_weaver"),
    ("instruments.0.id", "adult_hope", "instruments[0].id",
     "unknown instrument 'adult_hope'; known instruments:"),
    ("instruments.0.id", "adult_hope", "instruments[0].id", "general_belongingness_scale"),
    ("instruments.0.form", "5-point", "instruments[0].form",
     "instrument 'adult_hope_scale' has no form '5-point'; forms: 8-point, 4-point"),
    ("outcomes.primary.0", "adult_hope_scale.totl", "outcomes.primary[0]",
     "instrument 'adult_hope_scale' has no scale 'totl'; scales: agency, pathways, total"),
    ("outcomes.secondary.1", "pssm.total", "outcomes.secondary[1]",
     "instrument 'pssm' is not among the study's instruments"),
    ("outcomes.primary.1", "belonging", "outcomes.primary[1]", "must be written 'instrument_id.scale_id'"),
    ("outcomes.secondary.0", "adult_hope_scale.total", "outcomes.secondary[0]",
     "is already listed at outcomes.primary[0]"),
    ("outcomes.primary", [], "outcomes.primary", "must list at least one outcome"),
    ("arms.2.key", "nw", "arms[2].key", "duplicate arm key 'nw'"),
    ("arms.0.modle", "control", "arms[0].modle", "is not a known key; allowed keys: key, label, model"),
    ("waves.2.week", 10, "waves[2].week",
     "increasing week order; wave 'post' (week 10) does not come after 'midpoint' (week 12)"),
    ("waves.2.key", "midpoint", "waves[2].key", "duplicate wave key 'midpoint'"),
    ("waves.0.week", "zero", "waves[0].week", "must be a number; got text 'zero'"),
    ("waves.1.week", _DELETE, "waves[1].week", "is required"),
    ("files.responses", "data/missing.csv", "files.responses",
     "data file 'data/missing.csv' (relative to study.yaml) does not exist"),
    ("files.participants", {"path": "nowhere/p.csv", "format": "csv"}, "files.participants.path",
     "data file 'nowhere/p.csv' (relative to study.yaml) does not exist"),
    ("files.participants", {"format": "csv"}, "files.participants.path", "is required"),
    ("files.responses", _DELETE, "files.responses", "is required"),
    ("files.responses", {"path": "responses.csv", "format": "sas"}, "files.responses.format",
     "must be one of csv, xlsx, sav, qualtrics, redcap; got 'sas'"),
    ("files.responses", {"path": "responses.csv", "layout": "tall"}, "files.responses.layout",
     "must be one of long, wide; got 'tall'"),
    ("files.responses", {"path": "responses.csv", "sheet": "S1"}, "files.responses.sheet",
     "applies only to Excel files"),
    ("files.responses", {"path": "responses.csv", "wide_pattern": "{wave}_{column}"},
     "files.responses.wide_pattern", "applies only with layout: wide"),
    ("files.responses", {"path": "responses.csv", "layout": "wide", "wide_pattern": "{column}"},
     "files.responses.wide_pattern", "must contain both '{wave}' and '{column}'"),
    ("files.responses", {"path": "responses.csv", "wave_map": {"T1": "baseline", "T3": "followup"}},
     "files.responses.wave_map.T3", "maps to 'followup', which is not a study wave; waves: baseline, midpoint, post"),
    ("files.responses", {"path": "responses.csv", "delimiter": ";;"}, "files.responses.delimiter",
     "must be a single character"),
    ("files.responses", {"path": "responses.csv", "encoding": "klingon-8"}, "files.responses.encoding",
     "unknown text encoding 'klingon-8'"),
    ("files.responses", {"path": "responses.csv", "columns": "x"}, "files.responses.columns",
     "is not a known key; allowed keys: path, format, layout"),
    ("hypotheses.0.arm", "xx", "hypotheses[0].arm", "unknown arm 'xx'; arms: ctrl, nw, sc"),
    ("hypotheses.0.arm", "ctrl", "hypotheses[0].arm", "is the control arm"),
    ("hypotheses.0.outcome", "adult_hope_scale.hope", "hypotheses[0].outcome",
     "unknown outcome 'adult_hope_scale.hope'; a hypothesis must test one of the study's outcomes: "
     "adult_hope_scale.total, general_belongingness_scale.total"),
    ("hypotheses.0.direction", "up", "hypotheses[0].direction", "must be one of increase, decrease; got 'up'"),
    ("hypotheses.1.id", "H1", "hypotheses[1].id", "duplicate hypothesis id 'H1'"),
    ("arms", [{"key": "nw", "model": "narrative_weaving"}], "arms",
     "a randomized design compares arms and needs at least two"),
    ("arms.0.model", "reverse_shadowing", "arms",
     "a randomized design needs a comparison arm with model 'control'"),
    ("arms.1.model", "control", "arms[1].model", "only one arm may use model 'control'"),
    ("design", "single-arm", "design", "'single-arm' needs exactly one arm; 3 are listed"),
    ("design", "rct", "design", "must be one of randomized, quasi-experimental, single-arm; got 'rct'"),
    ("clusters", ["site id"], "clusters[0]", "must be a column name"),
    ("clusters", ["site_id", "site_id"], "clusters[1]", "column 'site_id' is listed twice"),
    ("clusters", ["arm"], "clusters[0]", "'arm' is a reserved column"),
    ("clusters", ["site_id", "age"], "clusters[1]", "'age' is also listed as a covariate"),
    ("clusters", "site_id mentor_id", "clusters[0]", "must be a column name"),
    ("covariates", ["age", "ahs_1"], "covariates[1]", "'ahs_1' is an item column"),
    ("covariates", {"age": 1}, "covariates", "must be a list; got a mapping"),
    ("privacy.min_cell", 0, "privacy.min_cell", "must be a whole number >= 1 (10 is common); got 0"),
    ("privacy.min_cell", "ten", "privacy.min_cell", "must be a whole number >= 1; got text 'ten'"),
    ("privacy.min_cell", 2.5, "privacy.min_cell", "must be a whole number >= 1"),
    ("privacy.k_anonymity", 5, "privacy.k_anonymity", "is not a known key"),
    ("arm", [], "arm", "is not a known key; allowed keys: name, description, design, arms"),
    ("arms", "ctrl", "arms", "must be a list; got text"),
    ("arms.0", "ctrl", "arms[0]", "must be a mapping (key: value pairs); got text"),
    ("arms.0.key", "1st", "arms[0].key", "must start with a letter"),
    ("name", _DELETE, "name", "is required"),
    ("name", 42, "name", "must be text; got a whole number 42"),
    ("instruments.2.waves", ["post", "followup"], "instruments[2].waves[1]",
     "unknown wave 'followup'; waves: baseline, midpoint, post"),
    ("instruments.1.columns", "ahs_{item}", "instruments[1].columns",
     "column 'ahs_1' is also an item column of 'adult_hope_scale'"),
    ("instruments.1.columns", "gbs_", "instruments[1].columns", "must contain '{item}'"),
    ("instruments.1.id", "adult_hope_scale", "instruments[1].id", "instrument 'adult_hope_scale' is listed twice"),
    ("instruments", [], "instruments", "must list at least one instrument"),
    ("models", [{"key": "pods", "name": "Pods", "format": "triad", "description": "a", "belonging_mechanism": "b",
                 "hope_mechanism": "c", "targets": ["hope"]}], "models[0].format",
     "must be one of dyad, group, community; got 'triad'"),
]


@pytest.mark.parametrize(("dotted", "value", "key_path", "text"), BATTERY,
                         ids=[f"{b[0]}={b[1]!r}"[:60] for b in BATTERY])
def test_config_errors_name_the_key_path_and_what_is_allowed(tmp_path, basic_raw, dotted, value, key_path, text):
    raw = copy.deepcopy(basic_raw)
    _set(raw, dotted, value)
    path = _write(tmp_path, raw)
    with pytest.raises(StudyConfigError) as err:
        load_study(path)
    msg = str(err.value)
    assert msg.startswith("study.yaml: "), msg
    assert f"key '{key_path}'" in msg, msg
    assert text in msg, msg


def test_custom_model_usable_by_an_arm(tmp_path, basic_raw):
    raw = copy.deepcopy(basic_raw)
    raw["models"] = [{"key": "pods", "name": "Peer pods", "format": "group",
                      "description": "Four mentees meet weekly. A near-peer leads.",
                      "belonging_mechanism": "A small home base.", "hope_mechanism": "Practising plans.",
                      "targets": ["belonging"]}]
    raw["arms"][2]["model"] = "pods"
    s = load_study(_write(tmp_path, raw))
    assert s.arm("sc").model.key == "pods" and s.arm("sc").model.custom


def test_unknown_model_message_includes_custom_models(tmp_path, basic_raw):
    raw = copy.deepcopy(basic_raw)
    raw["models"] = [{"key": "pods", "name": "Peer pods", "format": "group", "description": "x. y.",
                      "belonging_mechanism": "a", "hope_mechanism": "b", "targets": ["belonging"]}]
    raw["arms"][2]["model"] = "pod"
    with pytest.raises(StudyConfigError, match=r"unknown mentorship model 'pod'; allowed models: .*dream_weaver, pods"):
        load_study(_write(tmp_path, raw))


def test_file_level_errors(tmp_path):
    with pytest.raises(StudyConfigError, match="does not exist"):
        load_study(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(StudyConfigError, match="empty.yaml: the file is empty"):
        load_study(empty)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\narms: [unclosed\n", encoding="utf-8")
    with pytest.raises(StudyConfigError, match=r"bad.yaml: line \d+, column \d+: not valid YAML"):
        load_study(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(StudyConfigError, match="list.yaml: must be a mapping"):
        load_study(listy)


def test_privacy_key_file_resolves_against_the_study(tmp_path, basic_raw):
    raw = copy.deepcopy(basic_raw)
    raw["privacy"]["key_file"] = "../secrets/pseudonym.key"
    s = load_study(_write(tmp_path, raw))
    assert s.privacy.key_file == (tmp_path.parent / "secrets" / "pseudonym.key").resolve()
    assert load_study(STUDIES / "basic").privacy.key_file is None


def test_missing_instrument_dir_is_reported(tmp_path, basic_raw):
    raw = copy.deepcopy(basic_raw)
    raw["instrument_dir"] = "my_instruments"
    with pytest.raises(StudyConfigError, match="key 'instrument_dir': directory 'my_instruments'"):
        load_study(_write(tmp_path, raw))


def test_user_instrument_dir_is_searched(tmp_path, basic_raw):
    src = Path(__file__).parents[1] / "instruments" / "adult_hope_scale.yaml"
    if not src.is_file():  # installed package layout
        pytest.skip("instrument sources not beside the tests")
    (tmp_path / "defs").mkdir()
    text = src.read_text(encoding="utf-8").replace("id: adult_hope_scale", "id: my_hope")
    (tmp_path / "defs" / "my_hope.yaml").write_text(text, encoding="utf-8")
    raw = copy.deepcopy(basic_raw)
    raw["instrument_dir"] = "defs"
    raw["instruments"].append({"id": "my_hope", "columns": "mh_{item}"})
    s = load_study(_write(tmp_path, raw))
    assert s.instrument("my_hope").instrument.id == "my_hope"
