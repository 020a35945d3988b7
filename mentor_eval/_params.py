"""Argument checks at the public boundary, with one error style.

Every public function validates its arguments with these helpers so that messages
read the same everywhere::

    The 'alpha' parameter of ancova must be in (0, 1); got 1.5.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import pandas as pd

from mentor_eval.errors import ParameterError

__all__ = ["check_in_interval", "check_one_of", "check_columns", "check_positive_int", "check_treated_arms",
           "renamed_parameters"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: The release that drops the old spellings kept by :func:`renamed_parameters`.
REMOVED_IN = "0.3.0"


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


def renamed_parameters(renames: Mapping[str, str | tuple[str, Callable[[Any], Any]]]) -> Callable[[_F], _F]:
    """Keep accepting the old keyword of a renamed parameter for one release, with a FutureWarning.

    ``renames`` maps an old name to its new name, or to ``(new name, convert)`` when the old
    parameter meant something else (``alpha=0.05`` of an interval becomes ``ci_level=0.95``).
    Passing both the old and the new name is an error. The wrapped function keeps its
    signature (``inspect.signature`` follows ``__wrapped__``), so positional calls are unchanged.
    """
    table = {old: (new, None) if isinstance(new, str) else new for old, new in renames.items()}

    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old in [k for k in kwargs if k in table]:
                new, convert = table[old]
                if new in kwargs:
                    raise ParameterError(f"The '{old}' parameter of {func.__name__} is the old name of '{new}'; "
                                         f"pass only '{new}'.")
                value = kwargs.pop(old)
                hint = ""
                if convert is not None:
                    try:
                        converted = convert(value)
                        hint = f" ({old}={value!r} is {new}={converted!r})"
                        value = converted
                    except (TypeError, ValueError):
                        pass  # the new parameter's own check names the bad value
                warnings.warn(f"The '{old}' parameter of {func.__name__} is deprecated and will be removed in "
                              f"mentor-eval {REMOVED_IN}; use '{new}'{hint}.", FutureWarning, stacklevel=2)
                kwargs[new] = value
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def alpha_to_ci_level(alpha: Any) -> float:
    """``ci_level`` for the old ``alpha`` of an interval: 1 - alpha (``alpha=0.05`` -> 0.95)."""
    return round(1.0 - float(alpha), 12)
