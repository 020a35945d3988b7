"""A battery of malformed inputs: each reports the exact rule, and rows read = clean + quarantined."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_validation_support import AHS_COLS, participants_csv, response_rows, rows_to_csv, write_study

from mentor_eval.errors import DataValidationError
from mentor_eval.study import load_study
from mentor_eval.validation import validate_study


def run(tmp_path, **kw):
    result = validate_study(load_study(write_study(tmp_path, **kw), check_files=False))
    c = result.counts
    assert (c["rows_read"] == c["clean"] + c["quarantined"]).all()
    return result


def rules_at(result, rule):
    """(file, source_row, column, value) of each failure with this rule."""
    f = result.failures[result.failures["rule"] == rule]
    return [(r.file, None if pd.isna(r.source_row) else int(r.source_row), None if pd.isna(r.column) else r.column,
             None if pd.isna(r.value) else r.value) for r in f.itertuples()]


def warned(result, rule):
    return result.warnings[result.warnings["rule"] == rule]


def rows_with(edit):
    rows = response_rows()
    edit(rows)
    return rows_to_csv(rows)


def counts(result, table):
    c = result.counts.set_index("table").loc[table]
    return int(c["rows_read"]), int(c["clean"]), int(c["quarantined"])


# ------------------------------------------------------------------ unusable files (exit 2 in the CLI)
@pytest.mark.parametrize(
    ("responses", "match"),
    [
        (b"", "responses.csv: is empty"),
        (b"participant_id,wave,ahs_1\n", "responses.csv: has a header row but no data rows"),
        (b"\x00\x01\xff\xfe\x00garbage\x00\x00", "responses.csv: contains binary data"),
        ("participant_id,wave\np1,baseline,caf\xe9\n".encode("latin-1") + "p2,post,café\n".encode(),
         "responses.csv: mixes UTF-8 with another encoding"),
        (b"participant_id wave ahs_1\np1 baseline 3\n", "responses.csv: has a single column"),
    ],
)
def test_unusable_responses(tmp_path, responses, match):
    with pytest.raises(DataValidationError, match=match):
        run(tmp_path, responses=responses)


def test_wrong_named_delimiter(tmp_path):
    files = {"participants": "participants.csv", "responses": {"path": "responses.csv", "delimiter": ";"}}
    with pytest.raises(DataValidationError, match="single column.*Set the delimiter to ','"):
        run(tmp_path, files=files)


def test_missing_participants_file(tmp_path):
    with pytest.raises(DataValidationError, match="participants.csv: does not exist"):
        run(tmp_path, participants=False)


def test_renamed_id_column(tmp_path):
    text = participants_csv().replace("participant_id,", "participant,", 1)
    with pytest.raises(DataValidationError, match="no participant id column 'participant_id'.*did you mean"):
        run(tmp_path, participants=text)


def test_missing_wave_column(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "wave"} for r in response_rows()]
    with pytest.raises(DataValidationError, match="no wave column 'wave'"):
        run(tmp_path, responses=rows_to_csv(rows))


def test_participants_without_arm(tmp_path):
    text = participants_csv().replace(",arm,", ",group,", 1)
    with pytest.raises(DataValidationError, match="has no 'arm' column"):
        run(tmp_path, participants=text)


# ------------------------------------------------------------------ encodings and delimiters (clean)
def test_bom_file_is_clean(tmp_path):
    r = run(tmp_path, responses=b"\xef\xbb\xbf" + rows_to_csv(response_rows()).encode())
    assert r.ok and counts(r, "responses") == (12, 12, 0)


def test_utf16_file_is_clean(tmp_path):
    r = run(tmp_path, responses=rows_to_csv(response_rows(), sep="\t").encode("utf-16"))
    assert r.ok and any("UTF-16" in n for n in r.notes)


def test_cp1252_accents(tmp_path):
    text = participants_csv(extra={"gender": ["Fémale", "Mâle", "Fémale", "Mâle", "Fémale", "Mâle"]})
    r = run(tmp_path, participants=text.encode("cp1252"), covariates=["age", "gender"])
    assert r.ok and r.participants["gender"].tolist()[0] == "Fémale"
    assert any("cp1252" in n for n in r.notes)


def test_semicolon_detected(tmp_path):
    r = run(tmp_path, responses=rows_to_csv(response_rows(), sep=";"))
    assert r.ok and any("semicolon" in n for n in r.notes)


def test_ragged_row(tmp_path):
    text = rows_to_csv(response_rows()) + "p1,post,extra,1,2,3\n"
    r = run(tmp_path, responses=text)
    assert rules_at(r, "row_has_wrong_number_of_cells")[0][1] == 14
    assert counts(r, "responses") == (13, 12, 1)


# ------------------------------------------------------------------ item values
def test_text_in_numeric_item(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[2].update(ahs_4="abc")))
    assert rules_at(r, "item_is_number") == [("responses.csv", 4, "ahs_4", "abc")]
    assert counts(r, "responses") == (12, 11, 1)


def test_out_of_range_code(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[0].update(ahs_1="9")))
    assert rules_at(r, "item_in_range") == [("responses.csv", 2, "ahs_1", "9")]
    assert "between 1 and 8" in r.failures["message"].iloc[0]


def test_zero_based_scale(tmp_path):
    def edit(rows):
        for row in rows:
            for c in AHS_COLS:
                row[c] = str(int(row[c]) - 1)
    r = run(tmp_path, responses=rows_with(edit))
    assert len(warned(r, "looks_zero_based")) == 1
    assert {x[2] for x in rules_at(r, "item_in_range")} <= set(AHS_COLS)
    assert all(x[3] == "0" for x in rules_at(r, "item_in_range"))


def test_non_integer_code(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[1].update(ahs_2="2.5")))
    assert rules_at(r, "item_is_whole_number") == [("responses.csv", 3, "ahs_2", "2.5")]


def test_negative_code(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[3].update(ahs_6="-1")))
    assert rules_at(r, "item_in_range") == [("responses.csv", 5, "ahs_6", "-1")]


def test_99_missing_code_is_failure_with_hint(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[3].update(ahs_6="99")))
    assert rules_at(r, "item_in_range") == [("responses.csv", 5, "ahs_6", "99")]
    assert "99" in warned(r, "user_missing_code")["message"].iloc[0]


def test_several_failures_in_one_row_all_reported(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[0].update(ahs_1="9", ahs_2="x", wave="week9")))
    q = r.quarantine.set_index("_source_row").loc[2]
    assert set(q["reasons"].split("; ")) == {"item_in_range", "item_is_number", "unknown_wave"}
    assert counts(r, "responses") == (12, 11, 1)


# ------------------------------------------------------------------ keys
def test_exact_duplicate_row(tmp_path):
    rows = response_rows()
    rows.append(dict(rows[0]))
    r = run(tmp_path, responses=rows_to_csv(rows))
    assert rules_at(r, "duplicate_row") == [("responses.csv", 14, "participant_id", "p1")]
    assert counts(r, "responses") == (13, 12, 1)


def test_duplicate_participant_wave(tmp_path):
    rows = response_rows()
    rows.append({**rows[0], "ahs_3": "1" if rows[0]["ahs_3"] != "1" else "2"})
    r = run(tmp_path, responses=rows_to_csv(rows))
    assert sorted(x[1] for x in rules_at(r, "duplicate_participant_wave")) == [2, 14]
    assert counts(r, "responses") == (13, 11, 2)


def test_participant_in_two_arms(tmp_path):
    r = run(tmp_path, participants=participants_csv() + "p1,nw,s1,14\n")
    assert sorted(x[1] for x in rules_at(r, "participant_in_two_arms")) == [2, 8]
    # their responses follow them to the quarantine
    assert len(rules_at(r, "participant_quarantined")) == 2
    assert counts(r, "participants") == (7, 5, 2) and counts(r, "responses") == (12, 10, 2)


def test_duplicate_participant_same_arm(tmp_path):
    r = run(tmp_path, participants=participants_csv() + "p1,ctrl,s2,15\n")
    assert sorted(x[1] for x in rules_at(r, "duplicate_participant")) == [2, 8]


def test_unknown_arm(tmp_path):
    r = run(tmp_path, participants=participants_csv() + "p7,treatment,s1,14\n")
    assert rules_at(r, "unknown_arm") == [("participants.csv", 8, "arm", "treatment")]
    assert "ctrl, nw" in r.failures["message"].iloc[0]


def test_unknown_wave(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[1].update(wave="6 months")))
    assert rules_at(r, "unknown_wave") == [("responses.csv", 3, "wave", "6 months")]


def test_wave_map(tmp_path):
    def edit(rows):
        for row in rows:
            row["wave"] = {"baseline": "T1", "post": "T2"}[row["wave"]]
    files = {"participants": "participants.csv",
             "responses": {"path": "responses.csv", "wave_map": {"T1": "baseline", "T2": "post"}}}
    r = run(tmp_path, responses=rows_with(edit), files=files)
    assert r.ok and sorted(set(r.responses["wave"])) == ["baseline", "post"]


def test_participant_missing_from_participants_file(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[5].update(participant_id="p42")))
    assert rules_at(r, "unknown_participant") == [("responses.csv", 7, "participant_id", "p42")]


def test_missing_participant_id(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[5].update(participant_id="")))
    assert [x[1] for x in rules_at(r, "missing_id")] == [7]


# ------------------------------------------------------------------ dates
def test_unparseable_date(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[2].update(completed_at="03/05/2024")))
    assert rules_at(r, "unparseable_date") == [("responses.csv", 4, "completed_at", "03/05/2024")]


def test_excel_date_serial(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[1].update(completed_at="45356")))
    assert r.ok
    w = warned(r, "excel_date_serial")
    assert w["source_row"].tolist() == [3] and "2024-03-05" in w["message"].iloc[0]
    assert r.responses["completed_at"].iloc[1] == pd.Timestamp("2024-03-05")


def test_dates_out_of_order(tmp_path):
    r = run(tmp_path, responses=rows_with(lambda rows: rows[1].update(completed_at="2023-12-01")))
    assert rules_at(r, "dates_out_of_order") == [("responses.csv", 3, "completed_at", "2023-12-01")]


def test_match_end_before_start_and_dosage(tmp_path):
    text = participants_csv(extra={
        "sessions_attended": ["3", "x", "-1", "4", "5", "6"],
        "match_start": ["2024-01-01"] * 6,
        "match_end": ["2024-06-01", "2024-06-01", "2024-06-01", "2023-06-01", "2024-06-01", "2024-06-01"],
    })
    r = run(tmp_path, participants=text, dosage=["sessions_attended"])
    assert rules_at(r, "not_a_number") == [("participants.csv", 3, "sessions_attended", "x")]
    assert rules_at(r, "negative_value") == [("participants.csv", 4, "sessions_attended", "-1")]
    assert rules_at(r, "match_end_before_start") == [("participants.csv", 5, "match_end", "2023-06-01")]
    assert counts(r, "participants") == (6, 3, 3)


def test_text_in_numeric_covariate(tmp_path):
    text = participants_csv().replace("p3,ctrl,s1,16", "p3,ctrl,s1,sixteen")
    r = run(tmp_path, participants=text)
    assert rules_at(r, "not_a_number") == [("participants.csv", 4, "age", "sixteen")]
    assert r.participants["age"].dtype == np.float64


# ------------------------------------------------------------------ columns
def test_missing_item_column(tmp_path):
    rows = [{("ahs_O2" if k == "ahs_2" else k): v for k, v in r.items()} for r in response_rows()]
    r = run(tmp_path, responses=rows_to_csv(rows))
    mc = rules_at(r, "missing_column")
    assert mc == [("responses.csv", None, "ahs_2", None)]
    assert "did you mean 'ahs_O2'" in r.failures["message"].iloc[0]
    assert not r.ok
    assert "ahs_O2" in set(warned(r, "unexpected_column")["column"])


def test_extra_unexpected_column(tmp_path):
    rows = response_rows()
    for row in rows:
        row["school_year"] = "8"
    r = run(tmp_path, responses=rows_to_csv(rows))
    assert r.ok and warned(r, "unexpected_column")["column"].tolist() == ["school_year"]
    assert "school_year" in r.responses.columns


def test_missing_covariate_column(tmp_path):
    r = run(tmp_path, covariates=["age", "income"])
    assert rules_at(r, "missing_column") == [("participants.csv", None, "income", None)]


def test_all_empty_wave(tmp_path):
    def edit(rows):
        for row in rows:
            if row["wave"] == "post":
                for c in AHS_COLS:
                    row[c] = ""
    r = run(tmp_path, responses=rows_with(edit))
    assert len(rules_at(r, "empty_wave")) == 6
    assert counts(r, "responses") == (12, 6, 6)


def test_wave_without_rows_warns(tmp_path):
    r = run(tmp_path, responses=rows_to_csv(response_rows(waves=("baseline",))))
    assert r.ok and warned(r, "wave_without_rows")["value"].tolist() == ["post"]


# ------------------------------------------------------------------ privacy
def test_email_column_flagged_and_dropped(tmp_path):
    text = participants_csv(extra={"contact": [f"kid{i}@school.org" for i in range(6)]})
    r = run(tmp_path, participants=text)
    assert r.identifying_columns[["column", "by", "action"]].values.tolist() == [["contact", "content", "dropped"]]
    assert "contact" not in r.participants.columns
    assert warned(r, "identifying_column")["column"].tolist() == ["contact"]


def test_identifying_column_allowed(tmp_path):
    text = participants_csv(extra={"email": [f"kid{i}@school.org" for i in range(6)]})
    r = run(tmp_path, participants=text, privacy={"allow_identifying": ["email"]})
    assert "email" in r.participants.columns
    assert r.identifying_columns["action"].tolist() == ["kept (allowed)"]


def test_pseudonymized_ids_join(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_EVAL_PSEUDONYM_KEY", "test-key-123456")
    r = run(tmp_path, privacy={"pseudonymize": ["participant_id"]})
    assert r.participants["participant_id"].str.len().eq(16).all()
    assert set(r.responses["participant_id"]) == set(r.participants["participant_id"])
    assert "p1" not in set(r.participants["participant_id"])


# ------------------------------------------------------------------ warnings
def test_straight_lining_warning(tmp_path):
    def edit(rows):
        for c in AHS_COLS:
            rows[4][c] = "8"
    r = run(tmp_path, responses=rows_with(edit))
    assert r.ok and warned(r, "straight_lining")["source_row"].tolist() == [6]


def test_too_fast_warning(tmp_path):
    rows = response_rows()
    for i, row in enumerate(rows):
        row["duration_seconds"] = "10" if i == 0 else "300"
    r = run(tmp_path, responses=rows_to_csv(rows))
    assert r.ok and warned(r, "too_fast")["source_row"].tolist() == [2]


def test_item_missing_above_threshold(tmp_path):
    def edit(rows):
        for row in rows[:4]:
            row["ahs_9"] = ""
    r = run(tmp_path, responses=rows_with(edit))
    w = warned(r, "item_missing")
    assert w["column"].tolist() == ["ahs_9"] and "33%" in w["message"].iloc[0]


# ------------------------------------------------------------------ other formats
QUALTRICS_HEAD = (
    "StartDate,participant_id,wave," + ",".join(AHS_COLS) + "\n"
    + "Start Date,ID,Wave," + ",".join(f'"Item {i}"' for i in range(1, 13)) + "\n"
    + ",".join([f'"{{""ImportId"":""x{i}""}}"' for i in range(15)]) + "\n"
)


def _qualtrics(tmp_path, answers):
    lines = [f"2024-01-0{i + 1},p{i + 1},baseline," + ",".join(a) for i, a in enumerate(answers)]
    files = {"participants": "participants.csv", "responses": {"path": "qx.csv", "format": "qualtrics"}}
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "qx.csv").write_text(QUALTRICS_HEAD + "\n".join(lines) + "\n", encoding="utf-8")
    return run(tmp_path, responses=False, files=files, participants=participants_csv(len(answers)))


def test_qualtrics_text_answers(tmp_path):
    answers = [["Definitely true", " mostly FALSE ", "3"] + ["Slightly true", "Somewhat false"] * 4 + ["1"]]
    r = _qualtrics(tmp_path, answers)
    assert r.ok
    assert r.responses[AHS_COLS[:3]].iloc[0].tolist() == [8, 2, 3]
    assert r.responses["ahs_1"].dtype == "Int64"
    assert r.quarantine.empty and counts(r, "responses") == (1, 1, 0)


def test_qualtrics_unknown_label(tmp_path):
    answers = [["Definitely true", "Strongly agree"] + ["Slightly true"] * 10]
    r = _qualtrics(tmp_path, answers)
    assert rules_at(r, "item_unknown_label") == [("qx.csv", 4, "ahs_2", "Strongly agree")]
    assert "Definitely false" in r.failures["message"].iloc[0]


def test_sav_user_missing(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    rows = response_rows()
    frame = pd.DataFrame(rows)
    for c in AHS_COLS:
        frame[c] = frame[c].astype(float)
    frame.loc[0, "ahs_1"] = 99.0
    tmp_path.mkdir(exist_ok=True)
    pyreadstat.write_sav(frame, str(tmp_path / "resp.sav"), missing_ranges={c: [99] for c in AHS_COLS})
    r = run(tmp_path, responses=False, files={"participants": "participants.csv", "responses": "resp.sav"})
    assert r.ok
    w = warned(r, "user_missing_code")
    assert w[["source_row", "column", "value"]].values.tolist() == [[2, "ahs_1", "99"]]
    assert pd.isna(r.responses["ahs_1"].iloc[0])


def test_redcap_events_and_repeats(tmp_path):
    rows = response_rows(n=2)
    lines = ["record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,completed_at,"
             + ",".join(AHS_COLS) + ",mentoring_log_complete"]
    for row in rows:
        event = {"baseline": "baseline_arm_1", "post": "post_arm_1"}[row["wave"]]
        lines.append(f"{row['participant_id']},{event},,,{row['completed_at']}," + ",".join(row[c] for c in AHS_COLS)
                     + ",2")
    lines.append("p1,baseline_arm_1,mentoring_log,1,," + "," * 11 + ",2")
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "rc.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = {"participants": "participants.csv",
             "responses": {"path": "rc.csv", "format": "redcap",
                           "wave_map": {"baseline_arm_1": "baseline", "post_arm_1": "post"}}}
    r = run(tmp_path, responses=False, files=files, participants=participants_csv(2))
    assert [x[:3] for x in rules_at(r, "redcap_repeat_instrument_row")] == [("rc.csv", 6, None)]
    assert counts(r, "responses") == (5, 4, 1)
    assert sorted(set(r.responses["wave"])) == ["baseline", "post"]
    assert warned(r, "unexpected_column").empty  # REDCap bookkeeping columns are known


def test_excel_responses_with_text(tmp_path):
    frame = pd.DataFrame(response_rows())
    frame.loc[2, "ahs_4"] = "lots"
    tmp_path.mkdir(exist_ok=True)
    frame.to_excel(tmp_path / "resp.xlsx", sheet_name="wave data", index=False)
    files = {"participants": "participants.csv", "responses": {"path": "resp.xlsx", "sheet": "wave data"}}
    r = run(tmp_path, responses=False, files=files)
    assert rules_at(r, "item_is_number") == [("resp.xlsx", 4, "ahs_4", "lots")]
    assert r.quarantine["_sheet"].tolist() == ["wave data"]


def test_wide_layout(tmp_path):
    rows = response_rows()
    wide: dict[str, dict[str, str]] = {}
    for row in rows:
        w = wide.setdefault(row["participant_id"], {"participant_id": row["participant_id"]})
        for k, v in row.items():
            if k not in ("participant_id", "wave"):
                w[f"{row['wave']}_{k}"] = v
    wide["p2"]["post_ahs_1"] = "12"
    files = {"participants": "participants.csv",
             "responses": {"path": "responses.csv", "layout": "wide", "wide_pattern": "{wave}_{column}"}}
    r = run(tmp_path, responses=rows_to_csv(list(wide.values())), files=files)
    assert rules_at(r, "item_in_range") == [("responses.csv", 3, "ahs_1", "12")]
    assert r.counts.set_index("table").loc["responses", "unit"] == "participant x wave"
    assert counts(r, "responses") == (12, 11, 1)


# ------------------------------------------------------------------ a 200 MB file
@pytest.mark.slow
def test_200_mb_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    # generated column-wise with pyarrow (no per-row Python, no 700 MB numpy text array)
    n_people = 600_000
    rng = np.random.default_rng(3)
    pids = pc.binary_join_element_wise("p", pc.cast(pa.array(np.arange(n_people)), pa.string()), "")
    tmp_path.mkdir(exist_ok=True)
    no_quotes = pacsv.WriteOptions(quoting_style="none")
    pacsv.write_csv(pa.table({
        "participant_id": pids,
        "arm": pc.take(pa.array(["ctrl", "nw"]), pa.array(np.arange(n_people) % 2)),
        "site_id": pa.repeat("s1", n_people), "age": pa.repeat("14", n_people),
    }), str(tmp_path / "participants.csv"), no_quotes)
    n = 2 * n_people
    cols = {"participant_id": pc.take(pids, pa.array(np.repeat(np.arange(n_people), 2))),
            "wave": pc.take(pa.array(["baseline", "post"]), pa.array(np.tile([0, 1], n_people))),
            "completed_at": pc.take(pa.array(["2024-01-15 10:00:00", "2024-06-15 10:00:00"]),
                                    pa.array(np.tile([0, 1], n_people)))}
    codes = rng.integers(1, 9, (n, 12))
    codes[:, 0], codes[:, 1] = 2, 7
    codes[::100_000, 4] = 0  # 12 rows out of range
    for j, c in enumerate(AHS_COLS):
        cols[c] = pa.array(codes[:, j])
    cols["comment_code"] = pa.repeat("no comment was given by this participant at this wave so nothing to "
                                     "report here; the mentor wrote the session summary in the log instead", n)
    pacsv.write_csv(pa.table(cols), str(tmp_path / "responses.csv"), no_quotes)
    del cols, codes
    size = (tmp_path / "responses.csv").stat().st_size
    assert size > 200e6
    r = validate_study(load_study(write_study(tmp_path, responses=False, participants=False), check_files=False))
    c = r.counts.set_index("table")
    assert (c["rows_read"] == c["clean"] + c["quarantined"]).all()
    assert c.loc["responses", "rows_read"] == n and c.loc["responses", "quarantined"] == 12
    assert "comment_code" not in r.responses.columns  # free text is identifying: dropped
