"""Turn answer cells (numbers or answer labels, as text) into response codes.

Survey platforms export either codes ("7") or the answer text ("Mostly true"). Both map to
the instrument's integer codes here: numeric text is read as a number; other text is looked up
among the response-scale labels ignoring case and surrounding / repeated white space
(" definitely TRUE " -> 8 on the 8-point Adult Hope Scale). Text that is neither is never turned
into a missing value: it is returned as a failure with its original text.

Work is done once per distinct value of a column (``pandas.factorize``), so a million rows
with ten distinct answers cost ten look-ups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mentor_eval.instruments import Instrument, ResponseScale

__all__ = ["MISSING_TOKENS", "normalize_label", "label_codes", "LabelMapping", "map_labels"]

#: Cell texts read as "no answer" (compared after lower-casing and trimming).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "."})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def normalize_label(text: object) -> str:
    """Lower-case ``text`` and collapse white space: ``" Definitely  TRUE "`` -> ``"definitely true"``."""
    return " ".join(str(text).lower().split())


def label_codes(scale: ResponseScale | Instrument | Mapping[int, str]) -> dict[str, int]:
    """Normalised answer label -> code for a response scale (or an instrument's current form)."""
    if isinstance(scale, Instrument):
        scale = scale.response_scale
    if isinstance(scale, ResponseScale):
        return {normalize_label(v): int(k) for v, k in scale.all_labels().items()}
    return {normalize_label(v): int(k) for k, v in scale.items()}


# Whole numbers of up to 9 digits are exact in float64 and int64, and their text is the plain
# decimal form of the code, so such cells need no text kept for reporting (see ``as_code``).
_MAX_DIGITS = 9


def _arrow_chunks(values: pd.Series) -> list | None:
    """The pyarrow string chunks behind a text column, or None (then the exact path is used)."""
    arr = getattr(values.array, "_pa_array", None)
    if arr is None:
        return None
    import pyarrow as pa

    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    if not all(pa.types.is_large_string(c.type) or pa.types.is_string(c.type) for c in chunks):
        return None
    return chunks


def _digit_chunk(chunk, codes: np.ndarray, rest: np.ndarray) -> None:
    """Read plain digit cells ("7", "42"; no sign, point, space or leading zero) from the buffers.

    Fills ``codes`` (NaN where not read) and ``rest``, the mask of non-null cells left for the
    exact path. One vectorised pass per cell length over the raw bytes; no Python objects per
    cell.
    """
    import pyarrow as pa

    n = len(chunk)
    _, offsets_buf, data_buf = chunk.buffers()[:3]
    off_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=off_type, count=chunk.offset + n + 1)[chunk.offset:]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    starts = offsets[:-1]
    lengths = np.diff(offsets)
    # every non-null cell ("" included) is left for the exact path unless read below
    if chunk.null_count:
        np.logical_not(chunk.is_null().to_numpy(zero_copy_only=False), out=rest)
        lengths[~rest] = 0
    else:
        rest[:] = True
    codes[:] = np.nan
    one = np.flatnonzero(lengths == 1)
    if len(one):
        digit = data[starts[one]] - np.uint8(48)  # wraps around for bytes below "0"
        ok = digit <= 9
        codes[one[ok]] = digit[ok]
        rest[one[ok]] = False
    longer = np.flatnonzero((lengths > 1) & (lengths <= _MAX_DIGITS))
    if len(longer):
        for size in np.unique(lengths[longer]).tolist():
            rows = longer[lengths[longer] == size]
            first = starts[rows]
            value = np.zeros(len(rows), dtype=np.int64)
            ok = data[first] != 48  # a leading zero ("07") is kept as text
            for k in range(size):
                digit = data[first + k] - np.uint8(48)
                ok &= digit <= 9
                value = value * 10 + digit
            codes[rows[ok]] = value[ok]
            rest[rows[ok]] = False


@dataclass(frozen=True)
class LabelMapping:
    """Result of :func:`map_labels` for one column.

    Attributes
    ----------
    codes : numpy.ndarray of float
        The number for each cell (NaN: missing or not mappable).
    failed : numpy.ndarray of bool
        Cells holding text that is neither a number nor a known label.
    n_labelled : int
        Cells that were answer labels (text) mapped to codes.
    as_code : numpy.ndarray of bool or None
        Cells whose text is exactly the plain decimal form of their code ("7" for 7) or that are
        empty (no text at all): their text can be rebuilt from ``codes``, so a caller need not
        keep it. ``None`` when not determined (the column was not text).
    """

    codes: np.ndarray
    failed: np.ndarray
    n_labelled: int
    as_code: np.ndarray | None = None

    @property
    def n_failed(self) -> int:
        return int(self.failed.sum())


