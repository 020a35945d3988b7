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
    labels = scale.labels if isinstance(scale, ResponseScale) else scale
    return {normalize_label(v): int(k) for k, v in labels.items()}


def _cast_numbers(values: pd.Series) -> np.ndarray | None:
    """Fast path: a pyarrow-backed column whose every cell is a plain number (or empty)."""
    arr = getattr(values.array, "_pa_array", None)
    if arr is None:
        return None
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        out = pc.cast(arr, pa.float64())
    except Exception:  # any text cell: take the exact path over distinct values
        return None
    v = out.to_numpy(zero_copy_only=False)
    if np.isinf(v).any():
        return None  # "inf" and friends: let the exact path judge them
    return v


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
    """

    codes: np.ndarray
    failed: np.ndarray
    n_labelled: int

    @property
    def n_failed(self) -> int:
        return int(self.failed.sum())


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
        ``codes`` (float, NaN for missing and failed cells), ``failed`` mask, ``n_labelled``.

    Notes
    -----
    Missing: empty cells and the tokens in :data:`MISSING_TOKENS` ("NA", "N/A", ".", ...).
    Numbers are not checked against the scale here (range and whole-number rules belong to
    validation); "2.5" maps to 2.5.

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
    fast = _cast_numbers(values)
    if fast is not None:
        return LabelMapping(fast, np.zeros(len(fast), dtype=bool), 0)
    if labels is None:
        lookup: Mapping[str, int] = {}
    elif isinstance(labels, (ResponseScale, Instrument)):
        lookup = label_codes(labels)
    else:
        lookup = labels
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
    return LabelMapping(u_codes[idx], u_failed[idx], int(u_label[idx].sum()))
