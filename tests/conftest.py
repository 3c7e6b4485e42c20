"""Shared fixtures: the real data in ../shared and one VGG-16 for the session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTSTYLE_SHARED", REPO.parent / "shared"))


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "photos").is_dir():
        pytest.fail(f"test data not found at {SHARED} (photos, styles, video); set RTSTYLE_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def photo(shared: Path) -> Path:
    return shared / "photos" / "054_chelsea.jpg"


@pytest.fixture(scope="session")
def painting(shared: Path) -> Path:
    return shared / "styles" / "starry_night.jpg"


@pytest.fixture(scope="session")
def vgg():
    from rtstyle_train.vgg import load_vgg16

    return load_vgg16("relu4_3")
