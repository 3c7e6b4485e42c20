"""The test suite's own report: what a newcomer's run skipped for want of a system tool, and how to get it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py")


def test_run_ends_with_one_line_naming_tests_skipped_for_a_missing_tool(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_inner.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.skipif(True, reason='needs Xvfb and xdotool (Debian packages xvfb, xdotool)')\n"
        "def test_window():\n    pass\n\n"
        "@pytest.mark.skipif(True, reason='needs Chromium (Debian package chromium)')\n"
        "def test_browser():\n    pass\n\n"
        "@pytest.mark.skipif(True, reason='no CUDA GPU')\n"
        "def test_gpu():\n    pass\n\n"
        "def test_plain():\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout
    lines = [line for line in result.stdout.splitlines() if "for want of a system tool" in line]
    assert lines == ["2 skipped for want of a system tool (test_window, test_browser): "
                     "sudo apt-get install xvfb xdotool chromium to run them"], result.stdout
