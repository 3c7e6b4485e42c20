"""Where rtstyle keeps its cache (converted VGG-16 weights): $RTSTYLE_CACHE, else $XDG_CACHE_HOME/rtstyle, else
~/.cache/rtstyle."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    if os.environ.get("RTSTYLE_CACHE"):
        return Path(os.environ["RTSTYLE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rtstyle"
