"""Psychometrics: reliability (alpha, omega, item statistics), CFA and measurement invariance.

Names are imported lazily from their topic modules so that importing the package is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_API: dict[str, str] = {
    "reliability": "mentor_eval.psychometrics.reliability",
    "item_stats": "mentor_eval.psychometrics.reliability",
    "scale_reliability": "mentor_eval.psychometrics.reliability",
    "cfa": "mentor_eval.psychometrics.cfa",
    "CFAResult": "mentor_eval.psychometrics.cfa",
    "parse_model": "mentor_eval.psychometrics.cfa",
    "invariance": "mentor_eval.psychometrics.invariance",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'mentor_eval.psychometrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
