"""Shared fixtures: the real data in ../shared and one VGG-16 for the session."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTSTYLE_SHARED", REPO.parent / "shared"))


# Tests that need a system tool say so in their skip reason: "needs Chromium (Debian package chromium)".
SYSTEM_TOOL = re.compile(r"\(Debian packages? ([^)]*)\)")


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: the line comes after pytest's own short summary
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line at the end naming the tests skipped for a missing system tool and how to run them: on a newcomer's
    machine the window and browser tests would otherwise skip silently among the rest."""
    result = yield
    names, packages = [], []
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        match = SYSTEM_TOOL.search(reason)
        if match:
            names.append(report.nodeid.split("::")[-1])
            packages += [name.strip() for name in match.group(1).split(",")]
    if names:
        terminalreporter.write_line(f"{len(names)} skipped for want of a system tool ({', '.join(names)}): "
                                    f"sudo apt-get install {' '.join(dict.fromkeys(packages))} to run them")
    return result


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


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Every family exported once to ONNX (cin also as fp16): {family: (model, meta, [ExportReport])}."""
    from helpers import make_checkpoint
    from rtstyle_export.onnx import export_onnx

    folder = tmp_path_factory.mktemp("models")
    out = {}
    for family in ("feedforward", "cin", "arbitrary"):
        model, meta = make_checkpoint(folder / f"{family}.pt", family)
        precisions = ("fp32", "fp16") if family == "cin" else ("fp32",)
        out[family] = (model, meta, export_onnx(folder / f"{family}.pt", precisions=precisions, log=lambda _: None))
    return out


@pytest.fixture(scope="session")
def cin_onnx(exported) -> Path:
    return exported["cin"][2][0].path
