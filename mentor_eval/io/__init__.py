"""Readers for survey exports; each returns a :class:`RawFrame` (text cells + provenance).

:func:`read_file` dispatches on ``FileSpec.format`` or the file extension:

========== ============================================ =========================
format     files                                        reader
========== ============================================ =========================
csv        ``.csv``, ``.tsv``, ``.txt``                 :func:`read_delimited`
xlsx       ``.xlsx``, ``.xlsm``                         :func:`read_excel`
sav        ``.sav``, ``.zsav``                          :func:`read_sav`
qualtrics  Qualtrics CSV export (format must be named)  :func:`read_qualtrics`
redcap     REDCap raw CSV export (format must be named) :func:`read_redcap`
========== ============================================ =========================
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from mentor_eval.io.delimited import detect_delimiter, detect_encoding, read_delimited
from mentor_eval.io.excel import read_excel
from mentor_eval.io.layout import map_participants, spec_get, to_long
from mentor_eval.io.qualtrics import read_qualtrics
from mentor_eval.io.raw import PROVENANCE_COLUMNS, RawFrame, unusable
from mentor_eval.io.redcap import read_redcap
from mentor_eval.io.spss import read_sav

__all__ = [
    "FORMATS",
    "PROVENANCE_COLUMNS",
    "RawFrame",
    "read_file",
    "read_delimited",
    "read_excel",
    "read_sav",
    "read_qualtrics",
    "read_redcap",
    "detect_encoding",
    "detect_delimiter",
    "map_participants",
    "to_long",
]

FORMATS = ("csv", "xlsx", "sav", "qualtrics", "redcap")
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".sav": "sav", ".zsav": "sav",
}


def read_file(spec: Any, *, compact: Collection[str] = ()) -> RawFrame:
    """Read the file a study's ``FileSpec`` (or a plain path) points at.

    Parameters
    ----------
    spec : FileSpec, str or Path
        ``path``, ``format`` (csv | xlsx | sav | qualtrics | redcap; ``None``: from the extension),
        ``sheet``, ``encoding``, ``delimiter`` are used here; layout keys by :func:`to_long`.
    compact : collection of str
        Columns with few distinct texts (item answers) that a CSV file may return as pandas
        ``Categorical`` of text (see :func:`read_delimited`); every other reader ignores it.

    Returns
    -------
    RawFrame
        Every cell as text, ``provenance`` with ``_source_file``, ``_source_row``, ``_sheet``.

    Raises
    ------
    DataValidationError
        The file is missing, empty, header-only, binary, undecodable, single-column, or of an
        unknown format; the message names the file and what to do.

    Examples
    --------
    >>> from mentor_eval.resources import sample_study_dir
    >>> raw = read_file(sample_study_dir() / "participants.csv")  # doctest: +SKIP
    >>> raw.provenance["_source_row"].iloc[0]  # doctest: +SKIP
    2
    """
    if isinstance(spec, (str, Path)):
        path, fmt = Path(spec), None
        spec = None
    else:
        path, fmt = Path(spec.path), spec_get(spec, "format")
    fmt = fmt.lower() if isinstance(fmt, str) else None
    if fmt is None:
        fmt = _EXTENSIONS.get(path.suffix.lower())
        if fmt is None:
            if path.suffix.lower() == ".xls":
                raise unusable(path, "is an old Excel .xls workbook.", "Save it as .xlsx or CSV.")
            raise unusable(path, f"has the extension {path.suffix or '(none)'!r}, which names no known format.",
                           f"Set format to one of {', '.join(FORMATS)} for this file in the study.")
    if fmt not in FORMATS:
        raise unusable(path, f"has format {fmt!r} in the study.", f"Use one of {', '.join(FORMATS)}.")
    encoding = spec_get(spec, "encoding") if spec is not None else None
    delimiter = spec_get(spec, "delimiter") if spec is not None else None
    if fmt == "csv":
        return read_delimited(path, encoding=encoding, delimiter=delimiter, compact=compact)
    if fmt == "qualtrics":
        return read_qualtrics(path, encoding=encoding, delimiter=delimiter)
    if fmt == "redcap":
        return read_redcap(path, encoding=encoding, delimiter=delimiter)
    if fmt == "xlsx":
        return read_excel(path, sheet=spec_get(spec, "sheet") if spec is not None else None)
    return read_sav(path, encoding=encoding)
