"""Configuration files are read safely: duplicate keys, alias bombs, encodings, paths outside the study."""

from __future__ import annotations

import time

import pytest
import yaml
from test_validation_support import study_yaml, write_study

from mentor_eval.cli import main
from mentor_eval.config import MAX_NODES, read_yaml
from mentor_eval.errors import DataValidationError, InstrumentDefinitionError, StudyConfigError
from mentor_eval.instruments import load_instrument
from mentor_eval.study import load_study
from mentor_eval.validation import validate_study

BOMB = """name: lol
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _study_text(tmp_path, **overrides) -> str:
    write_study(tmp_path)
    return yaml.safe_dump(study_yaml(**overrides), sort_keys=False, allow_unicode=True)


def test_duplicate_key_names_both_lines(tmp_path):
    text = _study_text(tmp_path) + "privacy:\n  min_cell: 10\n  min_cell: 3\n"
    (tmp_path / "study.yaml").write_text(text)
    n = len(text.splitlines())
    with pytest.raises(StudyConfigError) as exc:
        load_study(tmp_path / "study.yaml")
    msg = str(exc.value)
    assert f"line {n}: the key 'min_cell' is given twice" in msg and f"first on line {n - 1}" in msg


def test_duplicate_key_in_instrument_definition(tmp_path):
    src = load_instrument("childrens_hope_scale")
    from mentor_eval.resources import instruments_dir

    text = (instruments_dir() / "childrens_hope_scale.yaml").read_text()
    (tmp_path / "childrens_hope_scale.yaml").write_text(text + f"name: {src.name} again\n")
    with pytest.raises(InstrumentDefinitionError, match=r"the key 'name' is given twice.*first on line \d+"):
        load_instrument(tmp_path / "childrens_hope_scale.yaml")


def test_merge_keys_still_allowed(tmp_path):
    (tmp_path / "m.yaml").write_text("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert read_yaml(tmp_path / "m.yaml", error=StudyConfigError)["use"] == {"x": 1, "y": 3}


def test_billion_laughs_is_refused_fast(tmp_path):
    (tmp_path / "study.yaml").write_text(BOMB)
    t = time.perf_counter()
    with pytest.raises(StudyConfigError, match=f"expands to more than {MAX_NODES:,} values"):
        load_study(tmp_path / "study.yaml")
    assert time.perf_counter() - t < 0.5


def test_billion_laughs_through_the_cli(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text(BOMB)
    assert main(["validate", str(tmp_path / "study.yaml")]) == 2
    assert "billion laughs" in capsys.readouterr().err


def test_not_utf8_gives_line_and_fix(tmp_path):
    text = _study_text(tmp_path, description="Évaluation")
    (tmp_path / "study.yaml").write_bytes(text.encode("cp1252"))
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("description"))
    with pytest.raises(StudyConfigError, match=rf"line {line}, column \d+: the study file is not UTF-8 text.*"
                                                r"Windows-1252.*Save the file as UTF-8"):
        load_study(tmp_path / "study.yaml")


def test_utf16_study_file(tmp_path):
    text = _study_text(tmp_path)
    (tmp_path / "study.yaml").write_bytes(text.encode("utf-16"))
    with pytest.raises(StudyConfigError, match="saved as UTF-16; save it as UTF-8"):
        load_study(tmp_path / "study.yaml")


@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink"])
def test_data_path_outside_the_study_folder_is_refused(tmp_path, where):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "secret.csv"
    secret.write_text("SECRET-FIRST-LINE,x\n1,2\n")
    study_dir = tmp_path / "study"
    if where == "dotdot":
        target = "../elsewhere/secret.csv"
    elif where == "absolute":
        target = str(secret)
    else:
        study_dir.mkdir()
        (study_dir / "link.csv").symlink_to(secret)
        target = "link.csv"
    path = write_study(study_dir, participants=False,
                       files={"participants": target, "responses": "responses.csv"})
    with pytest.raises(StudyConfigError) as exc:
        load_study(path, check_files=False)
    msg = str(exc.value)
    assert "key 'files.participants'" in msg and "outside the study folder" in msg
    assert "--allow-outside-paths" in msg and "SECRET" not in msg
    # an explicit option lets a trusted study read it
    study = load_study(path, check_files=False, allow_outside_paths=True)
    assert study.files.participants.path == secret.resolve()


def test_cli_option_allows_outside_paths(tmp_path, capsys, monkeypatch):
    from mentor_eval.study import OUTSIDE_PATHS_ENV

    monkeypatch.setenv(OUTSIDE_PATHS_ENV, "0")  # restored after the test (the option sets it)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "p.csv").write_text("participant_id,arm,site_id,age\np1,ctrl,s1,15\n")
    path = write_study(tmp_path / "study", participants=False,
                       files={"participants": "../elsewhere/p.csv", "responses": "responses.csv"})
    out = tmp_path / "out"
    assert main(["validate", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "outside the study folder" in err and "SECRET" not in err
    assert main(["--allow-outside-paths", "validate", str(path), "-o", str(out)]) in (0, 1)


def test_instrument_dir_outside_is_refused(tmp_path):
    (tmp_path / "inst").mkdir()
    path = write_study(tmp_path / "study", instrument_dir="../inst")
    with pytest.raises(StudyConfigError, match="key 'instrument_dir': the instrument directory lies outside"):
        load_study(path)


def test_missing_data_file_names_its_key(tmp_path):
    path = write_study(tmp_path, participants=False)
    with pytest.raises(DataValidationError, match=r"participants.csv: does not exist \(key 'files.participants' "
                                                  r"of study.yaml names 'participants.csv'"):
        validate_study(load_study(path, check_files=False))


def test_recursive_alias_is_refused(tmp_path):
    (tmp_path / "study.yaml").write_text("name: x\nloop: &a [1, *a]\n")
    with pytest.raises(StudyConfigError, match="used inside its own anchor"):
        load_study(tmp_path / "study.yaml")
