"""The project's error hierarchy.

Every failure a user can cause is raised as a subclass of :class:`MentorEvalError`
with a message a non-programmer can act on. The command line prints that message
without a traceback and exits with status 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

__all__ = [
    "MentorEvalError",
    "InstrumentDefinitionError",
    "DataValidationError",
    "StudyConfigError",
    "ParameterError",
    "AnalysisError",
    "ReportError",
]


class MentorEvalError(Exception):
    """Base class of every error mentor-eval raises on purpose."""


class InstrumentDefinitionError(MentorEvalError):
    """An instrument definition file (YAML) is malformed or inconsistent."""


class DataValidationError(MentorEvalError):
    """Input data break a rule (range, type, key, structure)."""


class StudyConfigError(MentorEvalError):
    """A study configuration (study.yaml) is malformed or inconsistent."""


class ParameterError(MentorEvalError, ValueError):
    """A public function was called with an argument outside its allowed values."""


class AnalysisError(MentorEvalError):
    """An analysis cannot be computed on the data given (e.g. too few observations)."""


class ReportError(MentorEvalError):
    """Rendering a report failed (a notebook cell raised, a kernel is missing, ...)."""
