"""Show figures and tables in a report notebook so the HTML page works offline."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from mentor_eval.errors import ParameterError
from mentor_eval.report.html import escape, table_html

__all__ = ["figure_html", "show", "show_table", "reset_plotlyjs", "use_results"]

_CONFIG = {"displaylogo": False, "responsive": True}
_state: dict[str, Any] = {"bundle": None, "counter": 0}

#: Trace types drawn by the vendored partial bundle (``vendor/plotly-basic.min.js``).
BASIC_TRACES = frozenset({"scatter", "bar", "pie"})
#: plotly.js version of the vendored partial bundle; it is used only when the plotly
#: package bundles the same version.
PLOTLY_BASIC_VERSION = "4.1.1"
_VENDOR = Path(__file__).resolve().parent / "vendor" / "plotly-basic.min.js"

# --------------------------------------------------------------------------- display


def reset_plotlyjs() -> None:
    """Forget that plotly.js was embedded: the next :func:`show` embeds it again.

    Call it when outputs of earlier cells were cleared in an interactive session.
    """
    _state["bundle"] = None


def bundle_for(fig: go.Figure) -> str:
    """``"basic"`` when the partial bundle draws every trace of ``fig`` (and matches the
    plotly package's plotly.js version), else ``"full"``."""
    from plotly.offline import get_plotlyjs_version

    if get_plotlyjs_version() != PLOTLY_BASIC_VERSION or not _VENDOR.is_file():
        return "full"
    types = {t.type for t in fig.data}
    return "basic" if types <= BASIC_TRACES else "full"


@lru_cache(maxsize=2)
def _bundle_text(kind: str) -> str:
    if kind == "basic":
        return _VENDOR.read_text(encoding="utf-8")
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _plotlyjs_html(kind: str = "full") -> str:
    # plotly.js must not see an AMD loader (none is on the page: the template drops require.js).
    return (
        f'<script type="text/javascript" data-mentor-eval="plotlyjs" data-bundle="{kind}">'
        "window.PlotlyConfig = {MathJaxConfig: 'local'};\n"
        f"{_bundle_text(kind)}</script>"
    )


def figure_html(
    fig: go.Figure,
    *,
    caption: str | None = None,
    alt: str | None = None,
    include_plotlyjs: bool | str = False,
    div_id: str | None = None,
) -> str:
    """HTML fragment of one figure: ``<figure>`` with the plot div and a caption.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    caption : str, optional
        Visible caption; defaults to ``fig.layout.meta["caption"]``, else the alt text,
        else the title. The figure's note (suppressed values) is appended.
    alt : str, optional
        Text alternative; defaults to ``fig.layout.meta["alt"]``, else the title.
    include_plotlyjs : bool or {"basic", "full"}, default False
        Embed plotly.js before the figure: ``"basic"`` the vendored partial bundle
        (scatter, bar, pie; 1.2 MB), ``"full"`` the plotly package's (4.8 MB), ``True``
        the smallest that draws this figure (:func:`bundle_for`).
    div_id : str, optional
        Id of the plot div (default: ``mentor-eval-fig-<n>``, deterministic per session).

    Returns
    -------
    str
        The fragment; every text is escaped. The plot div carries ``role="img"`` and
        ``aria-label``; the plot is drawn by ``Plotly.newPlot`` with
        ``{"displaylogo": false, "responsive": true}`` and no MathJax.
    """
    if not isinstance(fig, go.Figure):
        raise ParameterError(f"The 'fig' parameter of show must be a plotly Figure; got {type(fig).__name__}.")
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    title = fig.layout.title.text or ""
    alt_text = alt or meta.get("alt") or title or "Figure"
    cap = caption or meta.get("caption") or alt_text
    note = meta.get("note")
    if div_id is None:
        _state["counter"] += 1
        div_id = f"mentor-eval-fig-{_state['counter']}"
    height = fig.layout.height
    body = fig.to_html(
        full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=div_id, config=_CONFIG,
        default_width="100%", default_height=f"{int(height)}px" if height else "450px",
    )
    anchor = f'<div id="{div_id}" class="plotly-graph-div"'
    labelled = f'{anchor} role="img" aria-label="{escape(alt_text)}"'
    if anchor not in body:  # pragma: no cover - plotly changed its markup
        raise RuntimeError("Unexpected plotly HTML: the plot div was not found.")
    body = body.replace(anchor, labelled, 1)
    note_html = f' <span class="me-note">{escape(note)}</span>' if note else ""
    if include_plotlyjs is True:
        include_plotlyjs = bundle_for(fig)
    head = _plotlyjs_html(include_plotlyjs) if include_plotlyjs else ""
    return (f'{head}<figure class="me-figure">{body}'
            f"<figcaption>{escape(cap)}{note_html}</figcaption></figure>")


def show(fig: go.Figure, *, caption: str | None = None, alt: str | None = None) -> None:
    """Display a figure in a notebook so that the rendered HTML report works offline.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        Typically made by one of this module's functions.
    caption, alt : str, optional
        Override ``fig.layout.meta["caption"]`` / ``["alt"]``.

    Returns
    -------
    None
        Emits one ``text/html`` output (with a ``text/plain`` fallback). The first
        call of a kernel session also embeds plotly.js, so the page holds it exactly
        once; later calls emit only the figure. See :func:`reset_plotlyjs`.

    Examples
    --------
    In a report notebook::

        from mentor_eval.report import display
        display.show(charts.forest_chart(effects))
    """
    from IPython.display import display

    need = bundle_for(fig)
    have = _state["bundle"]
    # the page gets plotly.js once: the partial bundle, or the full one from the first figure
    # that needs it (it replaces the partial one for every later figure)
    embed = need if have is None or (have == "basic" and need == "full") else False
    html_ = figure_html(fig, caption=caption, alt=alt, include_plotlyjs=embed)
    if embed:
        _state["bundle"] = embed
    display({"text/html": html_, "text/plain": f"<Figure: {fig.layout.title.text or 'untitled'}>"}, raw=True)


def use_results(results: Any) -> None:
    """Remember the suppression threshold of protected ``results`` so every table names it
    in its "why hidden" note (call once at the top of a report notebook)."""
    rep = getattr(results, "provenance", {}).get("report") if hasattr(results, "provenance") else None
    _state["min_cell"] = rep.get("min_cell") if rep else None


def show_table(frame: pd.DataFrame, caption: str, **kwargs: Any) -> None:
    """Display a frame as an accessible, escaped HTML table (see
    :func:`mentor_eval.report.html.table_html` for the keyword arguments)."""
    from IPython.display import display

    if not len(frame):
        display({"text/html": f'<p class="me-not-applicable">{escape(caption)}: not applicable to this study.</p>',
                 "text/plain": caption}, raw=True)
        return
    if kwargs.get("min_cell") is None and _state.get("min_cell") is not None:
        kwargs["min_cell"] = _state["min_cell"]
    html_ = table_html(frame, caption, **kwargs)
    display({"text/html": html_, "text/plain": caption}, raw=True)
