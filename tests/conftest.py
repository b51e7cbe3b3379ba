"""Shared fixtures: point the dataset cache at ``../shared/data`` when it exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

if "BAYESCALE_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["BAYESCALE_DATA_DIR"] = str(SHARED_DATA)


def _shared_data_dir() -> Path | None:
    path = os.environ.get("BAYESCALE_DATA_DIR")
    return Path(path) if path and Path(path).is_dir() else None


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The public data cache; skips the test when it is absent."""
    path = _shared_data_dir()
    if path is None:
        pytest.skip("public data cache absent: set BAYESCALE_DATA_DIR to a copy of ../shared/data")
    return path
