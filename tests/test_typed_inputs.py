"""Type checks that match what the study declares: numeric covariates, number formats, unfinished
Qualtrics responses, Excel formulas without values and values in unnamed columns."""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd
import pytest
from test_validation_support import AHS_COLS, participants_csv, response_rows, write_study

from mentor_eval.errors import StudyConfigError
from mentor_eval.study import load_study
from mentor_eval.validation import validate_study


def run(tmp_path, **kw):
    result = validate_study(load_study(write_study(tmp_path, **kw), check_files=False))
    c = result.counts
    assert (c["rows_read"] == c["clean"] + c["quarantined"]).all()
    return result


def failures(result, rule):
    f = result.failures[result.failures["rule"] == rule]
    return list(zip(f["source_row"].astype(int), f["column"], f["value"], strict=True)), f


def _ages(values):
    lines = ["participant_id,arm,site_id,age"] + [
        f"p{i + 1},{'ctrl' if i % 2 == 0 else 'nw'},s1,{v}" for i, v in enumerate(values)]
    return "\n".join(lines) + "\n"


def test_numeric_covariate_with_unknown_is_a_finding_per_cell(tmp_path):
    # 2 of 6 (a third) "unknown": still a numeric covariate, each text cell a finding
    r = run(tmp_path, participants=_ages([16, "unknown", 17, 15, "unknown", 14]))
    cells, f = failures(r, "not_a_number")
    assert cells == [(3, "age", "unknown"), (6, "age", "unknown")]
    assert "missing_codes" in f["message"].iloc[0]
    assert r.participants["age"].dtype == np.float64  # never turned into categories


def test_declared_missing_code_reads_as_missing(tmp_path):
    r = run(tmp_path, participants=_ages([16, "Unknown", 17, 15, "unknown", 14]), missing_codes=["unknown"])
    assert failures(r, "not_a_number")[0] == []
    ages = r.participants.set_index("participant_id")["age"]
    assert np.isnan(ages["p2"]) and ages["p1"] == 16 and ages["p3"] == 17


def _semicolon_ages(values):
    lines = ["participant_id;arm;site_id;age"] + [
        f"p{i + 1};{'ctrl' if i % 2 == 0 else 'nw'};s1;{v}" for i, v in enumerate(values)]
    return "\n".join(lines) + "\n"


def test_decimal_comma_is_detected_and_suggested(tmp_path):
    files = {"participants": {"path": "participants.csv", "delimiter": ";"}, "responses": "responses.csv"}
    r = run(tmp_path, participants=_semicolon_ages(["16,5", "17,25", "15,5", "14,75", "16,5", "18,5"]),
            files=files)
    cells, f = failures(r, "not_a_number")
    assert cells[0] == (2, "age", "16,5") and len(cells) == 6
    assert "decimal comma" in f["message"].iloc[0] and "files.participants.decimal: ','" in f["message"].iloc[0]


def test_decimal_option_reads_decimal_commas(tmp_path):
    files = {"participants": {"path": "participants.csv", "delimiter": ";", "decimal": ",", "thousands": "."},
             "responses": "responses.csv"}
    r = run(tmp_path, participants=_semicolon_ages(["16,5", "17,25", "1.015,5", "14,75", "16,5", "18,5"]),
            files=files)
    assert failures(r, "not_a_number")[0] == []
    assert r.participants["age"].tolist() == [16.5, 17.25, 1015.5, 14.75, 16.5, 18.5]


@pytest.mark.parametrize(("key", "value", "match"), [
    ("decimal", ";", "decimal': must be '.' or ','"),
    ("thousands", ",", "thousands': must differ from the decimal mark"),
    ("thousands", "ab", "thousands': must be one grouping character"),
    ("unfinished", "drop", "unfinished': must be one of exclude, keep"),
])
def test_locale_and_unfinished_options_are_checked(tmp_path, key, value, match):
    extra = {"decimal": ","} if key == "thousands" and value == "," else {}
    files = {"participants": {"path": "participants.csv", key: value, **({} if key == "decimal" else extra)},
             "responses": "responses.csv"}
    if key == "thousands" and value == ",":
        files["participants"]["decimal"] = ","
    with pytest.raises(StudyConfigError, match=match):
        load_study(write_study(tmp_path, files=files))


