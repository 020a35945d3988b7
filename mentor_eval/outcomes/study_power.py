"""Re-export of :mod:`mentor_eval.power_study` (simulation-based study power now lives above both
the outcome analyses and the simulator, which it combines)."""

from mentor_eval.power_study import simulated_frame, study_power

__all__ = ["study_power", "simulated_frame"]
