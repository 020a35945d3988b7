"""Variable labels from study.yaml (``labels:``) and how reports name variables."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from mentor_eval.errors import StudyConfigError
from mentor_eval.report.names import variable_label
from mentor_eval.resources import sample_study_dir
from mentor_eval.study import load_study

LABELS = """
labels:
  age: Age (years)
  gender: {label: Gender, levels: {nonbinary: Non-binary, female: Female}}
  sessions_attended: Sessions attended
"""


def _study(tmp_path, extra: str):
    src = sample_study_dir()
    text = (src / "study.yaml").read_text(encoding="utf-8") + extra
    (tmp_path / "study.yaml").write_text(text, encoding="utf-8")
    for name in ("participants.csv", "responses.csv"):
        shutil.copy(src / name, tmp_path / name)
    return load_study(tmp_path / "study.yaml")


def test_labels_key_is_read(tmp_path):
    st = _study(tmp_path, LABELS)
    assert st.labels == {"age": "Age (years)", "gender": "Gender", "gender=nonbinary": "Non-binary",
                         "gender=female": "Female", "sessions_attended": "Sessions attended"}
    res = SimpleNamespace(study=st)
    assert variable_label(res, "gender=nonbinary") == "Gender: Non-binary"
    assert variable_label(res, "gender=male") == "Gender: male"  # an unlabelled level keeps its name
    assert variable_label(res, "age") == "Age (years)"
    assert variable_label(res, "baseline_risk") == "Baseline risk"  # no label: made readable, never raw


def test_labels_without_the_key_fall_back_to_readable_names():
    st = load_study(None)
    assert st.labels == {}
    res = SimpleNamespace(study=st)
    assert variable_label(res, "sessions_attended") == "Sessions attended"
    assert variable_label(res, "gender=female") == "Gender: female"


@pytest.mark.parametrize("extra, message", [
    ("\nlabels:\n  shoe_size: Shoe size\n", "key 'labels.shoe_size': 'shoe_size' is not a covariate or dosage"),
    ("\nlabels:\n  gender: {label: Gender, colour: red}\n", "labels.gender"),
    ("\nlabels: [age]\n", "key 'labels': must be a mapping"),
])
def test_bad_labels_are_clear_errors(tmp_path, extra, message):
    with pytest.raises(StudyConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _study(tmp_path, extra)
