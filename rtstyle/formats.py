"""The one table of model formats, and how the files of one model are named. The exporter, the front door's
backend choice, the CLI's choices and the error messages all read it (ultralytics' `export_formats()`, as plain
records).

An arbitrary-style model is two files, a style encoder (run when the style changes) and a stylizer (run per frame):
`NAME.encoder.onnx` + `NAME.stylizer.onnx`; an fp16 export adds `.fp16` (`NAME.stylizer.fp16.onnx`), an int8 one
`.int8` (`NAME.int8.onnx`, one-file models only).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rtstyle.errors import RtstyleError


@dataclass(frozen=True)
class Format:
    name: str  # as the CLI spells it
    suffix: str  # file suffix
    backends: tuple[str, ...]  # modules in rtstyle.backends that run it
    made_from: str | None  # the format `rtstyle export --format NAME` converts from (None: made by training)
    gpu_only: bool
    summary: str


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("torch", ".pt", ("torch",), None, False, "training checkpoint; PyTorch CPU or CUDA"),
    Format("onnx", ".onnx", ("onnxrt", "openvino"), "torch", False,
           "ONNX Runtime (CPU, or CUDA / TensorRT providers with onnxruntime-gpu) or OpenVINO (CPU, bf16 where the "
           "CPU has it)"),
    Format("tensorrt", ".engine", ("tensorrt",), "onnx", True,
           "serialized TensorRT engine with an rtstyle header; NVIDIA GPUs"),
)}
BACKENDS: tuple[str, ...] = tuple(dict.fromkeys(b for f in FORMATS.values() for b in f.backends))
PRECISION_TAGS = ("fp16", "int8", "fp32")
COMPONENT_TAGS = ("encoder", "stylizer")


def format_of(path: str | Path) -> Format:
    """The format of a model file, by its suffix."""
    suffix = Path(path).suffix.lower()
    for fmt in FORMATS.values():
        if fmt.suffix == suffix:
            return fmt
    known = ", ".join(f"{f.suffix} ({f.name})" for f in FORMATS.values())
    raise RtstyleError(f"not a model file: {path} (expected {known})")


def formats_run_by(backend: str) -> list[Format]:
    return [f for f in FORMATS.values() if backend in f.backends]


def component_path(base: Path, component: str, precision: str = "fp32", suffix: str = ".onnx") -> Path:
    """model.onnx → model.onnx | model.fp16.onnx | model.encoder.onnx | model.stylizer.fp16.onnx … (component
    "model" is a one-file model; fp32 carries no tag)."""
    parts = [model_stem(base)] + ([component] if component != "model" else []) \
        + ([precision] if precision != "fp32" else [])
    return base.with_name(".".join(parts) + suffix)


def model_stem(path: Path) -> str:
    """The model's name without component and precision tags: arbitrary.stylizer.fp16.onnx → arbitrary."""
    parts = path.name.split(".")[:-1] if "." in path.name else [path.name]
    while len(parts) > 1 and parts[-1] in PRECISION_TAGS + COMPONENT_TAGS:
        parts.pop()
    return ".".join(parts)


def is_encoder_file(path: Path) -> bool:
    return "encoder" in path.name.split(".")[1:-1]


def encoder_candidates(stylizer: Path) -> list[Path]:
    """Where the style encoder of an arbitrary-style stylizer file lies: beside it, fp32 first."""
    base = stylizer.with_suffix(".onnx")
    return [component_path(base, "encoder", precision) for precision in ("fp32", "fp16")]