QUALTRICS_HEAD = (
    "StartDate,Finished,Progress,participant_id,wave," + ",".join(AHS_COLS) + "\n"
    + "Start Date,Finished,Progress,ID,Wave," + ",".join(f'"Item {i}"' for i in range(1, 13)) + "\n"
    + ",".join([f'"{{""ImportId"":""x{i}""}}"' for i in range(17)]) + "\n"
)


def _qualtrics(tmp_path, unfinished=None):
    rows = response_rows(waves=("baseline",))
    status = [("True", "100"), ("False", "40"), ("True", "100"), ("True", "95"), ("True", "100"), ("1", "100")]
    lines = [f"2024-01-0{i + 1},{fin},{prog},{r['participant_id']},baseline," + ",".join(r[c] for c in AHS_COLS)
             for i, (r, (fin, prog)) in enumerate(zip(rows, status, strict=True))]
    spec = {"path": "qx.csv", "format": "qualtrics", **({"unfinished": unfinished} if unfinished else {})}
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "qx.csv").write_text(QUALTRICS_HEAD + "\n".join(lines) + "\n", encoding="utf-8")
    return run(tmp_path, responses=False, files={"participants": "participants.csv", "responses": spec})


def test_unfinished_qualtrics_responses_are_flagged_and_excluded(tmp_path):
    r = _qualtrics(tmp_path)
    w = r.warnings[r.warnings["rule"] == "unfinished_response"]
    assert sorted(w["source_row"].astype(int)) == [5, 7]  # rows 4.. hold respondents 1..
    assert "left out of the analysis" in w["message"].iloc[0] and "unfinished: keep" in w["message"].iloc[0]
    resp = r.responses.set_index("participant_id")
    assert resp.loc["p2", AHS_COLS].isna().all() and resp.loc["p4", AHS_COLS].isna().all()
    assert resp.loc["p1", AHS_COLS].notna().all()
    assert len(r.responses) == 6  # still in the data: counted as assessed in the flow


def test_unfinished_kept_by_option(tmp_path):
    r = _qualtrics(tmp_path, unfinished="keep")
    w = r.warnings[r.warnings["rule"] == "unfinished_response"]
    assert len(w) == 2 and "analysed" in w["message"].iloc[0]
    assert r.responses.set_index("participant_id").loc["p2", AHS_COLS].notna().all()


def _workbook(path, frame, extra=None):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "data"
    ws.append(list(frame.columns))
    for rec in frame.itertuples(index=False):
        ws.append(list(rec))
    if extra:
        for (row, col), value in extra.items():
            ws.cell(row=row, column=col, value=value)
    wb.save(path)


def test_excel_formula_without_cached_value_is_a_finding(tmp_path):
    frame = pd.DataFrame(response_rows())
    for c in AHS_COLS:
        frame[c] = frame[c].astype(int)
    tmp_path.mkdir(exist_ok=True)
    col = list(frame.columns).index("ahs_3") + 1
    # openpyxl writes formulas without computed values, as scripts that build workbooks do
    _workbook(tmp_path / "resp.xlsx", frame, {(4, col): "=B2+1"})
    r = run(tmp_path, responses=False, files={"participants": "participants.csv", "responses": "resp.xlsx"})
    w = r.warnings[r.warnings["rule"] == "formula_without_value"]
    assert list(zip(w["source_row"].astype(int), w["column"], w["value"], strict=True)) == [(4, "ahs_3", "=B2+1")]
    assert "open it in Excel and save it" in w["message"].iloc[0]
    f = r.failures[r.failures["column"] == "ahs_3"]
    assert list(f["source_row"].astype(int)) == [4] and f["value"].iloc[0] == "=B2+1"  # quarantined, not missing


def test_excel_value_in_unnamed_column_is_a_finding(tmp_path):
    frame = pd.DataFrame(response_rows())
    tmp_path.mkdir(exist_ok=True)
    _workbook(tmp_path / "resp.xlsx", frame, {(3, len(frame.columns) + 2): "note: moved"})
    r = run(tmp_path, responses=False, files={"participants": "participants.csv", "responses": "resp.xlsx"})
    w = r.warnings[r.warnings["rule"] == "value_in_unnamed_column"]
    assert list(w["source_row"].astype(int)) == [3] and w["value"].iloc[0] == "note: moved"
    assert "unnamed column" in w["column"].iloc[0]


def test_participants_helper_is_unchanged():
    assert participants_csv().startswith("participant_id,arm,site_id,age")
