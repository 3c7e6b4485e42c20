"""The one table of model formats. The exporter, the runtime's backend choice, the CLI's choices and the test matrix
all read it (ultralytics' `export_formats()`, as plain records)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rtstyle.errors import RtstyleError


@dataclass(frozen=True)
class Format:
    name: str  # as the CLI spells it
    suffix: str  # file suffix
    backend: str  # module in rtstyle.backends that runs it
    runtime: str  # the library that module imports
    extra: str  # pip extra that installs that library ("" = always installed)
    made_from: str | None  # the format `rtstyle export --format NAME` converts from (None: made by training)
    gpu_only: bool
    summary: str


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("torch", ".pt", "torch", "torch", "train", None, False, "training checkpoint; PyTorch CPU or CUDA"),
    Format("onnx", ".onnx", "onnxrt", "onnxruntime", "", "torch", False,
           "ONNX Runtime: CPU, or CUDA / TensorRT execution providers with onnxruntime-gpu"),
    Format("tensorrt", ".engine", "tensorrt", "tensorrt", "gpu", "onnx", True,
           "serialized TensorRT engine with an rtstyle header; NVIDIA GPUs"),
)}


def format_of(path: str | Path) -> Format:
    """The format of a model file, by its suffix."""
    suffix = Path(path).suffix.lower()
    for fmt in FORMATS.values():
        if fmt.suffix == suffix:
            return fmt
    known = ", ".join(f"{f.suffix} ({f.name})" for f in FORMATS.values())
    raise RtstyleError(f"not a model file: {path} (expected {known})")
