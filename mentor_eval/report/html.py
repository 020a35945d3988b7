"""HTML pieces of a report: escaping user strings, accessible tables, prose blocks.

Every user-supplied string (arm labels, site names, item texts) is escaped exactly once,
where it is put into HTML.
"""

from __future__ import annotations

import html
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval._params import check_columns
from mentor_eval.errors import ParameterError
from mentor_eval.report.disclosure import SUPPRESSED, reason_text

__all__ = ["escape", "escape_frame", "display_frame", "table_html", "paragraphs_html", "bullets_html",
           "arm_cards_html"]

# --------------------------------------------------------------------------- escaping


def escape(text: Any) -> str:
    """Escape a user-supplied value for HTML.

    Parameters
    ----------
    text : object
        Any value; it is converted with ``str``. ``None`` and missing values give ``""``.

    Returns
    -------
    str
        The text with ``& < > " '`` replaced by character references
        (:func:`html.escape` with ``quote=True``), safe inside element content and
        inside quoted attribute values.

    Notes
    -----
    Escape at the point where text is put into HTML, exactly once. Plotly labels
    may also be escaped: plotly.js decodes character references when it draws
    text, so ``&lt;b&gt;`` shows as the characters ``<b>``.

    References
    ----------
    .. [1] OWASP Cross Site Scripting Prevention Cheat Sheet, rule 1 (HTML encode
       before inserting untrusted data into element content).

    Examples
    --------
    >>> escape('<script>alert("x")</script>')
    '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
    """
    if text is None:
        return ""
    try:
        if pd.isna(text):
            return ""
    except (TypeError, ValueError):  # list-likes: pd.isna returns an array
        pass
    return html.escape(str(text), quote=True)


