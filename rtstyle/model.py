"""The front door for model files: `open_model(name_or_path)` is the one place where a model name or path is
interpreted (ultralytics' AutoBackend idea, with our one-file-per-backend layout).

    with open_model("cin-fast") as model:              # a shipped model by name, a file, or None for the default
        styles = model.styles()                        # what it offers
        frames = model.frames.infer(frames, styles[0].cond)

It resolves shipped names, reads the format table to choose a backend (`auto`: a TensorRT engine beside an ONNX
file on a GPU; OpenVINO on CPUs with bf16 units; ONNX Runtime otherwise), loads the model and, for arbitrary-style
models, its style encoder as a second real backend, and checks the metadata once. What differs between the
families (which styles exist, what a style spec means) lives in the model classes below, not in `if`s elsewhere.
"""
from __future__ import annotations

import importlib.resources
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtstyle.backends import backend_class
from rtstyle.backends.base import Backend
from rtstyle.cpu import has_bf16
from rtstyle.errors import RtstyleError
from rtstyle.formats import (
    BACKENDS,
    FORMATS,
    component_path,
    encoder_candidates,
    format_of,
    formats_run_by,
    is_encoder_file,
)
from rtstyle.images import IMAGE_SUFFIXES, read_image
from rtstyle.meta import ModelMeta
from rtstyle.processing import fit_within, frames_to_batch, resize

ASSETS = importlib.resources.files("rtstyle") / "assets"
DEFAULT_MODEL = "cin-fast"  # shipped in rtstyle/assets/models/: real time on a CPU with bf16 units, no stride grid
ENCODER_SIDE = 512  # paintings are encoded with their long side at most this


@dataclass
class Style:
    label: str
    cond: np.ndarray | None  # (1, style_dim) float32, or None for single-style models


def shipped_models() -> dict[str, Path]:
    """The models installed with rtstyle, by name (cin-fast, cin-base, arbitrary…): their frame-model files."""
    folder = Path(str(ASSETS / "models"))
    files = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    return {p.name.split(".")[0]: p for p in files
            if not is_encoder_file(p) and not {"fp16", "int8"} & set(p.name.split(".")[1:-1])}


def resolve_model(name_or_path: str | Path | None) -> Path:
    """A model file, or the name of a shipped model, or (None) the shipped default."""
    shipped = shipped_models()
    if name_or_path is None:
        if DEFAULT_MODEL not in shipped:
            raise RtstyleError("no model given and no default model installed: pass --model MODEL")
        return shipped[DEFAULT_MODEL]
    path = Path(name_or_path)
    if path.exists():
        return path
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    names = f" (shipped: {', '.join(shipped)})" if shipped else ""
    raise RtstyleError(f"model file not found: {name_or_path}{names}")


def choose_backend(path: Path, backend: str = "auto", device: str = "auto") -> tuple[str, Path]:
    """(backend name, file it runs) for a model file: the one runtime decision of the package."""
    fmt = format_of(path)
    if backend != "auto":
        if backend not in BACKENDS:
            raise RtstyleError(f"unknown backend {backend!r}; choose auto or one of {', '.join(BACKENDS)}")
        if backend not in fmt.backends:
            takes = ", ".join(f.suffix for f in formats_run_by(backend))
            raise RtstyleError(f"the {backend} backend cannot run {path.name}: it takes {takes} files")
        return backend, path
    if fmt.name != "onnx":
        return fmt.backends[0], path
    gpu = device.split(":")[0] in ("cuda", "tensorrt")
    engine = path.with_suffix(FORMATS["tensorrt"].suffix)
    if device != "cpu" and engine.is_file() and _installed("tensorrt"):
        return "tensorrt", engine
    if not gpu and has_bf16() and _installed("openvino"):
        return "openvino", path  # measured faster than ONNX Runtime on such CPUs (benchmarks/bench_speed.py)
    return "onnxrt", path


def int8_file(path: Path) -> Path:
    """The int8 version of an ONNX model: itself if it is one, else NAME.int8.onnx beside it."""
    if format_of(path).name != "onnx":
        raise RtstyleError(f"int8 runs ONNX files (NAME.int8.onnx), not {path.name}")
    if "int8" in path.name.split(".")[1:-1]:
        return path
    candidate = component_path(path, "model", "int8")
    if not candidate.is_file():
        raise RtstyleError(f"no int8 version of {path.name}: expected {candidate.name} beside it (make one with "
                           f"rtstyle export CHECKPOINT.pt --format onnx --precision int8)")
    return candidate


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def open_model(name_or_path: str | Path | None = None, backend: str = "auto", device: str = "auto",
               precision: str = "auto", threads: int | None = None) -> StyleModel:
    """Load a model (see the module doc). The result is loaded: use it in `with`, or call `close()`."""
    path = resolve_model(name_or_path)
    if precision == "int8":
        path = int8_file(path)
    name, file = choose_backend(path, backend, device)
    if is_encoder_file(file):
        raise RtstyleError(f"{file} is a style encoder; load its stylizer to stylize frames")
    frames = backend_class(name)(file, device=device, threads=threads, precision=precision).load()
    try:
        family = MODEL_CLASSES[frames.meta.family]
        encoder = family.open_encoder(path, frames, device, precision)
    except BaseException:
        frames.close()
        raise
    return family(path, frames, encoder)


