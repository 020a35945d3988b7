"""Psychometrics: reliability (alpha, omega, item statistics), CFA and measurement invariance.

The public functions share their names with the modules that define them
(``reliability``, ``cfa``, ``invariance``), so they are imported eagerly: a lazy lookup
would be shadowed by the submodule once it is imported.
"""

from __future__ import annotations

from mentor_eval.psychometrics.cfa import CFAResult, cfa, parse_model
from mentor_eval.psychometrics.invariance import invariance
from mentor_eval.psychometrics.reliability import item_stats, reliability, scale_reliability

__all__ = ["CFAResult", "cfa", "invariance", "item_stats", "parse_model", "reliability", "scale_reliability"]