def _escape_label(label: Any) -> Any:
    if isinstance(label, tuple):
        return tuple(_escape_label(part) for part in label)
    if isinstance(label, str):
        return escape(label)
    return label


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` whose strings are HTML-escaped.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any frame.

    Returns
    -------
    pandas.DataFrame
        Same shape and order. String cells (in object, string and categorical
        columns), column labels and index labels are escaped with :func:`escape`;
        numbers, booleans and missing values are unchanged.

    Notes
    -----
    Use it before building HTML from a frame by hand, or before passing it to a
    renderer that does not escape. Do not escape twice (``&amp;lt;`` would show).

    Examples
    --------
    >>> import pandas as pd
    >>> escape_frame(pd.DataFrame({"arm": ["<b>A</b>"]})).iloc[0, 0]
    '&lt;b&gt;A&lt;/b&gt;'
    """
    check_columns("escape_frame", frame, [], what="frame")
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.cat.rename_categories([_escape_label(c) for c in s.cat.categories])
        elif s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            # Only genuine str cells are escaped; numbers in object columns stay numbers.
            is_str = s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
            if is_str.any():
                s = s.astype(object).copy()
                s[is_str] = [escape(v) for v in s[is_str]]
        out[col] = s
    out.columns = out.columns.map(_escape_label)
    out.index = out.index.map(_escape_label)
    if isinstance(out.index, pd.MultiIndex) or out.index.name is not None:
        out.index.names = [_escape_label(n) for n in out.index.names]
    return out



# --------------------------------------------------------------------------- display


def _suppressed_mask(frame: pd.DataFrame, col: Hashable) -> np.ndarray:
    """Where a value of ``col`` is missing because of suppression (not ordinary missingness)."""
    own = f"{col}_suppressed"
    if own in frame.columns:
        flag = frame[own].to_numpy(dtype=bool)
    elif "suppressed" in frame.columns:
        flag = frame["suppressed"].fillna(False).to_numpy(dtype=bool)
    else:
        return np.zeros(len(frame), dtype=bool)
    return flag & frame[col].isna().to_numpy()


def _flag_columns(frame: pd.DataFrame) -> list[Hashable]:
    return [
        c
        for c in frame.columns
        if c in ("suppressed", "suppression") or (isinstance(c, str) and c.endswith("_suppressed"))
    ]


def _is_p_column(name: Hashable) -> bool:
    """A column of p-values by its name: ``p``, ``pvalue``, ``Adjusted p``, ``p (unadjusted)``, ``p change``."""
    t = str(name).strip().lower()
    return t in ("p", "p_adj", "pvalue", "p_value", "wilcoxon_p", "p_diff") or t.endswith(" p") or t.startswith(
        ("p (", "p change"))


def _format_p(v: float) -> str:
    if v < 0.001:
        return "< 0.001"
    if v < 0.1:
        return f"{v:.3f}"
    return f"{v:.2f}"


def display_frame(
    frame: pd.DataFrame,
    *,
    marker: str = SUPPRESSED,
    missing: str = "",
    float_format: str = "{:.2f}",
    drop_flags: bool = True,
) -> pd.DataFrame:
    """Text version of a (suppressed) results frame, ready to show.

    Parameters
    ----------
    frame : pandas.DataFrame
        Typically the output of :func:`suppress_small_cells`.
    marker : str, default "suppressed"
        Shown where a value is missing because it was suppressed.
    missing : str, default ""
        Shown where a value is missing for any other reason.
    float_format : str, default "{:.2f}"
        Format of non-integer numbers.
    drop_flags : bool, default True
        Drop the ``suppressed``, ``suppression`` and ``*_suppressed`` columns.

    Returns
    -------
    pandas.DataFrame
        Same rows; every cell a Python ``str`` (not escaped).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"n": pd.array([None, 12], dtype="Int64"), "suppressed": [True, False]})
    >>> display_frame(t)["n"].tolist()
    ['suppressed', '12']
    """
    check_columns("display_frame", frame, [], what="frame")
    flags = _flag_columns(frame)
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        if drop_flags and col in flags:
            continue
        s = frame[col]
        sup = _suppressed_mask(frame, col) if col not in flags else np.zeros(len(frame), dtype=bool)
        na = s.isna().to_numpy()
        p_col = _is_p_column(col) and pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        text = np.empty(len(s), dtype=object)
        for i, v in enumerate(s.tolist()):
            if sup[i]:
                text[i] = marker
            elif na[i]:
                text[i] = missing
            elif isinstance(v, bool | np.bool_):
                text[i] = "yes" if v else "no"
            elif p_col and isinstance(v, float | np.floating | int | np.integer):
                text[i] = _format_p(float(v))
            elif isinstance(v, float | np.floating):
                text[i] = str(int(v)) if float(v).is_integer() and pd.api.types.is_integer_dtype(s) else (
                    float_format.format(v)
                )
            else:
                text[i] = str(v)
        out[col] = text
    return out


_REASON_ORDER = ["primary", "secondary", "derived"]


def table_html(
    frame: pd.DataFrame,
    caption: str,
    *,
    index: bool = False,
    row_header: Hashable | None = None,
    marker: str = SUPPRESSED,
    missing: str = "",
    float_format: str = "{:.2f}",
    labels: Mapping[Hashable, str] | None = None,
    min_cell: int | None = None,
) -> str:
    """Render a frame as an accessible, escaped HTML table.

    Parameters
    ----------
    frame : pandas.DataFrame
        Values to show (suppression flags, if present, select the marker and are
        not shown as columns).
    caption : str
        Visible ``<caption>`` (required: a table without one is not accessible).
    index : bool, default False
        Show the index as the first column (row headers).
    row_header : column label, optional
        Column whose cells are row headers (``<th scope="row">``); defaults to the
        index when ``index=True``, otherwise the first column.
    marker, missing, float_format
        As in :func:`display_frame`.
    labels : mapping, optional
        Display names for columns (``{"ci_low": "95% CI low"}``).
    min_cell : int, optional
        The suppression threshold, named in the reasons (default: from
        ``frame.attrs["suppression"]`` when present).

    Returns
    -------
    str
        ``<div class="me-table-wrap"><table class="me-table">...`` with a caption,
        ``<th scope="col">`` headers and ``<th scope="row">`` row headers. Every
        caption, label and cell is escaped with :func:`escape`; suppressed cells
        carry ``class="me-suppressed"``.

    Notes
    -----
    The HTML is built here, not with ``DataFrame.to_html``, so escaping is applied
    to every piece exactly once. The wrapper scrolls sideways on a phone instead of
    widening the page.

    Examples
    --------
    >>> import pandas as pd
    >>> html_ = table_html(pd.DataFrame({"arm": ["<i>x</i>"], "n": [12]}), "Counts")
    >>> "<i>" in html_, "&lt;i&gt;x&lt;/i&gt;" in html_
    (False, True)
    """
    check_columns("table_html", frame, [], what="frame")
    if not isinstance(caption, str) or not caption.strip():
        raise ParameterError("The 'caption' parameter of table_html must be a non-empty string; got "
                             f"{caption!r}.")
    shown = frame.reset_index() if index else frame
    text = display_frame(shown, marker=marker, missing=missing, float_format=float_format)
    flags = set(_flag_columns(shown))
    cols = [c for c in shown.columns if c not in flags]
    if row_header is None and cols:
        row_header = cols[0]
    names = dict(labels or {})
    sup = {c: _suppressed_mask(shown, c) for c in cols}
    numeric = {c: pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c]) for c in cols}
    parts = ['<div class="me-table-wrap"><table class="me-table">', f"<caption>{escape(caption)}</caption>"]
    parts.append("<thead><tr>")
    text_cls = ' class="me-text"'
    parts.extend(f'<th scope="col"{"" if numeric[c] else text_cls}>{escape(names.get(c, c))}</th>' for c in cols)
    parts.append("</tr></thead><tbody>")
    m = min_cell if min_cell is not None else frame.attrs.get("suppression", {}).get("min_cell")
    kinds = (shown["suppression"].astype(object).tolist() if "suppression" in shown.columns
             else [None] * len(shown))
    used_reasons: set[str] = set()
    for i in range(len(shown)):
        parts.append("<tr>")
        for c in cols:
            cls = []
            title = ""
            if sup[c][i]:
                cls.append("me-suppressed")
                kind = kinds[i] if isinstance(kinds[i], str) and kinds[i] in _REASON_ORDER else "primary"
                used_reasons.add(kind)
                title = f' title="Hidden: {escape(reason_text(kind, m))}"'
            if not numeric[c]:
                cls.append("me-text")
            attr = (f' class="{" ".join(cls)}"' if cls else "") + title
            cell = escape(text[c].iloc[i])
            if c == row_header:
                parts.append(f'<th scope="row"{attr}>{cell}</th>')
            else:
                parts.append(f"<td{attr}>{cell}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if used_reasons:
        items = "; ".join(f"{escape(reason_text(k, m))}" for k in sorted(used_reasons, key=_REASON_ORDER.index))
        parts.append(f'<p class="me-table-note">&#8220;{escape(marker)}&#8221;: hidden because {items}.</p>')
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------- prose



def paragraphs_html(paragraphs: Iterable[str], *, css_class: str = "me-prose") -> str:
    """Plain-text paragraphs as escaped ``<p>`` elements inside one ``<div>``.

    Examples
    --------
    >>> paragraphs_html(["a < b"])
    '<div class="me-prose"><p>a &lt; b</p></div>'
    """
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f'<div class="{escape(css_class)}">{body}</div>'


def bullets_html(items: Iterable[str]) -> str:
    """Plain-text items as an escaped ``<ul>`` (an empty list gives ``""``)."""
    items = list(items)
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def arm_cards_html(cards: Sequence[dict[str, Any]]) -> str:
    """The arm cards of :func:`mentor_eval.narrative.arm_cards` as escaped HTML.

    One ``<section class="me-arm-card">`` per arm with its label as a heading, the
    model name and format, the description and the two mechanisms.
    """
    parts = ['<div class="me-arm-cards">']
    for c in cards:
        n = c.get("n_enrolled")
        n_text = "number withheld (small group)" if n is None else f"{n} enrolled"
        # The control "model" has no delivery format; its name already says "no mentoring".
        fmt_text = "" if c.get("is_control") else f" ({escape(c['format_words'])})"
        mech = ""
        if not c.get("is_control"):
            mech = (f"<p><strong>How it is meant to build belonging:</strong> {escape(c['belonging_mechanism'])}</p>"
                    f"<p><strong>How it is meant to build hope:</strong> {escape(c['hope_mechanism'])}</p>")
        parts.append(
            '<section class="me-arm-card" style="border:1px solid #ccc;border-radius:6px;padding:0.6em 1em;'
            'margin:0.6em 0">'
            f"<h4>{escape(c['label'])}</h4>"
            f"<p><em>Model: {escape(c['model_name'])}{fmt_text}; {escape(n_text)}.</em></p>"
            f"<p>{escape(c['description'])}</p>{mech}</section>"
        )
    parts.append("</div>")
    return "".join(parts)


