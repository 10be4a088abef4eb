"""Shared fixtures: the repository root and the read-only real data beside it (../shared/data)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "go" / "go-basic.obo").exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (expected ../shared/data beside the repository)")
    return SHARED_DATA
