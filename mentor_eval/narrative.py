"""Deprecated alias of :mod:`mentor_eval.report.narrative` (kept for one release)."""

from mentor_eval.report.narrative import *  # noqa: F403
from mentor_eval.report.narrative import __all__  # noqa: F401
