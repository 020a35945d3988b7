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
import pandas as pd

from mentor_eval.io.raw import RawFrame, as_text_frame, make_issues, make_provenance, unusable

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
    issues = []
    if _has_formulas(path):
        # A formula the file holds no computed value for (written by a program, never opened in
        # Excel) reads as empty; keep its formula text instead, so the cell fails validation by name.
        uncached = _uncached_formulas(path, sheet_name, numbers, width)
        if uncached:
            pos = {r: i for i, r in enumerate(numbers)}
            rows = [list(r) for r in rows]
            for (r, j), formula in uncached.items():
                rows[pos[r]][j] = formula
            issues.append(make_issues(
                [r for r, _ in uncached], [header[j] for _, j in uncached], list(uncached.values()),
                "formula_without_value",
                "a formula cell without a computed value (the file was written by a program and never "
                "recalculated); open it in Excel and save it, or paste the values, then read it again"))
    cols = {h: [row[i] if i < len(row) else None for row in rows] for i, h in enumerate(header)}
    data = as_text_frame(cols)
    notes = []
    if header_row != 1:
        notes.append(f"{path.name}: header found on row {header_row} of sheet {sheet_name!r}.")
    unnamed = [(r, j, row[j]) for r, row in zip(numbers, rows, strict=True) for j in range(width, len(row))
               if row[j] is not None and not (isinstance(row[j], str) and not row[j].strip())]
    if unnamed:
        from openpyxl.utils import get_column_letter

        issues.append(make_issues(
            [r for r, _, _ in unnamed], [f"(unnamed column {get_column_letter(j + 1)})" for _, j, _ in unnamed],
            [v for _, _, v in unnamed], "value_in_unnamed_column",
            "a value right of the last named column is not read; give the column a name in the header row "
            "if it belongs to the data"))
        notes.append(f"{path.name}: {len({r for r, _, _ in unnamed})} row(s) have values right of the last named "
                     "column; not read (see the findings).")
    return RawFrame(
        data=data,
        provenance=make_provenance(path.name, np.asarray(numbers), sheet=sheet_name),
        source=path, format="xlsx", notes=tuple(notes),
        **({"issues": pd.concat(issues, ignore_index=True)} if issues else {}),
    )


def _has_formulas(path: Path) -> bool:
    """Whether any worksheet of the workbook holds a formula (a cheap scan of the zipped XML)."""
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    with zf.open(name) as fh:
                        tail = b""
                        while chunk := fh.read(1 << 20):
                            if b"<f>" in tail + chunk or b"<f " in tail + chunk:
                                return True
                            tail = chunk[-3:]
    except (zipfile.BadZipFile, OSError, KeyError):
        return False
    return False


def _uncached_formulas(path: Path, sheet: str, numbers: list[int], width: int) -> dict[tuple[int, int], str]:
    """(sheet row, column index) -> formula text of formula cells whose cached value is missing."""
    import openpyxl

    wanted = set(numbers)
    values = openpyxl.load_workbook(path, read_only=True, data_only=True)
    formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    out: dict[tuple[int, int], str] = {}
    try:
        rows_v = values[sheet].iter_rows(values_only=True)
        rows_f = formulas[sheet].iter_rows(values_only=True)
        for r, (vals, forms) in enumerate(zip(rows_v, rows_f, strict=False), start=1):
            if r not in wanted:
                continue
            for j in range(min(width, len(forms))):
                f = forms[j]
                if isinstance(f, str) and f.startswith("=") and (j >= len(vals) or vals[j] is None):
                    out[(r, j)] = f
    finally:
        values.close()
        formulas.close()
    return out
