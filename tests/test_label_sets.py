"""Full label sets: a fully labelled export maps (every point, common variants); a typo names the
closest known label."""

from __future__ import annotations

import numpy as np
import pytest
from test_validation_support import write_study

from mentor_eval.instruments import list_instruments, load_instrument
from mentor_eval.labels import map_labels
from mentor_eval.study import load_study
from mentor_eval.validation import validate_study

GBS = load_instrument("general_belongingness_scale")
COLS = [f"gbs_{i}" for i in GBS.item_ids]


def _study(tmp_path, cells):
    lines = ["participant_id,wave," + ",".join(COLS)]
    for i in range(6):
        for w in ("baseline", "post"):
            lines.append(f"p{i + 1},{w}," + ",".join(cells(i, w, j) for j in range(len(COLS))))
    path = write_study(tmp_path, instruments=[{"id": "general_belongingness_scale", "columns": "gbs_{item}"}],
                       outcomes={"primary": ["general_belongingness_scale.total"]},
                       responses="\n".join(lines) + "\n")
    result = validate_study(load_study(path))
    c = result.counts
    assert (c["rows_read"] == c["clean"] + c["quarantined"]).all()
    return result


def test_every_library_scale_labels_every_point():
    for inst in list_instruments():
        for form in inst.forms:
            rs = inst.with_form(form).response_scale
            assert sorted(rs.labels) == list(range(rs.min, rs.max + 1)), (inst.id, form)


def test_fully_labelled_seven_point_export_maps(tmp_path):
    labels = GBS.response_scale.labels
    r = _study(tmp_path, lambda i, w, j: labels[1 + (i + j) % 7])
    assert len(r.quarantine) == 0
    expected = [1 + (0 + j) % 7 for j in range(len(COLS))]
    got = r.responses[r.responses["participant_id"] == "p1"].iloc[0][COLS].astype(int).tolist()
    assert got == expected


@pytest.mark.parametrize(("text", "code"), [
    ("Neutral", 4), ("neither agree or disagree", 4), ("Slightly agree", 5), ("Mildly disagree", 3),
    ("  STRONGLY   agree ", 7), ("Agree", 6), ("Moderately disagree", 2),
])
def test_common_variants_of_the_anchors_map(text, code):
    import pandas as pd

    m = map_labels(pd.Series([text], dtype="str"), GBS)
    assert not m.failed[0] and m.codes[0] == code


def test_unknown_label_names_the_closest_known_one(tmp_path):
    labels = GBS.response_scale.labels
    r = _study(tmp_path, lambda i, w, j: "Somewhat agre" if (i, w, j) == (2, "post", 3) else labels[1 + j % 7])
    f = r.failures[r.failures["rule"] != "participant_quarantined"]
    assert len(f) == 1 and f["value"].iloc[0] == "Somewhat agre" and int(f["source_row"].iloc[0]) == 7
    assert "closest known label: 'Somewhat agree' (code 5)" in f["message"].iloc[0]


def test_aliases_are_checked_in_definitions(tmp_path):
    from mentor_eval.errors import InstrumentDefinitionError
    from mentor_eval.resources import instruments_dir

    text = (instruments_dir() / "sobi_p.yaml").read_text()
    bad = text.replace("    3: [Somewhat agree, Mostly agree, Agree somewhat]",
                       "    3: [Somewhat agree, Mostly agree, Disagree]")
    assert bad != text
    (tmp_path / "sobi_p.yaml").write_text(bad)
    with pytest.raises(InstrumentDefinitionError, match=r"aliases.3\[2\]': label 'Disagree' is also used for code 2"):
        load_instrument(tmp_path / "sobi_p.yaml")


def test_codes_still_read_as_numbers():
    import pandas as pd

    m = map_labels(pd.Series(["4", "7", None], dtype="str"), GBS)
    assert m.codes[:2].tolist() == [4.0, 7.0] and np.isnan(m.codes[2])
