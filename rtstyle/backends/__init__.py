"""Inference backends, one per file, chosen from the model file by the format table (rtstyle.formats)."""
from __future__ import annotations

import importlib
from pathlib import Path

from rtstyle.backends.base import Backend
from rtstyle.errors import RtstyleError
from rtstyle.formats import FORMATS, format_of

BACKEND_CLASSES = {"torch": "TorchBackend", "onnxrt": "OnnxRuntimeBackend", "tensorrt": "TensorRTBackend"}


def backend_class(name: str) -> type[Backend]:
    module = importlib.import_module(f"rtstyle.backends.{name}")  # the module imports its runtime only in load()
    return getattr(module, BACKEND_CLASSES[name])


def load_backend(path: str | Path, device: str = "auto", threads: int | None = None) -> Backend:
    """A backend for the model file (not yet loaded: use `with` or `.load()`), chosen by its format."""
    fmt = format_of(path)
    return backend_class(fmt.backend)(path, device=device, threads=threads)


__all__ = ["Backend", "FORMATS", "backend_class", "load_backend", "RtstyleError"]
