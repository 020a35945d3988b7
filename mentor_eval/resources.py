"""Where the files shipped with mentor-eval live.

In a wheel the instrument definitions, the sample study and the notebooks are
installed inside the package (``mentor_eval/_instruments`` etc., see
``pyproject.toml``); in a source checkout they sit at the repository's top level.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator
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
    """Context manager running BLAS on one thread (no-op when that cannot be controlled).

    The statistical engines work on small matrices (p x p, groups x p); a multi-threaded
    OpenBLAS on a busy machine spends more time spinning its threads than computing. On Linux
    the OpenBLAS libraries loaded in the process (numpy's and scipy's) are found in
    ``/proc/self/maps`` and set directly; elsewhere threadpoolctl is used (its library scan
    costs ~0.1 s once per process).
    """
    handles = _openblas_handles()
    if handles:
        return _limit_openblas(handles)
    controller = _blas_controller()
    if controller is None:  # threadpoolctl missing: only a speed matter
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@contextlib.contextmanager
def _limit_openblas(handles: list[tuple[Any, Any]]) -> Iterator[None]:
    old = [get() for get, _ in handles]
    for _, set_threads in handles:
        set_threads(1)
    try:
        yield
    finally:
        for (_, set_threads), n in zip(handles, old, strict=True):
            set_threads(n)


@functools.lru_cache(maxsize=1)
def _openblas_handles() -> list[tuple[Any, Any]]:
    """(get, set) thread-count functions of each OpenBLAS library loaded (Linux only)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = sorted({line.split()[-1] for line in maps.splitlines()
                    if line.split()[-1].startswith("/")
                    and "openblas" in line.split()[-1].rsplit("/", 1)[-1].lower()})
    handles = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_{}_num_threads64_", "scipy_openblas_{}_num_threads",
                     "openblas_{}_num_threads64_", "openblas_{}_num_threads"):
            get = getattr(lib, name.format("get"), None)
            set_threads = getattr(lib, name.format("set"), None)
            if get is not None and set_threads is not None:
                get.restype = ctypes.c_int
                set_threads.argtypes = [ctypes.c_int]
                handles.append((get, set_threads))
                break
    return handles


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    # Inspecting the loaded libraries costs ~0.1 s in a fresh process; do it once, not per fit.
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()
