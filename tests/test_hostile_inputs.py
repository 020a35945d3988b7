"""Property-based: generated malformed CSV, Excel and YAML thrown at the readers and the CLI.

Every time: no traceback and no exception other than a mentor-eval error, a non-zero exit or a
clean result, and rows read = clean + quarantined. Bounded (few examples, small files) so the file
runs in seconds.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import openpyxl
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_validation_support import participants_csv, response_rows, rows_to_csv, study_yaml, write_study

from mentor_eval.cli import main
from mentor_eval.errors import MentorEvalError
from mentor_eval.study import load_study
from mentor_eval.validation import validate_study

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

CELL = st.one_of(
    st.sampled_from(["", " ", "NA", "3", "3.5", "-1", "99", "1e3", "Strongly agree", "x", '"', '""', ",", ";",
                     "\t", "\n", "\r\n", "=A1+1", "2024-13-45", "p1", "baseline", "post", "ctrl", "\u00e9", "\ufeff"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
)


def _validate(folder: Path):
    """Validate; a mentor-eval error is an accepted outcome, anything else fails the test."""
    try:
        result = validate_study(load_study(folder / "study.yaml", check_files=False))
    except MentorEvalError as exc:
        assert str(exc)  # a message, not an empty error
        return None
    c = result.counts
    assert (c["rows_read"] == c["clean"] + c["quarantined"]).all()
    return result


def _mutated_csv(data, text: str) -> bytes:
    lines = text.splitlines()
    n = data.draw(st.integers(0, 4), label="edits")
    for _ in range(n):
        kind = data.draw(st.sampled_from(["cell", "drop", "dup", "extra", "bytes", "header"]), label="kind")
        i = data.draw(st.integers(0, len(lines) - 1), label="line") if lines else 0
        if not lines:
            break
        cells = lines[i].split(",")
        if kind == "cell":
            j = data.draw(st.integers(0, len(cells) - 1), label="cell")
            cells[j] = data.draw(CELL, label="value")
            lines[i] = ",".join(cells)
        elif kind == "drop":
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "extra":
            lines[i] += "," + data.draw(CELL, label="value")
        elif kind == "header":
            lines[0] = ",".join(data.draw(CELL, label="name") if k == 0 else c
                                for k, c in enumerate(lines[0].split(",")))
        else:
            return "\n".join(lines).encode("utf-8") + data.draw(st.binary(max_size=8), label="bytes")
    return ("\n".join(lines) + "\n").encode("utf-8")


@settings(max_examples=30, **SETTINGS)
@given(st.data())
def test_malformed_csv_files(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        which = data.draw(st.sampled_from(["responses", "participants"]), label="file")
        kw = {which: _mutated_csv(data, participants_csv() if which == "participants"
                                  else rows_to_csv(response_rows()))}
        write_study(folder, **kw)
        _validate(folder)


@settings(max_examples=8, **SETTINGS)
@given(st.data())
def test_malformed_csv_through_the_cli(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_study(folder, responses=_mutated_csv(data, rows_to_csv(response_rows())))
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            status = main(["validate", str(folder / "study.yaml"), "-o", str(folder / "out")])
        assert status in (0, 1, 2), (status, err.getvalue())
        assert "Traceback" not in err.getvalue() + out.getvalue()
        if status == 2:
            assert err.getvalue().startswith("Error: ")


EXCEL_VALUE = st.one_of(st.none(), st.integers(-3, 12), st.floats(allow_nan=False, allow_infinity=False, width=32),
                        CELL.filter(lambda s: "\x00" not in s and all(ord(ch) >= 32 or ch in "\t\n\r" for ch in s)),
                        st.sampled_from(["=1+1", "=B2", "=SUM(A1:A3)"]))


@settings(max_examples=10, **SETTINGS)
@given(st.data())
def test_malformed_excel_files(data):
    rows = response_rows()
    cols = list(rows[0])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(cols)
        for r in rows:
            ws.append([r[c] for c in cols])
        for _ in range(data.draw(st.integers(0, 5), label="edits")):
            row = data.draw(st.integers(1, len(rows) + 2), label="row")
            col = data.draw(st.integers(1, len(cols) + 2), label="col")
            ws.cell(row=row, column=col, value=data.draw(EXCEL_VALUE, label="value"))
        wb.save(folder / "resp.xlsx")
        write_study(folder, responses=False, files={"participants": "participants.csv", "responses": "resp.xlsx"})
        _validate(folder)


@settings(max_examples=40, **SETTINGS)
@given(st.data())
def test_malformed_study_yaml(data):
    lines = yaml.safe_dump(study_yaml(), sort_keys=False).splitlines()
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        kind = data.draw(st.sampled_from(["drop", "dup", "indent", "chars", "anchor"]), label="kind")
        if kind == "drop":
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "indent":
            lines[i] = " " * data.draw(st.integers(0, 5), label="spaces") + lines[i].lstrip()
        elif kind == "chars":
            pos = data.draw(st.integers(0, len(lines[i])), label="pos")
            lines[i] = lines[i][:pos] + data.draw(st.sampled_from([":", "- ", "&a ", "*a", "{", "[", "'", "\t", "#",
                                                                     "!!python/object:os.system", "\udcff"]),
                                                   label="chars") + lines[i][pos:]
        else:
            lines.insert(i, "x: &a [*a]")
        if not lines:
            lines = [""]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_study(folder)
        (folder / "study.yaml").write_bytes("\n".join(lines).encode("utf-8", errors="surrogateescape"))
        try:
            load_study(folder / "study.yaml", check_files=False)
        except MentorEvalError as exc:
            assert str(exc).startswith("study.yaml") or "Study file" in str(exc)
