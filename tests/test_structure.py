"""The package's shape: no import circle, and the runtime never imports training or export code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "import_graph.py"


def test_import_graph_has_no_circle_and_points_one_way():
    result = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "rtstyle.model " in result.stdout  # the graph was drawn, the front door in it


def test_the_circle_detector_finds_a_circle():
    sys.path.insert(0, str(TOOL.parent))
    try:
        from import_graph import cycles
    finally:
        sys.path.pop(0)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
