"""Deprecated alias: suppression is :mod:`mentor_eval.report.disclosure`, escaping and tables
:mod:`mentor_eval.report.html` (kept for one release)."""

from mentor_eval.report.disclosure import SUPPRESSED, is_derivable, suppress_small_cells  # noqa: F401
from mentor_eval.report.html import display_frame, escape, escape_frame, table_html  # noqa: F401
