"""Where the files shipped with mentor-eval live.

In a wheel the instrument definitions, the sample study and the notebooks are
installed inside the package (``mentor_eval/_instruments`` etc., see
``pyproject.toml``); in a source checkout they sit at the repository's top level.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["instruments_dir", "sample_study_dir", "sample_study_path", "notebooks_dir"]

_PKG = Path(__file__).resolve().parent
_REPO = _PKG.parent


def _first_existing(*candidates: Path) -> Path:
    for c in candidates:
        if c.exists():
            return c
    return candidates[0]


def instruments_dir() -> Path:
    """The directory of the bundled instrument definitions."""
    return _first_existing(_PKG / "_instruments", _REPO / "instruments")


def sample_study_dir() -> Path:
    """The directory of the bundled sample study."""
    return _first_existing(_PKG / "_sample", _REPO / "data" / "sample")


def sample_study_path() -> Path:
    """The ``study.yaml`` of the bundled sample study."""
    return sample_study_dir() / "study.yaml"


def notebooks_dir() -> Path:
    """The directory of the report notebooks."""
    return _first_existing(_PKG / "_notebooks", _REPO / "notebooks")
