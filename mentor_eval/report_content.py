"""Deprecated alias of the report package's content modules; import from :mod:`mentor_eval.report`.

Kept for one release so notebooks and scripts written against 0.1 keep working:
``protect`` is in :mod:`mentor_eval.report.protect`, the ``*_table`` functions in
:mod:`mentor_eval.report.tables`, the ``*_figure`` functions in
:mod:`mentor_eval.report.figures`, labels in :mod:`mentor_eval.report.names` and the
HTML helpers in :mod:`mentor_eval.report.html`.
"""

from mentor_eval.report.export import *  # noqa: F403
from mentor_eval.report.figures import *  # noqa: F403
from mentor_eval.report.html import arm_cards_html, bullets_html, paragraphs_html  # noqa: F401
from mentor_eval.report.names import *  # noqa: F403
from mentor_eval.report.protect import *  # noqa: F403
from mentor_eval.report.tables import *  # noqa: F403
