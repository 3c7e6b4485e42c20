"""Where stylized frames go, besides files and streams (rtstyle.io.video_out) and HTTP (rtstyle.io.mjpeg): an OpenCV
window with hotkeys, a virtual camera, and image files. Every sink has `write(frame)`, sets itself up from the first
frame, and `close()`s by finalising its output."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from rtstyle.errors import RtstyleError
from rtstyle.frames import Frame
from rtstyle.images import write_image


def draw_lines(image: np.ndarray, lines: list[str], scale: float = 0.55) -> np.ndarray:
    """A copy of the image with white text lines on a darkened band at the top left, readable on any picture.

    (Not a thick dark copy of the text as its outline: OpenCV's glyphs advance further when drawn thicker, so such an
    outline drifts ahead of the letters, "originall".)"""
    image = image.copy()
    lines = [text for text in lines if text]
    if not lines:
        return image
    font, margin, pad = cv2.FONT_HERSHEY_SIMPLEX, 6, 5
    (_, ascent), descent = cv2.getTextSize("Ag", font, scale, 1)
    pitch = ascent + descent + 6
    width = max(cv2.getTextSize(text, font, scale, 1)[0][0] for text in lines)
    bottom = min(image.shape[0], margin + 2 * pad + pitch * len(lines) - 6)
    right = min(image.shape[1], margin + 2 * pad + width)
    band = image[margin:bottom, margin:right]
    band[:] = (band * 0.35).astype(np.uint8)
    for row, text in enumerate(lines):
        y = margin + pad + ascent + row * pitch
        cv2.putText(image, text, (margin + pad, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


class WindowClosed(Exception):
    """The user closed the window or pressed quit."""


class WindowSink:
    """An OpenCV window. Keys go to `on_key(key) -> bool` (True: quit); closing the window stops the pipeline;
    `status()` gives text lines drawn over the picture (none: nothing drawn). OpenCV's GUI must run on the main
    thread, so the pipeline writes to it from there."""

    def __init__(self, title: str = "rtstyle", on_key: Callable[[int], bool] | None = None,
                 status: Callable[[], list[str]] | None = None):
        self.title, self.on_key, self.status = title, on_key, status
        self._open = False

    def write(self, frame: Frame) -> None:
        if not self._open:
            has_display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            if sys.platform.startswith("linux") and not has_display:
                raise RtstyleError("no display for a window: use --output, --serve or --virtual-camera "
                                   "(or --no-window)")
            try:
                cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
                cv2.resizeWindow(self.title, frame.image.shape[1], frame.image.shape[0])
            except cv2.error:
                raise RtstyleError("this OpenCV has no window support: pip install opencv-python "
                                   "(not opencv-python-headless)") from None
            self._open = True
        lines = self.status() if self.status else []
        cv2.imshow(self.title, draw_lines(frame.image, lines) if lines else frame.image)
        self.poll()

    def poll(self, wait_ms: int = 1) -> None:
        """Handle keys and a closed window; also called while paused and while waiting for frames. Before the first
        frame there is no window yet: nothing to answer (asking OpenCV about a window it never made fails)."""
        if not self._open:
            return
        key = cv2.waitKey(wait_ms)
        if key != -1 and self.on_key and self.on_key(key & 0xFF):
            raise WindowClosed
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            raise WindowClosed

    def close(self) -> None:
        if self._open:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
            self._open = False


class VirtualCameraSink:
    """A virtual webcam other programs can pick (OBS, video calls), via pyvirtualcam (v4l2loopback on Linux, OBS's
    virtual camera on Windows and macOS)."""

    def __init__(self, fps: float = 30.0, device: str | None = None):
        try:
            import pyvirtualcam
        except ImportError:
            raise RtstyleError("a virtual camera needs pyvirtualcam: pip install 'rtstyle[vcam]'") from None
        self._pyvirtualcam = pyvirtualcam
        self.fps, self.device = fps, device
        self._camera = None

    def write(self, frame: Frame) -> None:
        if self._camera is None:
            pyvirtualcam = self._pyvirtualcam
            height, width = frame.image.shape[:2]
            try:
                self._camera = pyvirtualcam.Camera(width, height, self.fps, fmt=pyvirtualcam.PixelFormat.BGR,
                                                   device=self.device)
            except Exception as exc:
                raise RtstyleError(f"no virtual camera available ({str(exc).splitlines()[0]}); on Linux load "
                                   "v4l2loopback (sudo modprobe v4l2loopback), elsewhere install OBS") from None
        self._camera.send(frame.image)

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None


class ImageFolderSink:
    """One image file per frame, named after the input file (image sources) or numbered, in `folder`."""

    def __init__(self, folder: str | Path, suffix: str = ".png", overwrite: bool = False):
        self.folder, self.suffix, self.overwrite = Path(folder), suffix, overwrite
        self.written: list[Path] = []

    def write(self, frame: Frame) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = Path(frame.name).stem if frame.name else f"frame_{frame.index:06d}"
        path = self.folder / f"{name}{self.suffix}"
        if path.exists() and not self.overwrite:
            raise RtstyleError(f"output exists: {path} (use --overwrite to replace it)")
        self.written.append(write_image(path, frame.image))

    def close(self) -> None:
        pass
