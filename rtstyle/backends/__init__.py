"""Inference backends, one per file. Each module defines `BACKEND`, its Backend class, and imports its runtime
library only when a model is loaded. Which backend runs which file is the format table's business
(rtstyle.formats); which one runs a given model is the front door's (rtstyle.model.open_model)."""
from __future__ import annotations

import importlib

from rtstyle.backends.base import Backend
from rtstyle.formats import BACKENDS


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    return importlib.import_module(f"rtstyle.backends.{name}").BACKEND


__all__ = ["Backend", "BACKENDS", "backend_class"]
