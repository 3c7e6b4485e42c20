"""A loaded backend plus the controls a user steers while frames flow: which style (by name or index, a mix of
styles, or any painting), how strong, whether to keep the original colours, and the inference size.

Style specs: "starry_night" or "3" (one style of a CIN model); "starry_night=0.7,the_scream=0.3" or
"starry_night+the_scream" (a mix); a painting's path, or a folder of them, for arbitrary-style models.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rtstyle.backends.base import Backend
from rtstyle.errors import DeviceOutOfMemory, RtstyleError
from rtstyle.images import IMAGE_SUFFIXES, read_image
from rtstyle.processing import fit_within, frames_to_batch, resize

ENCODER_SIDE = 512  # paintings are encoded with their long side at most this
SMALLEST_FALLBACK = 256  # out of device memory, the inference size halves down to this long side


@dataclass
class Style:
    label: str
    cond: np.ndarray | None  # (1, style_dim) or None for single-style models


def encoder_for(model_path: Path, backend: Backend):
    """A function painting (uint8 BGR) → (1,D) embedding, for arbitrary-style models: the checkpoint's own predictor,
    or the encoder ONNX file exported beside the stylizer (NAME.encoder[.fp16].onnx)."""
    def prepare(painting: np.ndarray) -> np.ndarray:
        return frames_to_batch([resize(painting, *fit_within(*painting.shape[:2], ENCODER_SIDE))])

    if hasattr(backend, "encode_style"):
        return lambda painting: backend.encode_style(prepare(painting))
    stem = model_path.name.split(".stylizer")[0]
    candidates = [model_path.with_name(f"{stem}.encoder.onnx"), model_path.with_name(f"{stem}.encoder.fp16.onnx")]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise RtstyleError(f"the style encoder for {model_path.name} is missing: "
                           f"expected {candidates[0].name} beside it")
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    dtype = np.float16 if "float16" in session.get_inputs()[0].type else np.float32
    return lambda painting: session.run(None, {"image": prepare(painting).astype(dtype)})[0].astype(np.float32)


class Stylizer:
    """frames (uint8 BGR) → stylized frames of the same size, under the current controls. Thread-safe: controls may
    change from the display thread while the inference thread runs."""

    def __init__(self, backend: Backend, infer_size: int | None = None, model_path: Path | None = None):
        self.backend = backend
        self.meta = backend._loaded()
        self.infer_size = infer_size
        self.strength = 1.0
        self.preserve_colors = False
        self._lock = threading.Lock()
        self._encode = encoder_for(model_path or backend.path, backend) if self.meta.family == "arbitrary" else None
        if self.meta.family == "cin":
            self.styles = [Style(name, np.eye(1, self.meta.style_dim, i, dtype=np.float32))
                           for i, name in enumerate(self.meta.style_names)]
        elif self.meta.family == "feedforward":
            self.styles = [Style((self.meta.style_names or ["built-in"])[0], None)]
        else:
            self.styles = []  # arbitrary: the user's paintings
        self.current = 0

    # controls -------------------------------------------------------------------------------------------------
    @property
    def style(self) -> Style:
        if not self.styles:
            raise RtstyleError("this arbitrary-style model needs a painting: --style PAINTING (a file or folder)")
        return self.styles[self.current]

    def set_style(self, spec: str | None) -> Style:
        """Select a style by spec (see the module doc); None keeps the first."""
        with self._lock:
            if spec is not None:
                styles, index = self._parse(spec)
                self.styles, self.current = styles, index
            return self.style

    def _parse(self, spec: str) -> tuple[list[Style], int]:
        meta = self.meta
        if meta.family == "arbitrary":
            path = Path(spec)
            if not path.exists():
                raise RtstyleError(f"painting not found: {spec} (arbitrary-style models take a painting's path)")
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
            if not files:
                raise RtstyleError(f"no paintings in {path}")
            return [Style(f.stem, self._encode(read_image(f))) for f in files], 0
        if meta.family == "feedforward":
            if spec.lower() not in (self.styles[0].label.lower(), "0"):
                raise RtstyleError(f"unknown style {spec!r}; this model has one style: {self.styles[0].label}")
            return self.styles, 0
        if "=" in spec or "+" in spec:
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
            cin = [Style(name, np.eye(1, meta.style_dim, i, dtype=np.float32))
                   for i, name in enumerate(meta.style_names)]
            return cin + [Style(spec, weights / weights.sum())], len(cin)
        return self.styles, meta.style_index(spec)

    def cycle(self, step: int = 1) -> Style:
        with self._lock:
            self.current = (self.current + step) % max(1, len(self.styles))
            return self.style

    def replicas(self, count: int) -> list[Stylizer]:
        """`count` stylizers with this one's settings, each on its own one-thread session, for inference workers
        that stylize different frames of a file at once. Only ONNX Runtime on the CPU gains from it (GPU backends
        and PyTorch already fill their device); others get [self]."""
        if count <= 1 or self.backend.name != "onnxrt" or getattr(self.backend, "providers", ["?"])[0] != \
                "CPUExecutionProvider":
            return [self]
        copies = []
        for _ in range(count):
            backend = type(self.backend)(self.backend.path, device="cpu", threads=1).load()
            copy = Stylizer.__new__(Stylizer)
            copy.__dict__.update(self.__dict__)
            copy.backend, copy._lock = backend, threading.Lock()
            copies.append(copy)
        return copies

    def set_strength(self, value: float) -> float:
        self.strength = float(min(1.0, max(0.0, value)))
        return self.strength

    # inference ------------------------------------------------------------------------------------------------
    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            cond, strength, colors = self.style.cond, self.strength, self.preserve_colors
        height, width = images[0].shape[:2]
        while True:
            size = fit_within(height, width, self.infer_size) if self.infer_size else (height, width)
            try:
                outputs = self.backend.infer([resize(image, *size) for image in images], cond)
                break
            except DeviceOutOfMemory:
                if max(size) // 2 < SMALLEST_FALLBACK:
                    raise RtstyleError(f"out of device memory even at {size[1]}x{size[0]}: use a smaller "
                                       "--infer-size, a smaller variant, or the CPU") from None
                self.infer_size = max(size) // 2
                print(f"out of device memory at {size[1]}x{size[0]}: inference size lowered to a long side of "
                      f"{self.infer_size} (output keeps its size)", flush=True)
        results = []
        for image, out in zip(images, outputs):
            out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR) if size != (height, width) else out
            if colors:
                out = keep_colors(image, out)
            if strength < 1.0:
                out = cv2.addWeighted(out, strength, image, 1.0 - strength, 0.0)
            results.append(out)
        return results


def keep_colors(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """The stylized image's luminance with the original's colour (YCrCb), as in Gatys et al.'s colour preservation."""
    luma = cv2.cvtColor(stylized, cv2.COLOR_BGR2YCrCb)[..., :1]
    chroma = cv2.cvtColor(original, cv2.COLOR_BGR2YCrCb)[..., 1:]
    return cv2.cvtColor(np.concatenate([luma, chroma], axis=2), cv2.COLOR_YCrCb2BGR)
