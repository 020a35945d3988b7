"""Argument checks at the public boundary, with one error style.

Every public function validates its arguments with these helpers so that messages
read the same everywhere::

    The 'alpha' parameter of ancova must be in (0, 1); got 1.5.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from mentor_eval.errors import ParameterError

__all__ = ["check_in_interval", "check_one_of", "check_columns", "check_positive_int", "check_treated_arms"]


def _fail(func: str, name: str, rule: str, value: Any) -> ParameterError:
    return ParameterError(f"The '{name}' parameter of {func} must be {rule}; got {value!r}.")


def check_in_interval(
    func: str,
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    closed: str = "neither",
) -> float:
    """Check ``low < value < high`` (``closed`` in neither|left|right|both)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise _fail(func, name, "a number", value) from None
    left_ok = v >= low if closed in ("left", "both") else v > low
    right_ok = v <= high if closed in ("right", "both") else v < high
    if not (left_ok and right_ok) or v != v:
        lb = "[" if closed in ("left", "both") else "("
        rb = "]" if closed in ("right", "both") else ")"
        raise _fail(func, name, f"in {lb}{low:g}, {high:g}{rb}", value)
    return v


def check_one_of(func: str, name: str, value: Any, options: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``options``."""
    opts = list(options)
    if value not in opts:
        shown = ", ".join(repr(o) for o in opts)
        raise _fail(func, name, f"one of {shown}", value)
    return value


def check_positive_int(func: str, name: str, value: Any, *, minimum: int = 1) -> int:
    """Check that ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        hasattr(value, "__index__")
    ):
        raise _fail(func, name, f"an integer >= {minimum}", value)
    if int(value) < minimum:
        raise _fail(func, name, f"an integer >= {minimum}", value)
    return int(value)


def check_columns(func: str, frame: pd.DataFrame, columns: Iterable[str], *, what: str = "data") -> None:
    """Check that ``frame`` is a DataFrame holding every name in ``columns``."""
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(
            f"The '{what}' parameter of {func} must be a pandas DataFrame; got {type(frame).__name__}."
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, list(frame.columns)[:20]))
        raise ParameterError(
            f"The '{what}' parameter of {func} lacks the column(s) {', '.join(map(repr, missing))}; "
            f"it has: {have}."
        )


def check_treated_arms(func: str, all_arms: list, control: Any, arms: Any) -> list:
    """The arms compared with ``control``: every other arm by default, else the listed ones.

    ``control`` must be one of ``all_arms``; ``arms`` (a name or a list) must list arms of the
    data other than the control.
    """
    if control not in all_arms:
        raise ParameterError(f"The 'control' parameter of {func} must be an arm in data {all_arms!r}; got {control!r}.")
    if arms is None:
        return [a for a in all_arms if a != control]
    arms = [arms] if isinstance(arms, str) else list(arms)
    bad = [a for a in arms if a not in all_arms or a == control]
    if bad or not arms:
        raise ParameterError(f"The 'arms' parameter of {func} must list non-control arms from {all_arms!r}; "
                             f"got {arms!r}.")
    return arms
