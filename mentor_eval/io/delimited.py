"""Delimited text files (CSV, semicolon- or tab-separated) read as raw text.

Encoding: a byte-order mark decides (UTF-8, UTF-16); otherwise UTF-8 is tried and, when the
bytes are not UTF-8, Windows-1252 (the usual encoding of files saved by Excel on Windows), with
a note. A file that mixes UTF-8 with another encoding is refused. Delimiter: the one among
comma, semicolon and tab that splits the header line most. Both can be named instead.

Fast path: files without quote characters below the header line, blank lines or ragged rows
are parsed by the pyarrow CSV reader (multi-threaded); a UTF-8 file is read from a memory map,
neither copied nor decoded as a whole. Others go through Python's ``csv`` module, which also
gives the exact row of every record (blank lines and line breaks inside quoted cells count).
"""

from __future__ import annotations

import codecs
import csv
import io
import mmap
import os
import re
from collections.abc import Collection
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
_NON_SPACE_BYTES = re.compile(rb"\S")
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


def _read_pyarrow(data: bytes | memoryview, delimiter: str, header: list[str], compact: Collection[str] = (),
                  blank_lines: bool = False) -> pd.DataFrame | None:
    """Parse with pyarrow; None when the exact parser must decide (ragged row, parse problem).

    ``blank_lines``: the data may hold blank lines (not searched for); then a row without any
    value (a blank line, or a line of delimiters only) also returns None.
    """
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
            # empty lines kept: one would be a ragged row (exact path), never silently skipped
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False, ignore_empty_lines=False,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                # pandas' own string layout; compact columns dictionary-encoded while parsing
                column_types={c: pa.dictionary(pa.int32(), pa.large_string()) if c in compact
                              else pa.large_string() for c in header},
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
                check_utf8=False,  # every caller passes valid UTF-8 (checked or re-encoded)
            ),
        )
    except Exception:  # any pyarrow parse problem: fall back to the exact Python parser
        return None
    if bad:
        return None
    if blank_lines and table.num_rows and table.num_columns:
        fullest = min(table.columns, key=lambda c: c.null_count)
        if fullest.null_count:
            import pyarrow.compute as pc

            empty = fullest.is_null()
            for col in table.columns:
                empty = pc.and_(empty, col.is_null())
            if pc.any(empty).as_py():
                return None
    compacted = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    if not compacted:
        return table.to_pandas()
    names = table.column_names
    text = table.drop_columns(compacted).to_pandas()
    pending = {name: table.column(name) for name in compacted}
    del table  # each compact column's parsed chunks go as soon as it is converted
    columns = {}
    for name in names:
        columns[name] = (pd.Series(_to_categorical(pending.pop(name)), copy=False) if name in pending
                         else text[name])
    # hand the parse buffers back now, so that the memory is reused by what comes next rather
    # than added to it
    pa.default_memory_pool().release_unused()
    return pd.DataFrame(columns, copy=False)


