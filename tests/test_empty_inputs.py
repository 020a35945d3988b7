"""Empty and degenerate inputs: every step says in plain words what cannot be computed, the rest runs."""

from __future__ import annotations

import pandas as pd
import pytest
from test_validation_support import participants_csv, response_rows, rows_to_csv, write_study

from mentor_eval.cli import main
from mentor_eval.instruments import load_instrument
from mentor_eval.pipeline import RESULT_COLUMNS, run_study
from mentor_eval.psychometrics import scale_reliability

CUSTOM = """
id: my_scale
name: My scale
construct: other
citation: {authors: [Me], year: 2020}
licence: own
response_scale: {min: 1, max: 5}
items:
- {id: '1', gist: one}
- {id: '2', gist: two}
- {id: '3', gist: three}
scales:
- {id: total, items: ['1', '2', '3'], method: mean, min_answered: 2}
"""


def _notes(res) -> pd.DataFrame:
    return res.notes


def _well_formed(res) -> None:
    for name, cols in RESULT_COLUMNS.items():
        table = getattr(res, name)
        assert set(cols) <= set(table.columns), name


def test_scale_reliability_of_no_rows_has_its_columns():
    inst = load_instrument("adult_hope_scale", form="8-point")
    empty = pd.DataFrame(columns=["participant_id", "wave", *inst.column_names("ahs_{item}").values()])
    out = scale_reliability(empty, inst, "ahs_{item}", by=("wave",))
    assert len(out) == 0
    assert {"wave", "instrument", "scale", "alpha", "below_threshold"} <= set(out.columns)


def test_every_row_quarantined(tmp_path):
    rows = response_rows()
    for r in rows:
        r["ahs_1"] = "xx"
    res = run_study(write_study(tmp_path, responses=rows_to_csv(rows)), mixed=False)
    n = _notes(res)
    rel = n[n["step"] == "reliability"]["reason"].iloc[0]
    assert "no clean response rows at all" in rel and "quarantine" in rel
    out = n[n["step"] == "outcome analyses"]
    assert list(out["target"]) == ["adult_hope_scale.total"]
    assert "no clean scores" in out["reason"].iloc[0]
    _well_formed(res)


def test_only_baseline_wave_yet(tmp_path):
    res = run_study(write_study(tmp_path, responses=rows_to_csv(response_rows(waves=("baseline",)))), mixed=False)
    assert len(res.reliability) and set(res.reliability["wave"]) == {"baseline"}
    _well_formed(res)


def test_single_arm_design_baseline_equivalence_note(tmp_path):
    res = run_study(write_study(tmp_path, design="single-arm",
                                arms=[{"key": "nw", "label": "NW", "model": "narrative_weaving"}],
                                participants=participants_csv().replace(",ctrl,", ",nw,")), mixed=False)
    n = _notes(res)
    reason = n[n["step"] == "baseline equivalence"]["reason"].iloc[0]
    assert "compares arms" in reason and "1 arm(s)" in reason and "single-arm" in reason
    assert list(res.baseline.columns[:3]) == ["variable", "arm", "reference"] and len(res.baseline) == 0
    assert len(res.prepost)  # the rest runs
    _well_formed(res)


def test_negative_sample_alpha_without_published_reliability(tmp_path):
    (tmp_path / "inst").mkdir(parents=True)
    (tmp_path / "inst" / "my_scale.yaml").write_text(CUSTOM)
    lines = ["participant_id,wave,my_1,my_2,my_3"]
    for i in range(6):
        for w, wave in enumerate(("baseline", "post")):
            a = 1 + (i + w) % 5
            lines.append(f"p{i + 1},{wave},{a},{6 - a},{a}")  # item 2 runs against 1 and 3
    res = run_study(write_study(tmp_path, instruments=[{"id": "my_scale", "columns": "my_{item}"}],
                                outcomes={"primary": ["my_scale.total"]}, instrument_dir="inst",
                                responses="\n".join(lines) + "\n"), mixed=False)
    n = _notes(res)
    reasons = " ".join(n[n["step"] == "reliable change"]["reason"])
    assert "outside 0-1" in reasons and "published_reliability" in reasons
    assert len(res.reliable_change) == 0 and "arm" in res.reliable_change.columns


def test_cli_never_shows_a_traceback_for_a_bug(tmp_path, monkeypatch, capsys):
    import mentor_eval.validation as v

    def boom(*a, **k):
        raise KeyError("alpha")

    monkeypatch.setattr(v, "validate_study", boom)
    path = write_study(tmp_path)
    assert main(["validate", str(path), "-o", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and "KeyError" in err and "--debug" in err
    with pytest.raises(KeyError):
        main(["--debug", "validate", str(path), "-o", str(tmp_path / "out")])


def test_report_renders_when_every_row_is_quarantined(tmp_path):
    # the item-distribution cell used to fail with "No item distributions for instrument ..."
    rows = response_rows()
    for r in rows:
        r["ahs_1"] = "xx"
    study = write_study(tmp_path / "study", responses=rows_to_csv(rows))
    out = tmp_path / "report"
    assert main(["report", str(study), "--out", str(out)]) == 0
    page = (out / "evaluation_report.html").read_text(encoding="utf-8")
    assert "no effect could be estimated" in page
    assert "No answers to show yet" in page
    # no baseline comparison could be made, so equivalence is not claimed
    assert "groups were equivalent at baseline" not in page
    assert "Cannot be rated from these data" in page