def _map_distinct(values: pd.Series, lookup: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exact path: codes, failed and labelled masks, judged once per distinct text."""
    idx, uniques = pd.factorize(values, use_na_sentinel=True)
    n_u = len(uniques)
    u_codes = np.full(n_u + 1, np.nan)  # last slot: missing (sentinel -1)
    u_failed = np.zeros(n_u + 1, dtype=bool)
    u_label = np.zeros(n_u + 1, dtype=bool)
    for k, u in enumerate(uniques):
        text = str(u).strip()
        if text.lower() in MISSING_TOKENS:
            continue
        if _NUMBER.match(text):
            u_codes[k] = float(text)
            continue
        code = lookup.get(normalize_label(text))
        if code is None:
            u_failed[k] = True
        else:
            u_codes[k] = code
            u_label[k] = True
    return u_codes[idx], u_failed[idx], u_label[idx]


def _map_categorical(values: pd.Series, lookup: Mapping[str, int]) -> LabelMapping:
    """Categorical text (compact reading): judge each category once, then spread by the cell codes."""
    categories = values.cat.categories
    u_codes, u_failed, u_label = _map_distinct(pd.Series(categories), lookup)
    as_code = None
    if pd.api.types.is_string_dtype(categories.dtype):
        # whole codes below 2**53 print back exactly; "7" is rebuilt from 7, "07" or "7.0" are not
        u_as_code = np.array([bool(abs(c) < 2.0**53) and c == int(c) and str(int(c)) == str(t)
                              for t, c in zip(categories, u_codes, strict=True)], dtype=bool)
        as_code = np.append(u_as_code, True)
    # cell code -1 (missing) picks the appended last slot
    idx = values.cat.codes.to_numpy()
    n = len(idx)
    n_labelled = int(np.bincount(idx + 1, minlength=len(categories) + 1)[1:][u_label].sum())
    # masks that are the same for every category need no pass over the cells
    failed = np.append(u_failed, False)[idx] if u_failed.any() else np.zeros(n, dtype=bool)
    if as_code is not None:
        as_code = np.ones(n, dtype=bool) if as_code.all() else as_code[idx]
    return LabelMapping(np.append(u_codes, np.nan)[idx], failed, n_labelled, as_code=as_code)


def map_labels(values: pd.Series, labels: Mapping[str, int] | ResponseScale | Instrument | None = None
               ) -> LabelMapping:
    """Map text cells to numeric codes through answer labels.

    Parameters
    ----------
    values : pandas.Series
        Cells as text (or numbers; then returned as they are).
    labels : mapping or ResponseScale or Instrument, optional
        Normalised label -> code (see :func:`label_codes`), or a scale / instrument to take them
        from. ``None``: numbers only.

    Returns
    -------
    LabelMapping
        ``codes`` (float, NaN for missing and failed cells), ``failed`` mask, ``n_labelled``,
        ``as_code`` (cells whose text is rebuilt exactly from the code).

    Notes
    -----
    Missing: empty cells and the tokens in :data:`MISSING_TOKENS` ("NA", "N/A", ".", ...).
    Numbers are not checked against the scale here (range and whole-number rules belong to
    validation); "2.5" maps to 2.5.

    Speed: for a pyarrow-backed text column (what the readers produce) cells that are plain
    digits ("7", "42") are read straight from the column's bytes in vectorised passes; every
    other cell (labels, signs, decimals, spaces, leading zeros) goes through the exact path,
    once per distinct text. Both give the same code for the same text.

    Examples
    --------
    >>> import pandas as pd
    >>> from mentor_eval.instruments import load_instrument
    >>> m = map_labels(pd.Series([" definitely TRUE ", "3", None, "maybe"]),
    ...                load_instrument("adult_hope_scale"))
    >>> m.codes.tolist()[:2], m.failed.tolist()
    ([8.0, 3.0], [False, False, False, True])
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        v = values.to_numpy(dtype=float, na_value=np.nan)
        return LabelMapping(v, np.zeros(len(v), dtype=bool), 0)
    if labels is None:
        lookup: Mapping[str, int] = {}
    elif isinstance(labels, (ResponseScale, Instrument)):
        lookup = label_codes(labels)
    else:
        lookup = labels
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _map_categorical(values, lookup)
    chunks = _arrow_chunks(values)
    if chunks is None:
        codes, failed, labelled = _map_distinct(values, lookup)
        return LabelMapping(codes, failed, int(labelled.sum()), as_code=values.isna().to_numpy(dtype=bool))
    n = len(values)
    codes = np.empty(n)
    rest = np.empty(n, dtype=bool)
    pos = 0
    for chunk in chunks:
        _digit_chunk(chunk, codes[pos:pos + len(chunk)], rest[pos:pos + len(chunk)])
        pos += len(chunk)
    failed = np.zeros(n, dtype=bool)
    n_labelled = 0
    rows = np.flatnonzero(rest)
    if len(rows):
        sub_codes, sub_failed, sub_labelled = _map_distinct(values.iloc[rows], lookup)
        codes[rows] = sub_codes
        failed[rows] = sub_failed
        n_labelled = int(sub_labelled.sum())
    return LabelMapping(codes, failed, n_labelled, as_code=~rest)
