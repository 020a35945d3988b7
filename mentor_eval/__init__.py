"""mentor-eval: evaluate whether mentorship programs raise belonging and hope.

The public API is re-exported here and imported lazily, so ``import mentor_eval``
stays fast and each area (scoring, psychometrics, outcomes, reports) loads only
when used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_API: dict[str, str] = {
    # errors
    "MentorEvalError": "mentor_eval.errors",
    "InstrumentDefinitionError": "mentor_eval.errors",
    "DataValidationError": "mentor_eval.errors",
    "StudyConfigError": "mentor_eval.errors",
    "ParameterError": "mentor_eval.errors",
    "AnalysisError": "mentor_eval.errors",
    "ReportError": "mentor_eval.errors",
    # instruments and scoring
    "Instrument": "mentor_eval.instruments",
    "load_instrument": "mentor_eval.instruments",
    "list_instruments": "mentor_eval.instruments",
    "score": "mentor_eval.scoring",
    "item_schema": "mentor_eval.schemas",
    # ingest and validation
    "read_file": "mentor_eval.io",
    "validate_study": "mentor_eval.validation",
    "ValidationResult": "mentor_eval.validation",
    "pseudonymize": "mentor_eval.privacy",
    "detect_identifying_columns": "mentor_eval.privacy",
    # study design
    "MentorshipModel": "mentor_eval.models",
    "get_model": "mentor_eval.models",
    "list_models": "mentor_eval.models",
    "Study": "mentor_eval.study",
    "load_study": "mentor_eval.study",
    "simulate_study": "mentor_eval.simulate",
    "SimulatedStudy": "mentor_eval.simulate",
    # psychometrics
    "reliability": "mentor_eval.psychometrics",
    "item_stats": "mentor_eval.psychometrics",
    "cfa": "mentor_eval.psychometrics",
    "invariance": "mentor_eval.psychometrics",
    # outcomes
    "effect_size": "mentor_eval.outcomes",
    "prepost": "mentor_eval.outcomes",
    "reliable_change": "mentor_eval.outcomes",
    "ancova": "mentor_eval.outcomes",
    "mixed_model": "mentor_eval.outcomes",
    "adjust_pvalues": "mentor_eval.outcomes",
    "cluster_robust": "mentor_eval.outcomes",
    "participant_flow": "mentor_eval.outcomes",
    "attrition": "mentor_eval.outcomes",
    "baseline_equivalence": "mentor_eval.outcomes",
    "moderation": "mentor_eval.outcomes",
    "dose_response": "mentor_eval.outcomes",
    "power_ancova": "mentor_eval.outcomes",
    "mdes_ancova": "mentor_eval.outcomes",
    "simulated_power": "mentor_eval.power_study",
    "simulated_power_ancova": "mentor_eval.power_study",
    "clustered_trial": "mentor_eval.power_study",
    "study_power": "mentor_eval.power_study",
    "simulated_frame": "mentor_eval.power_study",
    "meta_analysis": "mentor_eval.outcomes",
    "meta_regression": "mentor_eval.outcomes",
    "run_portfolio": "mentor_eval.portfolio",
    "load_portfolio": "mentor_eval.portfolio",
    "simulate_portfolio": "mentor_eval.portfolio",
    "PortfolioResult": "mentor_eval.portfolio",
    "mediation": "mentor_eval.outcomes",
    "MediationResult": "mentor_eval.outcomes",
    "cace": "mentor_eval.outcomes",
    "fidelity_summary": "mentor_eval.fidelity",
    "FidelityIndicator": "mentor_eval.models",
    "run_bootstrap": "mentor_eval.parallel",
    "resampling_plan": "mentor_eval.parallel",
    "scale_reliability": "mentor_eval.psychometrics",
    "load_analysis_data": "mentor_eval.data",
    "run_study": "mentor_eval.pipeline",
    # reports and disclosure control
    "render": "mentor_eval.report",
    "ensure_kernel": "mentor_eval.report",
    "start_kernel": "mentor_eval.report",
    "RenderResult": "mentor_eval.report",
    "suppress_small_cells": "mentor_eval.report.disclosure",
    "protect": "mentor_eval.report.protect",
    "executive_summary": "mentor_eval.report.narrative",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'mentor_eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
