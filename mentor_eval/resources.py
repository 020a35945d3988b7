"""Where the files shipped with mentor-eval live.

In a wheel the instrument definitions, the sample study and the notebooks are
installed inside the package (``mentor_eval/_instruments`` etc., see
``pyproject.toml``); in a source checkout they sit at the repository's top level.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

__all__ = ["instruments_dir", "sample_study_dir", "sample_study_path", "notebooks_dir",
           "single_thread_blas"]

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


def single_thread_blas() -> contextlib.AbstractContextManager[Any]:
    """Context manager running BLAS on one thread (no-op without threadpoolctl).

    The statistical engines work on small matrices (p x p, groups x p); a multi-threaded
    OpenBLAS on a busy machine spends more time spinning its threads than computing.
    """
    controller = _blas_controller()
    if controller is None:  # threadpoolctl missing: only a speed matter
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    # Inspecting the loaded libraries costs ~10 ms on a busy machine; do it once, not per fit.
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()
