"""``mentor-eval analyze``: the tables it writes, their provenance, privacy and its errors."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest

from mentor_eval.cli import main
from mentor_eval.pipeline import StudyResults
from mentor_eval.resources import sample_study_dir

# every DataFrame field of StudyResults is a table the command must write
TABLES = [f.name for f in fields(StudyResults) if f.name not in ("study", "data", "provenance")]
MIXED_TABLES = ("mixed_means", "mixed_contrasts", "icc")


def _read_csv(path: Path) -> pd.DataFrame:
    # an empty table is written as a bare newline: no columns, no rows
    if not path.read_text(encoding="utf-8").strip():
        return pd.DataFrame()
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def analysis_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("analysis")
    assert main(["analyze", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def participant_ids() -> set[str]:
    return set(pd.read_csv(sample_study_dir() / "participants.csv", dtype=str)["participant_id"])


def test_table_list_is_complete():
    # guards the constant above: a new results table must be picked up here
    assert {"flow", "contrasts", "mixed_means", "hypotheses", "notes"} <= set(TABLES)


@pytest.mark.slow
def test_analyze_writes_every_table_as_csv_and_json(analysis_dir):
    written = {p.name for p in analysis_dir.iterdir()}
    expected = {f"{t}.{ext}" for t in TABLES for ext in ("csv", "json")} | {"provenance.json"}
    assert expected <= written, sorted(expected - written)
    for t in TABLES:
        csv = _read_csv(analysis_dir / f"{t}.csv")
        records = json.loads((analysis_dir / f"{t}.json").read_text(encoding="utf-8"))
        assert isinstance(records, list)
        assert len(records) == len(csv), t
        if records:
            assert list(records[0]) == list(csv.columns), t
    # the analyses that the sample supports all ran
    for t in ("flow", "attrition", "baseline", "reliability", "prepost", "ancova_means", "contrasts",
              "mixed_means", "mixed_contrasts", "reliable_change", "hypotheses"):
        assert len(_read_csv(analysis_dir / f"{t}.csv")), f"{t} is empty"
    contrasts = _read_csv(analysis_dir / "contrasts.csv")
    # 4 outcomes (2 primary, 2 secondary) x 5 arms, each against control
    assert len(contrasts) == 20 and set(contrasts["reference"]) == {"control"}
    assert set(contrasts["family"]) == {"primary", "secondary"}
    assert len(_read_csv(analysis_dir / "hypotheses.csv")) == 3


@pytest.mark.slow
def test_provenance_fingerprints_match_the_input_files(analysis_dir):
    prov = json.loads((analysis_dir / "provenance.json").read_text(encoding="utf-8"))
    inputs = {row["role"]: row for row in prov["inputs"]}
    assert set(inputs) == {"study", "participants", "responses"}
    for row in inputs.values():
        path = sample_study_dir() / row["file"]
        data = path.read_bytes()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["bytes"] == len(data)
    assert inputs["study"]["file"] == "study.yaml"
    assert prov["versions"]["mentor-eval"]
    assert prov["parameters"]["control"] == "control"
    assert prov["parameters"]["pre"] == "baseline" and prov["parameters"]["post"] == "post"


@pytest.mark.slow
def test_no_table_holds_participant_level_rows(analysis_dir, participant_ids):
    assert len(participant_ids) == 1200
    for path in sorted(analysis_dir.iterdir()):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".csv":
            table = _read_csv(path)
            assert "participant_id" not in table.columns, path.name
            cells = set(table.to_numpy().ravel().tolist()) | set(table.columns)
            leaked = cells & participant_ids
            assert not leaked, f"{path.name} holds participant ids {sorted(leaked)[:5]}"
        else:
            records = json.loads(text)
            if isinstance(records, list) and records:
                assert "participant_id" not in records[0], path.name
        # (the icc table may name the participant *level*, 'participant_id', which is no id)
        # no id anywhere in the text, e.g. inside a note or provenance
        hits = [pid for pid in participant_ids if pid in text]
        assert not hits, f"{path.name} mentions participant ids {hits[:5]}"


@pytest.mark.slow
def test_no_mixed_leaves_mixed_tables_empty(tmp_path):
    out = tmp_path / "no_mixed"
    assert main(["analyze", "--out", str(out), "--no-mixed"]) == 0
    for t in MIXED_TABLES:
        assert _read_csv(out / f"{t}.csv").empty, t
        assert json.loads((out / f"{t}.json").read_text(encoding="utf-8")) == []
    # the rest still ran
    assert len(_read_csv(out / "contrasts.csv")) == 20
    assert len(_read_csv(out / "ancova_means.csv")) > 0


def test_broken_study_yaml_is_a_clean_error(tmp_path, capsys):
    study_dir = tmp_path / "study"
    shutil.copytree(sample_study_dir(), study_dir)
    path = study_dir / "study.yaml"
    text = path.read_text(encoding="utf-8")
    assert "{key: midpoint, week: 12}" in text
    path.write_text(text.replace("{key: midpoint, week: 12}", "{key: midpoint, week: twelve}"), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert "waves[1].week" in err
    assert "study.yaml" in err
    assert "Traceback" not in err + captured.out
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_missing_study_file_is_a_clean_error(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert "nope.yaml" in captured.err
    assert "Traceback" not in captured.err + captured.out
