"""Readers: every format returns text cells with exact source rows; unusable files fail clearly."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import DataValidationError
from mentor_eval.io import read_file
from mentor_eval.io.layout import to_long
from mentor_eval.study import FileSpec


def test_csv_text_cells_and_rows(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("participant_id,wave,ahs_1\np1,baseline,3\np2,baseline,x\n", encoding="utf-8")
    raw = read_file(p)
    assert raw.data["ahs_1"].tolist() == ["3", "x"]
    assert raw.provenance["_source_row"].tolist() == [2, 3]
    assert raw.provenance["_source_file"].tolist() == ["a.csv", "a.csv"]
    assert raw.encoding == "utf-8" and raw.delimiter == ","


def test_blank_lines_and_quoted_newlines_keep_spreadsheet_rows(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('id,note\n"p1","two\nlines"\n\np2,x\n', encoding="utf-8")
    raw = read_file(p)
    assert raw.data["id"].tolist() == ["p1", "p2"]
    # record 2 is p1; the blank line is row 3 as a spreadsheet shows it; p2 is row 4
    assert raw.provenance["_source_row"].tolist() == [2, 4]


def test_semicolon_bom_and_tab_utf16(tmp_path):
    a = tmp_path / "a.csv"
    a.write_bytes("\ufeffid;age\np1;14\n".encode())
    r = read_file(a)
    assert list(r.data.columns) == ["id", "age"] and r.delimiter == ";" and r.encoding == "utf-8-sig"
    b = tmp_path / "b.csv"
    b.write_bytes("id\tname\np1\tJosé\n".encode("utf-16"))
    r = read_file(b)
    assert r.data["name"].tolist() == ["José"] and r.encoding == "utf-16" and r.delimiter == "\t"


def test_cp1252_detected_and_named(tmp_path):
    p = tmp_path / "w.csv"
    p.write_bytes("id,city\np1,Malmö – Süd\n".encode("cp1252"))
    r = read_file(p)
    assert r.data["city"].tolist() == ["Malmö – Süd"] and r.encoding == "cp1252"
    assert any("cp1252" in n for n in r.notes)
    r2 = read_file(FileSpec(path=p, encoding="cp1252"))
    assert r2.data["city"].tolist() == ["Malmö – Süd"]


def test_ragged_row_is_rejected_not_lost(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("a,b\n1,2\n3,4,5\n6,7\n", encoding="utf-8")
    r = read_file(p)
    assert r.data["a"].tolist() == ["1", "6"]
    assert r.provenance["_source_row"].tolist() == [2, 4]
    assert r.rejected["_source_row"].tolist() == [3]
    assert r.rejected["rule"].tolist() == ["row_has_wrong_number_of_cells"]
    assert r.n_rows == 3


def test_excel_sheet_dates_and_numbers(tmp_path):
    p = tmp_path / "x.xlsx"
    with pd.ExcelWriter(p) as xw:
        pd.DataFrame({"a": [1]}).to_excel(xw, sheet_name="other", index=False)
        pd.DataFrame({"participant_id": ["p1", "p2"], "ahs_1": [3, 2.5],
                      "completed_at": [dt.datetime(2024, 3, 5), 45356]}).to_excel(xw, sheet_name="resp", index=False)
    r = read_file(FileSpec(path=p, sheet="resp"))
    assert r.data["ahs_1"].tolist() == ["3", "2.5"]
    assert r.data["completed_at"].tolist() == ["2024-03-05", "45356"]
    assert r.provenance["_source_row"].tolist() == [2, 3]
    assert r.provenance["_sheet"].astype(str).tolist() == ["resp", "resp"]
    with pytest.raises(DataValidationError, match="no sheet named 'nope'.*other, resp"):
        read_file(FileSpec(path=p, sheet="nope"))


def test_sav_user_missing_codes_reported(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    df = pd.DataFrame({"participant_id": ["a", "b", "c"], "q1": [1.0, 99.0, 3.0], "q2": [2.0, -9.0, np.nan]})
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(df, str(p), missing_ranges={"q1": [99], "q2": [{"lo": -9, "hi": -1}]},
                         variable_value_labels={"q1": {1: "No", 3: "Yes"}})
    r = read_file(p)
    assert r.data["q1"].tolist()[0] == "1" and pd.isna(r.data["q1"].iloc[1])
    assert pd.isna(r.data["q2"].iloc[1])
    iss = r.issues
    assert sorted(iss["column"].tolist()) == ["q1", "q2"]
    assert set(iss["rule"]) == {"user_missing_code"}
    assert iss.set_index("column").loc["q1", "value"] == "99"
    assert iss.set_index("column").loc["q1", "source_row"] == 3
    assert r.metadata["value_labels"]["q1"] == {1.0: "No", 3.0: "Yes"}


def test_qualtrics_extra_rows_removed(tmp_path):
    p = tmp_path / "qx.csv"
    p.write_text(
        'StartDate,Duration (in seconds),participant_id,wave,ahs_1\n'
        '"Start Date","Duration","ID","Wave","I can think\nof ways"\n'
        '"{""ImportId"":""startDate""}","{""ImportId"":""duration""}","{""ImportId"":""pid""}",'
        '"{""ImportId"":""wave""}","{""ImportId"":""QID1_1""}"\n'
        '2024-01-01,300,p1,baseline,Mostly true\n', encoding="utf-8")
    r = read_file(FileSpec(path=p, format="qualtrics"))
    assert r.data["participant_id"].tolist() == ["p1"]
    assert "duration_seconds" in r.data.columns
    # physical lines: header 1, question text 2-3 (a line break inside), ImportId 4, data 5
    assert r.provenance["_source_row"].tolist() == [5]
    assert r.metadata["import_ids"]["ahs_1"] == "QID1_1"
    assert r.metadata["question_text"]["ahs_1"] == "I can think\nof ways"


def test_redcap_repeat_rows_set_aside_and_events_mapped(tmp_path):
    p = tmp_path / "rc.csv"
    p.write_text(
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,ahs_1,session_note\n"
        "1,baseline_arm_1,,,3,\n"
        "1,baseline_arm_1,session_log,1,,met\n"
        "1,baseline_arm_1,session_log,2,,met again\n"
        "1,post_arm_1,,,5,\n", encoding="utf-8")
    spec = FileSpec(path=p, format="redcap", wave_map={"baseline_arm_1": "baseline", "post_arm_1": "post"})
    raw = read_file(spec)
    assert raw.provenance["_source_row"].tolist() == [2, 5]
    assert raw.rejected["_source_row"].tolist() == [3, 4]
    assert raw.metadata["repeat_instruments"] == {"session_log": {"rows": 2, "max_instance": 2}}
    long = to_long(raw, spec, ["baseline", "post"])
    assert long.data["participant_id"].tolist() == ["1", "1"]
    assert long.data["wave"].tolist() == ["baseline", "post"]


def test_wide_layout_to_long(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("participant_id,t1_ahs_1,t1_completed_at,t2_ahs_1,t2_completed_at\n"
                 "p1,3,2024-01-01,4,2024-06-01\np2,2,2024-01-02,,\np3,,,,\n", encoding="utf-8")
    spec = FileSpec(path=p, layout="wide", wide_pattern="{wave}_{column}", wave_map={"t1": "baseline", "t2": "post"})
    long = to_long(read_file(spec), spec, ["baseline", "post"])
    assert long.data[["participant_id", "wave", "ahs_1"]].values.tolist() == [
        ["p1", "baseline", "3"], ["p1", "post", "4"], ["p2", "baseline", "2"]]
    assert long.provenance["_source_row"].tolist() == [2, 2, 3]
    assert long.rejected["rule"].tolist() == ["no_responses_in_any_wave"]
    assert long.rejected["_source_row"].tolist() == [4]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b"a,b,c\n", "header row but no data rows"),
        (b"\x00\x01\x02\x03garbage\x00", "binary data"),
        (b"PK\x03\x04rest", "Excel .xlsx workbook"),
        (b"a b c\n1 2 3\n", "single column"),
        ("id,x\np1,caf\xe9\n".encode("latin-1") + "p2,café\n".encode(), "mixes UTF-8 with another encoding"),
        (b"id,id\n1,2\n", "duplicate column names: id"),
    ],
)
def test_unusable_csv(tmp_path, content, match):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(DataValidationError, match=match) as info:
        read_file(p)
    assert "bad.csv" in str(info.value)


def test_missing_file_and_named_wrong_delimiter(tmp_path):
    with pytest.raises(DataValidationError, match="nope.csv: does not exist"):
        read_file(tmp_path / "nope.csv")
    p = tmp_path / "c.csv"
    p.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="single column.*looks comma-separated.*Set the delimiter to ','"):
        read_file(FileSpec(path=p, delimiter=";"))
