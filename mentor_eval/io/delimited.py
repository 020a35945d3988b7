"""Delimited text files (CSV, semicolon- or tab-separated) read as raw text.

Encoding: a byte-order mark decides (UTF-8, UTF-16); otherwise UTF-8 is tried and, when the
bytes are not UTF-8, Windows-1252 (the usual encoding of files saved by Excel on Windows), with
a note. A file that mixes UTF-8 with another encoding is refused. Delimiter: the one among
comma, semicolon and tab that splits the header line most. Both can be named instead.

Fast path: files without quote characters, blank lines or ragged rows are parsed by the
pyarrow CSV reader (multi-threaded). Others go through Python's ``csv`` module, which also
gives the exact row of every record (blank lines and line breaks inside quoted cells count).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mentor_eval.io.raw import (
    RawFrame,
    empty_rejected,
    make_provenance,
    unusable,
)

__all__ = ["read_delimited", "detect_encoding", "detect_delimiter", "DELIMITERS"]

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_MAGIC = {
    b"PK\x03\x04": "an Excel .xlsx workbook (a zip file); set format: xlsx",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook; save it as .xlsx or CSV",
    b"$FL2": "an SPSS .sav file; set format: sav",
    b"$FL3": "an SPSS .sav file; set format: sav",
    b"%PDF": "a PDF document, not a data table",
}
# A well-formed UTF-8 multi-byte sequence; its presence in a file that is not valid UTF-8
# means two encodings were mixed (e.g. rows pasted from different sources).
_NON_SPACE = re.compile(r"\S")
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _check_magic(path: Path, head: bytes) -> None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise unusable(path, f"is {what.split(';')[0]}, not a text (CSV) file.",
                           (what.split("; ")[1].capitalize() + ".") if ";" in what else "")


def detect_encoding(path: Path, raw: bytes, encoding: str | None = None) -> tuple[str, str, list[str]]:
    """Decode ``raw``; return (text, encoding used, notes).

    Raises
    ------
    DataValidationError
        Undecodable with the named encoding, mixed encodings, or binary content.
    """
    notes: list[str] = []
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise unusable(path, f"the encoding {encoding!r} named in the study is not a known encoding.",
                           "Use e.g. utf-8, utf-16, cp1252 or latin-1.") from None
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise unusable(path, f"cannot be decoded as {encoding} (byte {raw[exc.start]:#04x} on line {line}).",
                           "Name the right encoding in the study (files.<table>.encoding) or re-save the "
                           "file as UTF-8.") from None
        if text.startswith("\ufeff"):
            text = text[1:]
        return text, encoding, notes
    if raw.startswith(codecs.BOM_UTF8):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig", notes
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise unusable(path, "starts with a UTF-16 byte-order mark but is not valid UTF-16.",
                           "Re-save the file as UTF-8 CSV.") from None
        notes.append(f"{path.name}: decoded as UTF-16 (byte-order mark found).")
        return text, "utf-16", notes
    if b"\x00" in raw[:65536]:
        raise unusable(path, "contains binary data (NUL bytes), so it is not a text table.",
                       "Export the data as CSV (UTF-8) or name the right format in the study.")
    try:
        return raw.decode("utf-8"), "utf-8", notes
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        if _UTF8_MULTIBYTE.search(raw):
            raise unusable(
                path,
                f"mixes UTF-8 with another encoding (the first byte that is not UTF-8 is on line {bad_line}).",
                "Re-save the whole file in one encoding (UTF-8 is best).",
            ) from None
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise unusable(path, f"is neither UTF-8 nor Windows-1252 text (line {line}).",
                       "Re-save it as UTF-8 CSV or name its encoding in the study.") from None
    notes.append(f"{path.name}: not UTF-8; decoded as Windows-1252 (cp1252). Name the encoding in the "
                 "study if this is wrong.")
    return text, "cp1252", notes


def _split_count(line: str, delimiter: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=delimiter)))
    except (csv.Error, StopIteration):
        return 1


def detect_delimiter(path: Path, header_line: str, delimiter: str | None = None) -> str:
    """The delimiter that splits ``header_line`` most (or the named one, checked)."""
    counts = {d: _split_count(header_line, d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if delimiter is not None:
        if delimiter not in ("\t", "tab") and len(delimiter) != 1:
            raise unusable(path, f"the delimiter {delimiter!r} named in the study is not one character.",
                           "Use ',', ';' or a tab.")
        delimiter = "\t" if delimiter == "tab" else delimiter
        n = _split_count(header_line, delimiter)
        if n == 1 and counts[best] > 1:
            raise unusable(
                path,
                f"with the delimiter {delimiter!r} named in the study the header is a single column "
                f"({header_line[:60]!r}); the file looks {DELIMITERS[best]}-separated.",
                f"Set the delimiter to {best!r} or remove it from the study to detect it.",
            )
        return delimiter
    if counts[best] == 1:
        raise unusable(
            path,
            f"has a single column; no comma, semicolon or tab separates the header ({header_line[:60]!r}).",
            "Export the table as CSV with one column per variable, or name the delimiter in the study.",
        )
    return best


def _records_python(text: str, delimiter: str, n_cols: int, line_rows: bool):
    """Parse with the csv module: (rows, row numbers, ragged (row, text, n) list)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    numbers: list[int] = []
    ragged: list[tuple[int, str, int]] = []
    last_line = 0
    record = 0
    try:
        for rec in reader:
            record += 1
            start_line = last_line + 1
            last_line = reader.line_num
            if not rec:  # blank line: shown as an empty row in a spreadsheet
                continue
            number = start_line if line_rows else record
            if record == 1:
                continue  # header
            if len(rec) != n_cols:
                if len(rec) > n_cols and not any(x.strip() for x in rec[n_cols:]):
                    rec = rec[:n_cols]  # trailing empty separators: harmless
                else:
                    ragged.append((number, delimiter.join(rec), len(rec)))
                    continue
            rows.append(rec)
            numbers.append(number)
    except csv.Error as exc:
        raise DataValidationErrorProxy(f"cannot be parsed as delimited text near line {reader.line_num} "
                                       f"({exc}).") from None
    return rows, numbers, ragged


