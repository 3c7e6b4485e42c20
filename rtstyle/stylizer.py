"""A loaded model plus the controls a user steers while frames flow: which style (by name or index, a mix of
styles, or any painting), how strong, whether to keep the original colours, and the inference size.

The controls live in one `Controls` object with one lock. Every inference worker of a run (the `replicas`, each on
its own backend) reads the same one, so a key pressed in the window changes every frame that follows, whichever
worker stylizes it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from rtstyle.errors import DeviceOutOfMemory, RtstyleError
from rtstyle.model import Style, StyleModel
from rtstyle.processing import fit_within, resize

SMALLEST_FALLBACK = 256  # out of device memory, the inference size halves down to this long side
# Strength for arbitrary-style models (Ghiasi et al. 2017 §4): the painting's embedding is moved towards the frame's
# own, so a weaker style is a lighter painting rather than a photo behind a half-transparent one. Encoding every frame
# at the encoder's 512 px would cost 9-12× the stylization itself (shipped `arbitrary`, 640×480, 2-core Xeon, busy:
# encoder 911 ms ORT / 212 ms OpenVINO bf16 vs 74 / 24 ms to stylize), so the frame is encoded downscaled to
# FRAME_STYLE_SIDE (73 / 16 ms; the output differs from a full-size encoding by 0.8-3/255, where the pixel blend
# differs by 18-22/255) and only once every FRAME_STYLE_EVERY frames (~0.5 s at 30 fps): ~5 % of the frame time.
FRAME_STYLE_SIDE = 128
FRAME_STYLE_EVERY = 15


@dataclass
class Controls:
    """What the user steers, shared by every worker. Read a consistent set with `snapshot()`."""

    styles: list[Style]
    current: int = 0
    strength: float = 1.0
    preserve_colors: bool = False
    infer_size: int | None = None  # long side the network runs at (None: the frame's own size)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def snapshot(self) -> tuple[Style, float, bool, int | None]:
        with self.lock:
            return self._style(), self.strength, self.preserve_colors, self.infer_size

    def _style(self) -> Style:
        if not self.styles:
            raise RtstyleError("this arbitrary-style model needs a painting: --style PAINTING (a file or folder)")
        return self.styles[self.current]


class Stylizer:
    """frames (uint8 BGR) → stylized frames of the same size, under the shared controls. Thread-safe: controls may
    change from the display thread while inference threads run."""

    def __init__(self, model: StyleModel, infer_size: int | None = None, controls: Controls | None = None):
        self.model = model
        self.controls = controls or Controls(model.styles(), infer_size=infer_size)
        self._frame_style: np.ndarray | None = None  # the last frame's own style embedding (arbitrary models)
        self._frames_since = 0

    # what it runs ---------------------------------------------------------------------------------------------
    @property
    def meta(self):
        return self.model.meta

    @property
    def backend(self):
        return self.model.frames

    # controls -------------------------------------------------------------------------------------------------
    @property
    def styles(self) -> list[Style]:
        return self.controls.styles

    @property
    def current(self) -> int:
        return self.controls.current

    @current.setter
    def current(self, index: int) -> None:
        with self.controls.lock:
            self.controls.current = index

    @property
    def style(self) -> Style:
        with self.controls.lock:
            return self.controls._style()

    @property
    def strength(self) -> float:
        return self.controls.strength

    @property
    def preserve_colors(self) -> bool:
        return self.controls.preserve_colors

    @preserve_colors.setter
    def preserve_colors(self, value: bool) -> None:
        with self.controls.lock:
            self.controls.preserve_colors = bool(value)

    @property
    def infer_size(self) -> int | None:
        return self.controls.infer_size

    def set_style(self, spec: str | None) -> Style:
        """Select a style by spec (see StyleModel.parse_style); None keeps the current one."""
        if spec is not None:
            styles, index = self.model.parse_style(spec)  # may encode paintings: outside the lock
            with self.controls.lock:
                self.controls.styles, self.controls.current = styles, index
        return self.style

    def cycle(self, step: int = 1) -> Style:
        with self.controls.lock:
            self.controls.current = (self.controls.current + step) % max(1, len(self.controls.styles))
            return self.controls._style()

    def set_strength(self, value: float) -> float:
        with self.controls.lock:
            self.controls.strength = float(min(1.0, max(0.0, value)))
            return self.controls.strength

    def replicas(self, count: int) -> list[Stylizer]:
        """`count` stylizers on their own one-thread backends, sharing these controls, for inference workers that
        stylize different frames of a file at once. Only backends that gain from it get copies (ONNX Runtime and
        OpenVINO on the CPU); others already fill their device and get [self]."""
        if count <= 1 or not self.backend.parallel_copies_help():
            return [self]
        return [Stylizer(self.model.copy(threads=1), controls=self.controls) for _ in range(count)]

    # inference ------------------------------------------------------------------------------------------------
    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        style, strength, colors, infer_size = self.controls.snapshot()
        height, width = images[0].shape[:2]
        cond, blend = self._conditioning(style, strength, images)
        while True:
            size = fit_within(height, width, infer_size) if infer_size else (height, width)
            try:
                outputs = self.backend.infer([resize(image, *size) for image in images], cond)
                break
            except DeviceOutOfMemory:
                if max(size) // 2 < SMALLEST_FALLBACK:
                    raise RtstyleError(f"out of device memory even at {size[1]}x{size[0]}: use a smaller "
                                       "--infer-size, a smaller variant, or the CPU") from None
                infer_size = max(size) // 2
                with self.controls.lock:
                    self.controls.infer_size = infer_size
                print(f"out of device memory at {size[1]}x{size[0]}: inference size lowered to a long side of "
                      f"{infer_size} (output keeps its size)", flush=True)
        results = []
        for image, out in zip(images, outputs):
            out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR) if size != (height, width) else out
            if colors:
                out = keep_colors(image, out)
            if blend:
                out = cv2.addWeighted(out, strength, image, 1.0 - strength, 0.0)
            results.append(out)
        return results

    def _conditioning(self, style: Style, strength: float, images: list[np.ndarray]) -> tuple[np.ndarray | None, bool]:
        """(what the network takes, whether strength still needs a pixel blend). Arbitrary-style models weaken a
        style by interpolating its embedding towards the frame's own (see FRAME_STYLE_SIDE); others blend pixels."""
        encode = getattr(self.model, "encode", None)
        if strength >= 1.0 or encode is None or style.cond is None:
            return style.cond, strength < 1.0
        if self._frame_style is None or self._frames_since >= FRAME_STYLE_EVERY:
            frame = images[0]
            self._frame_style = encode(resize(frame, *fit_within(*frame.shape[:2], FRAME_STYLE_SIDE)))
            self._frames_since = 0
        self._frames_since += len(images)
        mixed = strength * style.cond + (1.0 - strength) * self._frame_style
        return mixed.astype(np.float32), False


def keep_colors(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """The stylized image's luminance with the original's colour (YCrCb), as in Gatys et al.'s colour preservation."""
    luma = cv2.cvtColor(stylized, cv2.COLOR_BGR2YCrCb)[..., :1]
    chroma = cv2.cvtColor(original, cv2.COLOR_BGR2YCrCb)[..., 1:]
    return cv2.cvtColor(np.concatenate([luma, chroma], axis=2), cv2.COLOR_YCrCb2BGR)
