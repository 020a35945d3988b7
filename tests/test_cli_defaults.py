"""No silent defaults at the command line; the psychometrics command writes through the shared writer."""

from __future__ import annotations

import json

from test_validation_support import write_study

from mentor_eval.cli import main
from mentor_eval.cli._common import SAMPLE_NOTICE


def test_no_path_and_no_study_here_says_it_runs_the_sample(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status = main(["validate", "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert status in (0, 1)
    assert out.splitlines()[0] == SAMPLE_NOTICE
    assert "Riverside" in out  # the sample study's name


def test_no_path_uses_the_study_yaml_of_this_folder(tmp_path, monkeypatch, capsys):
    write_study(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "No study file given: using ./study.yaml in this folder."
    assert "Ingest test study" in out and "Riverside" not in out


def test_a_given_path_prints_no_notice(tmp_path, capsys):
    path = write_study(tmp_path)
    assert main(["validate", str(path), "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert SAMPLE_NOTICE not in out and "No study file given" not in out


def test_psychometrics_writes_tables_with_provenance(tmp_path, capsys):
    path = write_study(tmp_path)
    out = tmp_path / "psy"
    assert main(["psychometrics", str(path), "-o", str(out)]) == 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["command"] == "psychometrics" and prov["parameters"]["reliability_threshold"] == 0.7
    assert {r["role"] for r in prov["inputs"]} == {"study", "participants", "responses"}
    assert len(prov["inputs"][0]["sha256"]) == 64
    for name in ("reliability", "reliability_by_arm", "invariance", "notes"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.json").is_file()
