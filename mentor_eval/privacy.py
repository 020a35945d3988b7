"""Privacy on ingest: find identifying columns and replace identifiers with keyed pseudonyms.

* :func:`detect_identifying_columns` flags columns that look identifying by name (names,
  e-mail, phone, address, post code, birth date, national ids, free-text comments) or by
  content (e-mail addresses, phone numbers, long free text).
* :func:`pseudonymize` replaces identifiers with keyed hashes (HMAC-SHA256, hex, first 16
  characters). The same key gives the same pseudonym in every file, so joins still work; without
  the key the mapping cannot be rebuilt or reversed. The key comes from the environment variable
  ``MENTOR_EVAL_PSEUDONYM_KEY`` or a key file, and is never written to any output.

Small-cell suppression of reported tables lives with the reports (``mentor_eval.disclosure``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from mentor_eval._params import check_columns
from mentor_eval.errors import ParameterError, StudyConfigError

__all__ = [
    "KEY_ENV",
    "IDENTIFYING_NAME_PATTERNS",
    "detect_identifying_columns",
    "pseudonymize",
    "pseudonym_key",
]

#: Environment variable holding the pseudonymisation key.
KEY_ENV = "MENTOR_EVAL_PSEUDONYM_KEY"

# (regex on the normalised column name, reason). Names are lower-cased with every run of
# non-alphanumerics turned into "_", so "First Name" -> "first_name".
IDENTIFYING_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(^|_)(first|last|given|family|sur|full|middle|maiden|nick)_?name(_|$)", "a person's name"),
    (r"^(name|names|surname|forename|student_name|participant_name|parent_name|child_name"
     r"|recipientfirstname|recipientlastname|respondent_name)$", "a person's name"),
    (r"e_?mail", "an e-mail address"),
    (r"(phone|mobile|cell_?number|telephone|^tel$|_tel$|whatsapp)", "a phone number"),
    (r"(address|street|^addr|_addr(_|$)|house_?number|apartment|^city$|ipaddress|ip_address)",
     "an address"),
    (r"(^|_)(zip|zipcode|zip_code|postcode|post_code|postal_code|postal)(_|$)", "a post code"),
    (r"(^|_)(dob|d_o_b|birth_?date|date_of_birth|birthday|birth_day)(_|$)", "a birth date"),
    (r"(^|_)(ssn|social_security|national_id|nin|passport|driver_?s?_?licen[cs]e|medicaid|medicare"
     r"|student_number|nhs_number)(_|$)", "a national or official id"),
    (r"(^|_)(latitude|longitude|lat|lon|lng|geo|gps)(_|$)|locationlatitude|locationlongitude", "a location"),
    (r"(^|_)(comment|comments|remark|remarks|notes?|free_?text|open_?text|open_ended|other_specify"
     r"|other_text|feedback|explain|describe)(_|$)", "free-text comments"),
)
_NAME_RES = tuple((re.compile(p), why) for p, why in IDENTIFYING_NAME_PATTERNS)
_EMAIL = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
# 7-15 digits with phone punctuation, or a leading '+'; plain digit strings need 10+ digits so
# that numeric ids and amounts are not taken for phone numbers.
_PHONE = r"^(\+?[\d][\d\s().-]{5,}\d)$"


def _normal_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def _looks_phone(values: pd.Series) -> pd.Series:
    matched = values.str.match(_PHONE, na=False)
    digits = values.str.count(r"\d")
    punctuated = values.str.contains(r"[\s().+-]", regex=True, na=False)
    return matched & (digits >= 7) & (digits <= 15) & (punctuated | (digits >= 10))


def detect_identifying_columns(
    frame: pd.DataFrame,
    *,
    exclude: Iterable[str] = (),
    sample: int = 2000,
    share: float = 0.5,
    free_text_chars: int = 40,
) -> pd.DataFrame:
    """Flag columns that look identifying, by name and by content.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data as read (text cells are fine).
    exclude : iterable of str
        Columns not to inspect (keys and item columns the study declares).
    sample : int, default 2000
        Content rules look at up to this many non-empty values per column (the first ones).
    share : float, default 0.5
        A content rule flags a column when at least this share of the inspected values match.
    free_text_chars : int, default 40
        Values at least this long holding at least five words count as free text.

    Returns
    -------
    pandas.DataFrame
        One row per flagged column: ``column``, ``reason`` (e.g. "name suggests an e-mail
        address", "62% of values look like e-mail addresses"), ``by`` ("name" or "content").

    Notes
    -----
    Name rules match the lower-cased column name with punctuation folded to ``_`` against the
    patterns in :data:`IDENTIFYING_NAME_PATTERNS`. Content rules: e-mail addresses; phone
    numbers (7-15 digits with phone punctuation, or 10-15 plain digits); free text. A column
    flagged by name is not inspected by content. Detection is a safety net, not a guarantee:
    review the list.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"participant_id": ["p1"], "Email": ["a@b.org"], "age": ["14"]})
    >>> detect_identifying_columns(df, exclude=["participant_id"])["column"].tolist()
    ['Email']
    """
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(
            f"The 'frame' parameter of detect_identifying_columns must be a pandas DataFrame; got "
            f"{type(frame).__name__}."
        )
    skip = set(exclude)
    found: list[dict[str, str]] = []
    for col in frame.columns:
        if col in skip:
            continue
        norm = _normal_name(col)
        by_name = next((why for rx, why in _NAME_RES if rx.search(norm)), None)
        if by_name:
            found.append({"column": str(col), "reason": f"name suggests {by_name}", "by": "name"})
            continue
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
            continue
        values = s.dropna().astype("str").str.strip()
        values = values[values != ""].iloc[:sample]
        if len(values) == 0:
            continue
        checks = (
            ("e-mail addresses", values.str.match(_EMAIL, na=False)),
            ("phone numbers", _looks_phone(values)),
            ("free text", (values.str.len() >= free_text_chars) & (values.str.count(r"\s+") >= 4)),
        )
        for what, hit in checks:
            rate = float(np.mean(hit.to_numpy(dtype=bool)))
            if rate >= share:
                found.append({"column": str(col), "reason": f"{rate:.0%} of values look like {what}",
                              "by": "content"})
                break
    return pd.DataFrame(found, columns=["column", "reason", "by"]).astype("str")


def pseudonym_key(key: str | bytes | None = None, key_file: str | Path | None = None) -> bytes:
    """The pseudonymisation key: ``key``, else the environment variable, else ``key_file``.

    Raises
    ------
    StudyConfigError
        No key is available, or the key file cannot be read or is empty.
    """
    if key is not None:
        k = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    elif os.environ.get(KEY_ENV):
        k = os.environ[KEY_ENV].encode("utf-8")
    elif key_file is not None:
        try:
            k = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise StudyConfigError(f"The pseudonymisation key file {Path(key_file).name} cannot be read "
                                   f"({exc.strerror}).") from None
    else:
        raise StudyConfigError(
            f"Pseudonymisation needs a secret key: set the environment variable {KEY_ENV} or name a key "
            "file in the study (privacy.key_file). Keep the key out of the data folder."
        )
    if len(k) < 8:
        raise StudyConfigError("The pseudonymisation key is empty or shorter than 8 characters; use a long "
                               "random secret.")
    return k


def pseudonymize(frame: pd.DataFrame, columns: Iterable[str], key: str | bytes | None = None) -> pd.DataFrame:
    """Replace identifiers with keyed hashes.

    Parameters
    ----------
    frame : pandas.DataFrame
        Data holding the identifier columns.
    columns : iterable of str
        Columns to replace (e.g. ``["participant_id", "mentor_id"]``).
    key : str or bytes, optional
        Secret key; default: the environment variable ``MENTOR_EVAL_PSEUDONYM_KEY``.

    Returns
    -------
    pandas.DataFrame
        A copy with each value ``v`` of the columns replaced by
        ``HMAC-SHA256(key, str(v).strip())`` as hex, first 16 characters. Missing stays missing.

    Notes
    -----
    Values are hashed as trimmed text, so ``7`` and ``"7"`` get the same pseudonym in different
    files. Each distinct value is hashed once. 16 hex characters (64 bits) make an accidental
    collision negligible for any study size (about 1e-9 for 200,000 ids).

    Examples
    --------
    >>> import pandas as pd
    >>> out = pseudonymize(pd.DataFrame({"participant_id": ["p1", "p2", "p1"]}), ["participant_id"],
    ...                    key="an example key")
    >>> out["participant_id"].str.len().tolist(), out["participant_id"].nunique()
    ([16, 16, 16], 2)
    """
    cols = list(columns)
    check_columns("pseudonymize", frame, cols, what="frame")
    k = pseudonym_key(key)
    out = frame.copy()
    for col in cols:
        codes, uniques = pd.factorize(out[col], use_na_sentinel=True)
        hashed = np.array(
            [hmac.new(k, str(u).strip().encode("utf-8"), hashlib.sha256).hexdigest()[:16] for u in uniques]
            + [None], dtype=object)
        out[col] = pd.array(hashed[codes], dtype="str")
    return out
