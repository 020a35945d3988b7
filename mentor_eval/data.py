"""AnalysisData: the validated, scored, tidy tables that every analysis reads.

Flow: ``Study`` -> :func:`mentor_eval.validation.validate_study` (clean rows +
quarantine) -> scoring of every study instrument at the waves it was given ->
the tidy long ``scores`` table -> the ``analysis`` frame (scores joined with the
participants table, one row per participant x wave x outcome).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mentor_eval.scoring import score_long
from mentor_eval.study import Study, load_study

if TYPE_CHECKING:
    from mentor_eval.validation import ValidationResult

__all__ = ["AnalysisData", "load_analysis_data", "score_study", "outcome_frame"]

SCORE_COLUMNS = ["participant_id", "wave", "instrument", "scale", "score", "n_answered", "n_items", "prorated"]


@dataclass(frozen=True)
class AnalysisData:
    """Everything an analysis needs, derived from one study.

    Attributes
    ----------
    study : Study
    participants : DataFrame
        Clean participants table (one row per participant).
    responses : DataFrame
        Clean long responses (one row per participant x wave; item columns Int64).
    scores : DataFrame
        Tidy long scores: ``participant_id``, ``wave``, ``instrument``, ``scale``,
        ``score``, ``n_answered``, ``n_items``, ``prorated``.
    analysis : DataFrame
        ``scores`` joined with ``participants`` plus ``outcome``
        (``"instrument.scale"``) and ``wave_index`` (0 = first wave).
    validation : ValidationResult or None
        The validation run that produced the clean tables.
    """

    study: Study
    participants: pd.DataFrame
    responses: pd.DataFrame
    scores: pd.DataFrame
    analysis: pd.DataFrame
    validation: Any = None

    def outcome(self, outcome: str) -> pd.DataFrame:
        """Rows of the analysis frame for one outcome (``"instrument.scale"``)."""
        self.study.resolve_outcome(outcome)
        return self.analysis[self.analysis["outcome"] == outcome]

    def items(self, instrument_id: str, wave: str | None = None) -> pd.DataFrame:
        """The item columns of one instrument (renamed to item ids), with keys and arm.

        Rows where the instrument was not administered (every item missing) are left out.
        """
        si = self.study.instrument(instrument_id)
        cols = si.item_columns()
        frame = self.responses
        if wave is not None:
            frame = frame[frame["wave"] == wave]
        present = [c for c in cols.values() if c in frame.columns]
        items = frame[["participant_id", "wave", *present]].rename(columns={v: k for k, v in cols.items()})
        items = items[items[[k for k, v in cols.items() if v in present]].notna().any(axis=1)]
        return items.merge(self.participants[["participant_id", "arm"]], on="participant_id", how="left")


def score_study(study: Study, responses: pd.DataFrame) -> pd.DataFrame:
    """Score every instrument of ``study`` on the long ``responses`` at the waves it was given.

    Returns the tidy long scores table (columns ``SCORE_COLUMNS``). Rows where an
    instrument was not answered at all (every item missing) are left out rather
    than carried as empty scores; rows with some answers but too few for a scale
    keep that scale as NaN with its ``n_answered``.
    """
    parts = []
    for si in study.instruments:
        inst = si.instrument
        rows = responses[responses["wave"].isin(si.waves)] if si.waves else responses
        # score_long checks that the item columns exist (DataValidationError naming them).
        long = score_long(rows, inst, si.columns, validate=False)
        parts.append(long[long["n_answered"] > 0])
    if not parts:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def outcome_frame(scores: pd.DataFrame, participants: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Join scores with participants and add ``outcome`` and ``wave_index``."""
    frame = scores.merge(participants, on="participant_id", how="left", validate="many_to_one")
    frame["outcome"] = frame["instrument"].astype(str) + "." + frame["scale"].astype(str)
    order = {w: i for i, w in enumerate(study.wave_keys)}
    frame["wave_index"] = frame["wave"].map(order).astype("int64")
    week = {w.key: w.week for w in study.waves}
    frame["week"] = frame["wave"].map(week).astype(float)
    return frame


def load_analysis_data(
    study: Study | str | Path | None = None,
    *,
    validation: ValidationResult | None = None,
) -> AnalysisData:
    """Validate and score a study; return the tables analyses read.

    Parameters
    ----------
    study : Study, path or None
        A loaded study, the path of a ``study.yaml``, or None for the bundled sample.
    validation : ValidationResult, optional
        A validation already run on this study (saves running it again).

    Returns
    -------
    AnalysisData

    Notes
    -----
    Only clean rows are analysed; quarantined rows are counted in
    ``AnalysisData.validation`` and reported, never silently dropped.
    """
    from mentor_eval.validation import validate_study

    st = study if isinstance(study, Study) else load_study(study)
    result = validation if validation is not None else validate_study(st)
    participants = result.participants.reset_index(drop=True)
    responses = result.responses.reset_index(drop=True)
    scores = score_study(st, responses)
    analysis = outcome_frame(scores, participants, st)
    return AnalysisData(st, participants, responses, scores, analysis, result)