class DataValidationErrorProxy(Exception):
    """Internal: carries a parse problem to read_delimited, which names the file."""


def _read_pyarrow(data: bytes, delimiter: str, header: list[str]) -> pd.DataFrame | None:
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - optional speed-up
        return None
    bad: list[int] = []

    def on_invalid(row) -> str:
        bad.append(1)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            # 4 MB blocks: enough blocks for every core to parse in parallel
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.large_string() for c in header},  # pandas' own string layout
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
            ),
        )
    except Exception:  # any pyarrow parse problem: fall back to the exact Python parser
        return None
    if bad:
        return None
    frame = table.to_pandas()
    return frame


def read_delimited(
    path: Path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    format: str = "csv",
    line_rows: bool = False,
) -> RawFrame:
    """Read a delimited text file as raw text cells.

    Parameters
    ----------
    path : Path
        The file.
    encoding, delimiter : str, optional
        Named encoding / delimiter; detected when ``None``.
    format : str
        Format recorded in the result (``csv``, ``qualtrics``, ``redcap``).
    line_rows : bool
        Number rows by the physical line each record starts on instead of the record count
        (they differ only when quoted cells hold line breaks).

    Returns
    -------
    RawFrame

    Raises
    ------
    DataValidationError
        Missing, empty, header-only, binary, undecodable or single-column files.
    """
    path = Path(path)
    if not path.exists():
        raise unusable(path, f"does not exist (looked for {path}).",
                       "Check the file name and its path in the study (files section).")
    if path.is_dir():
        raise unusable(path, "is a folder, not a file.", "Point the study at the data file inside it.")
    raw = path.read_bytes()
    if not raw[:4096].strip() and not raw.strip():
        raise unusable(path, "is empty.", "Export the data again; the file has no header and no rows.")
    _check_magic(path, raw[:8])
    text, used_encoding, notes = detect_encoding(path, raw, encoding)
    if not text.strip():
        raise unusable(path, "is empty.", "Export the data again; the file has no header and no rows.")
    first_nl = text.find("\n")
    header_line = (text if first_nl < 0 else text[:first_nl]).rstrip("\r")
    used_delimiter = detect_delimiter(path, header_line, delimiter)
    header = next(csv.reader([header_line], delimiter=used_delimiter))
    header = [h.strip() for h in header]
    if any(h == "" for h in header):
        blanks = [i + 1 for i, h in enumerate(header) if h == ""]
        if blanks == [len(header)] and len(header) > 1:
            header = header[:-1]  # trailing separator on the header line
        else:
            raise unusable(path, f"has a column without a name (column number(s) {blanks}).",
                           "Give every column a name in the header row.")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise unusable(path, f"has duplicate column names: {', '.join(dupes)}.",
                       "Rename the columns so that each name is used once.")
    if first_nl < 0 or _NON_SPACE.search(text, first_nl + 1) is None:
        raise unusable(path, "has a header row but no data rows.", "Export the data again with its rows.")

    frame: pd.DataFrame | None = None
    data = b""
    rows_numbers: np.ndarray | None = None
    ragged: list[tuple[int, str, int]] = []
    utf8 = used_encoding in ("utf-8", "utf-8-sig")
    if utf8:
        simple = b'"' not in raw and b"\n\n" not in raw and b"\n\r\n" not in raw
    else:
        simple = '"' not in text and "\n\n" not in text and "\n\r\n" not in text
    if simple and not line_rows:
        data = (raw[3:] if used_encoding == "utf-8-sig" else raw) if utf8 else text.encode("utf-8")
        text = ""  # let the decoded copy go while pyarrow parses (rebuilt below if needed)
        frame = _read_pyarrow(data, used_delimiter, header)
        if frame is not None:
            rows_numbers = np.arange(2, len(frame) + 2, dtype=np.int64)
    if frame is None:
        if not text:
            text = data.decode("utf-8")
            if text.startswith("\ufeff"):
                text = text[1:]
        try:
            rows, numbers, ragged = _records_python(text, used_delimiter, len(header), line_rows)
        except DataValidationErrorProxy as exc:
            raise unusable(path, str(exc), "Check the quoting of that row.") from None
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(header)
        frame = pd.DataFrame(
            {h: pd.array([v if v != "" else None for v in col], dtype="str") for h, col in zip(header, cols,
                                                                                          strict=True)}
        )
        rows_numbers = np.asarray(numbers, dtype=np.int64)
    del text, raw
    if len(frame) == 0 and not ragged:
        raise unusable(path, "has a header row but no data rows.", "Export the data again with its rows.")
    if len(frame.columns) == 1 and len(header) == 1:
        raise unusable(path, "has a single column.", "Check the delimiter.")
    rejected = empty_rejected()
    if ragged:
        rejected = pd.DataFrame({
            "_source_file": pd.array([path.name] * len(ragged), dtype="str"),
            "_source_row": pd.array([r[0] for r in ragged], dtype="Int64"),
            "_sheet": pd.array([None] * len(ragged), dtype="str"),
            "text": pd.array([r[1][:500] for r in ragged], dtype="str"),
            "rule": pd.array(["row_has_wrong_number_of_cells"] * len(ragged), dtype="str"),
            "message": pd.array([f"has {r[2]} cells; the header has {len(header)}" for r in ragged],
                                dtype="str"),
        })
    if used_delimiter != ",":
        notes.append(f"{path.name}: columns separated by {DELIMITERS.get(used_delimiter, repr(used_delimiter))}.")
    return RawFrame(
        data=frame,
        provenance=make_provenance(path.name, rows_numbers),
        source=path,
        format=format,
        encoding=used_encoding,
        delimiter=used_delimiter,
        rejected=rejected,
        notes=tuple(notes),
    )
