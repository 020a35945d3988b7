"""validate_study results, outputs and the `mentor-eval validate` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_validation_support import AHS_COLS, participants_csv, response_rows, rows_to_csv, write_study

from mentor_eval.cli import main
from mentor_eval.cli.validate import run_validate
from mentor_eval.study import load_study
from mentor_eval.validation import ISSUE_FRAME_COLUMNS, build_schemas, parse_dates, validate_study


def test_clean_study_types_and_counts(tmp_path):
    r = validate_study(load_study(write_study(tmp_path)))
    assert r.ok and r.quarantine.empty and r.failures.empty
    assert all(r.responses[c].dtype == "Int64" for c in AHS_COLS)
    assert r.responses["completed_at"].dtype == "datetime64[ns]"
    assert list(r.participants.columns[:2]) == ["participant_id", "arm"]
    assert r.counts[["rows_read", "clean", "quarantined"]].values.tolist() == [[6, 6, 0], [12, 12, 0]]
    assert tuple(r.failures.columns) == ISSUE_FRAME_COLUMNS == tuple(r.warnings.columns)


def test_values_survive_exactly(tmp_path):
    rows = response_rows()
    r = validate_study(load_study(write_study(tmp_path, responses=rows_to_csv(rows))))
    got = r.responses[AHS_COLS].astype(int).to_numpy()
    want = np.array([[int(row[c]) for c in AHS_COLS] for row in rows])
    assert (got == want).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nothing_lost_under_random_corruption(tmp_path, seed):
    rng = np.random.default_rng(seed)
    rows = response_rows(n=6)
    bad_values = ["9", "0", "x", "2.5", "-3", "", "Definitely true", "nope"]
    for _ in range(8):
        rows[rng.integers(len(rows))][AHS_COLS[rng.integers(12)]] = bad_values[rng.integers(len(bad_values))]
    rows.append(dict(rows[int(rng.integers(len(rows)))]))
    r = validate_study(load_study(write_study(tmp_path, responses=rows_to_csv(rows))))
    c = r.counts.set_index("table").loc["responses"]
    assert c["rows_read"] == len(rows) == c["clean"] + c["quarantined"]
    assert len(r.responses) == c["clean"]
    assert r.quarantine["_source_row"].is_unique


def test_quarantine_keeps_the_row_as_read(tmp_path):
    rows = response_rows()
    rows[0]["ahs_1"] = " 9 "
    r = validate_study(load_study(write_study(tmp_path, responses=rows_to_csv(rows))))
    q = r.quarantine.iloc[0]
    assert q["_source_file"] == "responses.csv" and q["_source_row"] == 2
    assert q["ahs_1"] == " 9 " and q["reasons"] == "item_in_range"
    assert "ahs_1: item_in_range" in q["details"]


def test_parse_dates_rules():
    d, failed, serial = parse_dates(pd.Series(["2024-03-05", "2024-03-05 14:30", "45356", "3/5/2024", None, "NA"],
                                              dtype="str"))
    assert failed.tolist() == [False, False, False, True, False, False]
    assert serial.tolist() == [False, False, True, False, False, False]
    assert pd.Timestamp(d[2]) == pd.Timestamp("2024-03-05") and pd.Timestamp(d[1]).hour == 14


def test_schemas_one_column_per_item(tmp_path):
    s = build_schemas(load_study(write_study(tmp_path)))
    assert set(AHS_COLS) <= set(s["responses"].columns)
    checks = {c.name for c in s["responses"].columns["ahs_1"].checks}
    assert checks == {"item_is_whole_number", "item_in_range"}


def test_cli_clean_exit_0_and_outputs(tmp_path, capsys):
    study = write_study(tmp_path / "s")
    out = tmp_path / "out"
    assert main(["validate", str(study), "--out", str(out)]) == 0
    for name in ("participants.csv", "responses.csv", "quarantine.csv", "validation.json"):
        assert (out / name).is_file()
    text = capsys.readouterr().out
    assert "rows read = clean + quarantined: 12 = 12 + 0" in text
    payload = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    assert payload["ok"] is True and payload["counts"][1]["rows_read"] == 12


def test_cli_quarantine_exit_1_and_summary(tmp_path, capsys):
    rows = response_rows()
    rows[0]["ahs_1"] = "9"
    study = write_study(tmp_path / "s", responses=rows_to_csv(rows))
    out = tmp_path / "out"
    assert run_validate(study, out) == 1
    text = capsys.readouterr().out
    assert "item_in_range" in text and "rows read = clean + quarantined: 12 = 11 + 1" in text
    q = pd.read_csv(out / "quarantine.csv")
    assert q["_source_row"].tolist() == [2]
    payload = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    assert payload["rule_counts"][0] == {"severity": "failure", "rule": "item_in_range", "n": 1}
    assert payload["failures"][0]["source_row"] == 2


def test_cli_strict_warnings_exit_1(tmp_path):
    rows = response_rows()
    for c in AHS_COLS:
        rows[0][c] = "5"
    study = write_study(tmp_path / "s", responses=rows_to_csv(rows))
    assert run_validate(study, tmp_path / "o1") == 0
    assert run_validate(study, tmp_path / "o2", strict=True) == 1


def test_cli_unusable_input_exit_2(tmp_path, capsys):
    study = write_study(tmp_path / "s", responses=b"")
    assert main(["validate", str(study), "--out", str(tmp_path / "o")]) == 2
    assert "responses.csv: is empty" in capsys.readouterr().err


def test_participants_file_one_row_each(tmp_path):
    r = validate_study(load_study(write_study(tmp_path, participants=participants_csv() + "p2,nw,s2,15\n")))
    assert "p2" not in set(r.participants["participant_id"])
    assert "p2" not in set(r.responses["participant_id"])
    assert set(r.quarantine.loc[r.quarantine["table"] == "responses", "reasons"]) == {"participant_quarantined"}


def test_exit_codes_through_the_command_line_entry(tmp_path, capsys):
    # main() is what the console script runs: its return value is the process exit status.
    clean = write_study(tmp_path / "clean")
    assert main(["validate", str(clean), "--out", str(tmp_path / "o_clean")]) == 0
    rows = response_rows()
    rows[0]["ahs_1"] = "9"  # outside 1-8: the row is quarantined
    bad = write_study(tmp_path / "bad", responses=rows_to_csv(rows))
    assert main(["validate", str(bad), "--out", str(tmp_path / "o_bad")]) == 1
    out = capsys.readouterr().out
    assert "item_in_range" in out


def test_debug_flag_shows_the_traceback(tmp_path):
    from mentor_eval.errors import StudyConfigError

    with pytest.raises(StudyConfigError):
        main(["--debug", "validate", str(tmp_path / "missing" / "study.yaml")])
