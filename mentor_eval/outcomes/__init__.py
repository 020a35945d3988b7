"""Outcome analyses: effect sizes, pre/post change, arm comparisons, mixed models,
reliable change, design checks, multiplicity, moderators and power.

One shape for all of them: every function reads the long analysis frame through
:mod:`mentor_eval.outcomes.inputs` (the same column-name arguments and checks), returns a
:class:`~mentor_eval.outcomes.results.Result` (tables, ``method``, ``notes``, ``summary()``), and
names its columns as the "Column names" list of ``docs/architecture.md`` says (``p``, ``t``,
``n_ref``, ...). Names are imported lazily from their topic modules.
"""

from __future__ import annotations

import importlib
from typing import Any

# ``prepost``, ``mediation`` and ``cace`` are both a submodule and the function it defines: import
# the function eagerly, or the submodule would shadow it once imported (lazy lookups never run then).
from mentor_eval.outcomes.cace import cace as cace
from mentor_eval.outcomes.mediation import mediation as mediation
from mentor_eval.outcomes.prepost import prepost as prepost

_API: dict[str, str] = {
    "effect_size": "mentor_eval.outcomes.effectsize",
    "reliable_change": "mentor_eval.outcomes.change",
    "ancova": "mentor_eval.outcomes.compare",
    "adjust_pvalues": "mentor_eval.outcomes.multiplicity",
    "adjust_family": "mentor_eval.outcomes.multiplicity",
    "signed_rank_test": "mentor_eval.outcomes.prepost",
    "clinical_cutoff": "mentor_eval.outcomes.change",
    "retest_reliability": "mentor_eval.outcomes.change",
    "mixed_model": "mentor_eval.outcomes.longitudinal",
    "cluster_robust": "mentor_eval.outcomes.longitudinal",
    "participant_flow": "mentor_eval.outcomes.design",
    "attrition": "mentor_eval.outcomes.design",
    "baseline_equivalence": "mentor_eval.outcomes.design",
    "moderation": "mentor_eval.outcomes.moderators",
    "dose_response": "mentor_eval.outcomes.moderators",
    "power_ancova": "mentor_eval.outcomes.power",
    "mdes_ancova": "mentor_eval.outcomes.power",
    "cr2_fit": "mentor_eval.outcomes.clustered",
    "meta_analysis": "mentor_eval.outcomes.meta",
    "meta_regression": "mentor_eval.outcomes.meta",
    "MediationResult": "mentor_eval.outcomes.mediation",
    "Result": "mentor_eval.outcomes.results",
    "TableResult": "mentor_eval.outcomes.results",
}

# Simulation-based power combines these analyses with simulated data, so it lives above both in
# mentor_eval.power_study; the old names here still resolve, with a DeprecationWarning.
_MOVED: dict[str, str] = {
    "simulated_power": "mentor_eval.power_study",
    "simulated_power_ancova": "mentor_eval.power_study",
    "clustered_trial": "mentor_eval.power_study",
    "study_power": "mentor_eval.power_study",
    "simulated_frame": "mentor_eval.power_study",
}

__all__ = sorted([*_API, "prepost", "mediation", "cace"])


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        moved = _MOVED.get(name)
        if moved is None:
            raise AttributeError(f"module 'mentor_eval.outcomes' has no attribute {name!r}")
        import warnings

        warnings.warn(f"mentor_eval.outcomes.{name} moved to {moved}.{name} (also mentor_eval.{name}); "
                      "import it from there.", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(moved), name)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
