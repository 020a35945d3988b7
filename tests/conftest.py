"""Shared test configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: fixtures and reference values copied into the repository."""
    return DATA
