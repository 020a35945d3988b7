"""The command line: version, instruments, score, and error handling."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from mentor_eval import __version__
from mentor_eval.cli import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mentor-eval {__version__}"


def test_instruments_list_shows_library(capsys):
    assert main(["instruments", "list"]) == 0
    out = capsys.readouterr().out
    for iid in ("adult_hope_scale", "general_belongingness_scale", "pssm", "childrens_hope_scale"):
        assert iid in out


def test_instruments_show(capsys):
    assert main(["instruments", "show", "adult_hope_scale"]) == 0
    out = capsys.readouterr().out
    assert "Snyder" in out and "pathways" in out and "4-point" in out


def test_unknown_instrument_is_a_clean_error(capsys):
    assert main(["instruments", "show", "no_such_scale"]) == 2
    err = capsys.readouterr().err
    assert "Unknown instrument 'no_such_scale'" in err and "Traceback" not in err


def test_score_command_writes_csv(tmp_path, capsys):
    src = tmp_path / "in.csv"
    df = pd.DataFrame({"pid": ["a", "b"], **{f"ahs_{i}": [8, 1] for i in range(1, 13)}})
    df.to_csv(src, index=False)
    out = tmp_path / "out" / "scores.csv"
    code = main(["score", str(src), "--instrument", "adult_hope_scale", "--columns", "ahs_{item}",
                 "--keep", "pid", "--out", str(out)])
    assert code == 0
    res = pd.read_csv(out)
    assert list(res["pid"]) == ["a", "b"] and list(res["total"]) == [64.0, 8.0]


def test_score_command_semicolon_excel(tmp_path):
    df = pd.DataFrame({f"chs_{i}": [6, 1] for i in range(1, 7)})
    semi = tmp_path / "semi.csv"
    df.to_csv(semi, index=False, sep=";")
    xlsx = tmp_path / "book.xlsx"
    df.to_excel(xlsx, index=False, sheet_name="wave1")
    for path, extra in ((semi, []), (xlsx, ["--sheet", "wave1"])):
        out = tmp_path / f"{path.stem}.out.csv"
        assert main(["score", str(path), "-i", "childrens_hope_scale", "--columns", "chs_{item}",
                     "--out", str(out), *extra]) == 0
        assert pd.read_csv(out)["total"].tolist() == [36.0, 6.0]


def test_score_bad_value_exit_2_names_cell(tmp_path, capsys):
    src = tmp_path / "bad.csv"
    df = pd.DataFrame({f"chs_{i}": [6, 1] for i in range(1, 7)})
    df.loc[1, "chs_3"] = 7
    df.to_csv(src, index=False)
    assert main(["score", str(src), "-i", "childrens_hope_scale", "--columns", "chs_{item}"]) == 2
    err = capsys.readouterr().err
    # the file's own row (header = row 1) and the cell as typed
    assert "row 3, column 'chs_3': value '7'" in err and "must be between 1 and 6" in err


def test_missing_input_file(tmp_path, capsys):
    assert main(["score", str(tmp_path / "nope.csv"), "-i", "adult_hope_scale"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_console_script_runs_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "mentor_eval", "instruments", "show", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "Unknown instrument" in proc.stderr
