"""Excel workbooks (``.xlsx``) read as raw text cells.

Cells are turned into text: whole numbers print without a decimal point ("3", not "3.0"),
date cells as ISO 8601 ("2024-03-05" or "2024-03-05 14:30:00"). Numbers in date columns
(Excel date serials such as 45356 in a cell not formatted as a date) stay numbers here and
are converted, with a warning per cell, when dates are parsed in validation.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from mentor_eval.io.raw import RawFrame, as_text_frame, make_provenance, unusable

__all__ = ["read_excel"]


def read_excel(path: Path, *, sheet: str | None = None) -> RawFrame:
    """Read one sheet of an ``.xlsx`` workbook; the first non-empty row is the header.

    Parameters
    ----------
    path : Path
        The workbook.
    sheet : str, optional
        Sheet name; default: the first sheet.

    Returns
    -------
    RawFrame
        ``_source_row`` is the sheet's own row number; ``_sheet`` the sheet name.

    Raises
    ------
    DataValidationError
        Missing file, not a workbook, unknown sheet, empty sheet, header only.
    """
    import openpyxl

    path = Path(path)
    if not path.exists():
        raise unusable(path, f"does not exist (looked for {path}).",
                       "Check the file name and its path in the study (files section).")
    if path.stat().st_size == 0:
        raise unusable(path, "is empty.", "Save the workbook again.")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise unusable(path, f"cannot be opened as an Excel .xlsx workbook ({type(exc).__name__}).",
                       "Save it from Excel as .xlsx, or export CSV and set format: csv.") from None
    try:
        if sheet is None:
            ws = wb.worksheets[0]
        elif sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            raise unusable(path, f"has no sheet named {sheet!r}; its sheets are: {', '.join(wb.sheetnames)}.",
                           "Fix files.<table>.sheet in the study.")
        sheet_name = ws.title
        header: list[str] | None = None
        header_row = 0
        rows: list[tuple] = []
        numbers: list[int] = []
        for r, values in enumerate(ws.iter_rows(values_only=True), start=1):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            if header is None:
                header = ["" if v is None else str(v).strip() for v in values]
                header_row = r
                continue
            rows.append(values)
            numbers.append(r)
    finally:
        wb.close()
    if header is None:
        raise unusable(path, f"sheet {sheet_name!r} is empty.", "Put the header in row 1 and data below it.")
    while header and header[-1] == "":
        header.pop()
    if not rows:
        raise unusable(path, f"sheet {sheet_name!r} has a header row but no data rows.",
                       "Add the data rows below the header.")
    if any(h == "" for h in header):
        blanks = [i + 1 for i, h in enumerate(header) if h == ""]
        raise unusable(path, f"sheet {sheet_name!r} has a column without a name (column number(s) {blanks}).",
                       "Give every column a name in the header row.")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise unusable(path, f"sheet {sheet_name!r} has duplicate column names: {', '.join(dupes)}.",
                       "Rename the columns so that each name is used once.")
    width = len(header)
    cols = {h: [row[i] if i < len(row) else None for row in rows] for i, h in enumerate(header)}
    data = as_text_frame(cols)
    notes = []
    if header_row != 1:
        notes.append(f"{path.name}: header found on row {header_row} of sheet {sheet_name!r}.")
    extra = sum(1 for row in rows if any(v is not None for v in row[width:]))
    if extra:
        notes.append(f"{path.name}: {extra} row(s) have values right of the last named column; ignored.")
    return RawFrame(
        data=data,
        provenance=make_provenance(path.name, np.asarray(numbers), sheet=sheet_name),
        source=path, format="xlsx", notes=tuple(notes),
    )