def _to_categorical(column) -> pd.Categorical:
    """A dictionary-encoded pyarrow column as a pandas Categorical of text, without a concatenated copy.

    pyarrow's own conversion unifies the chunk dictionaries into a new 4-byte index per cell
    first; here each chunk's indices are mapped straight into the final small codes.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = column.chunks
    value_type = column.type.value_type
    values = pc.unique(pa.chunked_array([c.dictionary for c in chunks], type=value_type)) if chunks \
        else pa.array([], type=value_type)
    n_categories = len(values)
    dtype = np.int8 if n_categories < 2**7 else np.int16 if n_categories < 2**15 else np.int32
    codes = np.empty(len(column), dtype=dtype)
    pos = 0
    for chunk in chunks:
        out = codes[pos:pos + len(chunk)]
        pos += len(chunk)
        indices = chunk.indices
        if len(chunk.dictionary) == 0:  # every cell of the chunk is empty
            out[:] = -1
            continue
        lookup = pc.index_in(chunk.dictionary, value_set=values).to_numpy(zero_copy_only=False).astype(dtype)
        raw = np.frombuffer(indices.buffers()[1], dtype=np.int32, count=indices.offset + len(indices))
        raw = raw[indices.offset:]
        if indices.null_count:
            null = indices.is_null().to_numpy(zero_copy_only=False)
            np.take(lookup, np.where(null, 0, raw), out=out)
            out[null] = -1
        else:
            np.take(lookup, raw, out=out)
    categories = pd.Index(values.to_pandas())
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories), validate=False)


def _parse_header(path: Path, header_line: str, delimiter: str | None) -> tuple[str, list[str]]:
    """The delimiter and the column names of a header line (checked: no blank or duplicate name)."""
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
    return used_delimiter, header


def _parse_python(path: Path, text: str, delimiter: str, header: list[str], line_rows: bool):
    """The exact parser (see _records_python), with a parse problem turned into a clear error."""
    try:
        return _records_python(text, delimiter, len(header), line_rows)
    except DataValidationErrorProxy as exc:
        raise unusable(path, str(exc), "Check the quoting of that row.") from None


def _read_fast_utf8(path: Path, encoding: str | None, delimiter: str | None, compact: Collection[str]
                    ) -> tuple[pd.DataFrame, str, str, list[str]] | None:
    """Read a plain UTF-8 file with pyarrow straight from a memory map; None: use the exact path.

    Plain: no encoding named, valid UTF-8 (byte-order mark allowed), no NUL byte, no quote
    character below the header line, no blank line, at least two columns. The file is neither copied nor decoded as a whole (about twice its size in
    memory saved): the header line is decoded here and pyarrow checks that every cell is valid
    UTF-8. Anything unusual (including every file that needs an error message) returns None,
    and the exact path reads the file again and judges it.
    """
    if encoding is not None:
        return None
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return None
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    try:
        return _read_mapped(path, mapped, delimiter, compact)
    finally:
        try:
            mapped.close()
        except BufferError:  # pragma: no cover - pyarrow kept a view; the map closes when it goes
            pass


def _is_utf8(data: memoryview) -> bool:
    """Whether ``data`` is valid UTF-8, checked by pyarrow without decoding it into a Python str."""
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        whole.cast(pa.large_string())  # the cast validates the bytes
    except pa.ArrowInvalid:
        return False
    return True


def _read_mapped(path: Path, mapped: mmap.mmap, delimiter: str | None, compact: Collection[str]
                 ) -> tuple[pd.DataFrame, str, str, list[str]] | None:
    """The body of _read_fast_utf8 on the open memory map."""
    head = mapped[:65536]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
        return None
    if any(head.startswith(magic) for magic in _MAGIC):
        return None
    start = 3 if head.startswith(codecs.BOM_UTF8) else 0
    first_nl = mapped.find(b"\n", start)
    if first_nl < 0:
        return None
    # the first data character: ASCII here (a non-ASCII one may be Unicode white space,
    # which the exact path judges)
    data_char = _NON_SPACE_BYTES.search(mapped, first_nl + 1)
    if data_char is None or mapped[data_char.start()] >= 0x80:
        return None
    # Quotes in the header line alone are fine (it is parsed here; pyarrow skips it). Blank
    # lines need no search: pyarrow keeps them as rows without any value, and a file with such a
    # row goes to the exact path (which skips blank lines, counting them).
    if mapped.find(b'"', first_nl) >= 0:
        return None
    try:
        header_line = mapped[start:first_nl].decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None
    if not header_line.strip():
        return None
    used_delimiter, header = _parse_header(path, header_line, delimiter)
    if len(header) < 2:
        return None
    view = memoryview(mapped)[start:]
    try:
        if not _is_utf8(view):
            return None
        frame = _read_pyarrow(view, used_delimiter, header, compact, blank_lines=True)
    finally:
        try:
            view.release()
        except BufferError:  # pragma: no cover - see above
            pass
    if frame is None:
        return None
    return frame, "utf-8-sig" if start else "utf-8", used_delimiter, header


def read_delimited(
    path: Path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    format: str = "csv",
    line_rows: bool = False,
    compact: Collection[str] = (),
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
    compact : collection of str
        Columns expected to hold few distinct texts (answer codes). When the file takes the
        pyarrow path they are returned as pandas ``Categorical`` with text categories: the same
        cells and missing values, one small integer per cell instead of a string (about 1 byte
        instead of 9 per cell). Other columns, and every column on the exact path, are text.

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
    frame: pd.DataFrame | None = None
    ragged: list[tuple[int, str, int]] = []
    fast = None if line_rows else _read_fast_utf8(path, encoding, delimiter, compact)
    if fast is not None:
        frame, used_encoding, used_delimiter, header = fast
        rows_numbers = np.arange(2, len(frame) + 2, dtype=np.int64)
        notes: list[str] = []
    else:
        raw = path.read_bytes()
        if not raw[:4096].strip() and not raw.strip():
            raise unusable(path, "is empty.", "Export the data again; the file has no header and no rows.")
        _check_magic(path, raw[:8])
        text, used_encoding, notes = detect_encoding(path, raw, encoding)
        if not text.strip():
            raise unusable(path, "is empty.", "Export the data again; the file has no header and no rows.")
        first_nl = text.find("\n")
        header_line = (text if first_nl < 0 else text[:first_nl]).rstrip("\r")
        used_delimiter, header = _parse_header(path, header_line, delimiter)
        if first_nl < 0 or _NON_SPACE.search(text, first_nl + 1) is None:
            raise unusable(path, "has a header row but no data rows.", "Export the data again with its rows.")
        utf8 = used_encoding in ("utf-8", "utf-8-sig")
        # quotes in the header line alone are fine: pyarrow skips that line
        if utf8:
            simple = raw.find(b'"', raw.find(b"\n")) < 0 and b"\n\n" not in raw and b"\n\r\n" not in raw
        else:
            simple = text.find('"', first_nl) < 0 and "\n\n" not in text and "\n\r\n" not in text
        if simple and not line_rows:
            # e.g. a Windows-1252 file: parsed by pyarrow once re-encoded as UTF-8
            data = (raw[3:] if used_encoding == "utf-8-sig" else raw) if utf8 else text.encode("utf-8")
            frame = _read_pyarrow(data, used_delimiter, header, compact)
            del data
        if frame is not None:
            rows_numbers = np.arange(2, len(frame) + 2, dtype=np.int64)
        else:
            rows, numbers, ragged = _parse_python(path, text, used_delimiter, header, line_rows)
            del text, raw
            cols = list(zip(*rows, strict=True)) if rows else [()] * len(header)
            frame = pd.DataFrame(
                {h: pd.array([v if v != "" else None for v in col], dtype="str")
                 for h, col in zip(header, cols, strict=True)}
            )
            rows_numbers = np.asarray(numbers, dtype=np.int64)
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