class StyleModel:
    """A loaded model: `frames` (the backend that stylizes frames), an optional style `encoder` backend, and what
    its family means by a style."""

    def __init__(self, path: Path, frames: Backend, encoder: Backend | None = None):
        self.path, self.frames, self.encoder = path, frames, encoder

    @property
    def meta(self) -> ModelMeta:
        return self.frames.meta

    @classmethod
    def open_encoder(cls, path: Path, frames: Backend, device: str, precision: str) -> Backend | None:
        return None

    def styles(self) -> list[Style]:
        """The styles built into the model (none for arbitrary-style models)."""
        raise NotImplementedError

    def parse_style(self, spec: str) -> tuple[list[Style], int]:
        """A style spec → (the styles to cycle through, the index chosen)."""
        raise NotImplementedError

    def describe(self) -> str:
        meta = self.meta
        return f"{self.path.name}: {meta.family} {meta.variant} on {self.frames.describe()}"

    def copy(self, threads: int | None = None) -> StyleModel:
        """The same model on a second frames backend (for parallel workers); the encoder is shared."""
        return type(self)(self.path, self.frames.copy(threads), self.encoder)

    def close(self) -> None:
        self.frames.close()
        if self.encoder is not None:
            self.encoder.close()

    def __enter__(self) -> StyleModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SingleStyleModel(StyleModel):
    """Johnson et al.: one painting, no style input."""

    def styles(self) -> list[Style]:
        return [Style((self.meta.style_names or ["built-in"])[0], None)]

    def parse_style(self, spec: str) -> tuple[list[Style], int]:
        styles = self.styles()
        if spec.strip().lower() not in (styles[0].label.lower(), "0"):
            raise RtstyleError(f"unknown style {spec!r}; this model has one style: {styles[0].label}")
        return styles, 0


class MultiStyleModel(StyleModel):
    """Dumoulin et al.: N paintings selected or mixed by a weight vector."""

    def styles(self) -> list[Style]:
        meta = self.meta
        return [Style(name, np.eye(1, meta.style_dim, i, dtype=np.float32)) for i, name in enumerate(meta.style_names)]

    def parse_style(self, spec: str) -> tuple[list[Style], int]:
        """"starry_night" or "3"; a mix "starry_night=0.7,the_scream=0.3" or "starry_night+the_scream"."""
        meta, styles = self.meta, self.styles()
        if "=" not in spec and "+" not in spec:
            return styles, meta.style_index(spec)
        weights = np.zeros((1, meta.style_dim), np.float32)
        for item in filter(None, (part.strip() for part in spec.replace("+", ",").split(","))):
            name, _, value = item.partition("=")
            try:
                weight = float(value) if value else 1.0
            except ValueError:
                raise RtstyleError(f"style weight of {name!r} is not a number: {value!r}") from None
            weights[0, meta.style_index(name)] += weight
        if weights.sum() <= 0:
            raise RtstyleError(f"style mix {spec!r} has no positive weight")
        return styles + [Style(spec, weights / weights.sum())], len(styles)


class ArbitraryStyleModel(StyleModel):
    """Ghiasi et al.: any painting, through a style encoder that runs once per style change."""

    @classmethod
    def open_encoder(cls, path: Path, frames: Backend, device: str, precision: str) -> Backend:
        if format_of(frames.path).name == "torch":  # a checkpoint holds both parts
            return type(frames)(frames.path, device=device, role="encoder", precision=precision).load()
        file = next((p for p in encoder_candidates(frames.path) if p.is_file()), None)
        if file is None:
            raise RtstyleError(f"the style encoder for {frames.path.name} is missing: expected "
                               f"{encoder_candidates(frames.path)[0].name} beside it")
        if frames.name in FORMATS["onnx"].backends:
            name = frames.name
        else:  # a TensorRT stylizer: the encoder runs once per style change, on the CPU
            name, device = choose_backend(file, "auto", "cpu")[0], "cpu"
        encoder = backend_class(name)(file, device=device, role="encoder", precision=precision).load()
        if encoder.meta.style_dim != frames.meta.style_dim:
            encoder.close()
            raise RtstyleError(f"{file.name} makes {encoder.meta.style_dim}-wide style embeddings; "
                               f"{frames.path.name} takes {frames.meta.style_dim}")
        return encoder

    def styles(self) -> list[Style]:
        return []

    def encode(self, painting: np.ndarray) -> np.ndarray:
        """uint8 (H,W,3) BGR painting → (1,D) float32 style embedding."""
        small = resize(painting, *fit_within(*painting.shape[:2], ENCODER_SIDE))
        return self.encoder.encode(frames_to_batch([small])).astype(np.float32)

    def parse_style(self, spec: str) -> tuple[list[Style], int]:
        """A painting's path, or a folder of paintings to cycle through."""
        path = Path(spec)
        if not path.exists():
            raise RtstyleError(f"painting not found: {spec} (arbitrary-style models take a painting's path)")
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
        if not files:
            raise RtstyleError(f"no paintings in {path}")
        return [Style(f.stem, self.encode(read_image(f))) for f in files], 0


MODEL_CLASSES: dict[str, type[StyleModel]] = {
    "feedforward": SingleStyleModel, "cin": MultiStyleModel, "arbitrary": ArbitraryStyleModel}
