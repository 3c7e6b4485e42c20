"""Where frames come from: a camera, an image or a folder of images here; video files and streams in
rtstyle.io.video_in (PyAV) or rtstyle.io.cv_video (OpenCV, where PyAV is not installed). `open_source` picks one
from what the user typed. Every source is a `Source` (rtstyle.io.base).
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2

from rtstyle.errors import RtstyleError
from rtstyle.frames import Frame, SourceInfo
from rtstyle.images import IMAGE_SUFFIXES, read_image
from rtstyle.io import pyav
from rtstyle.io.base import Source
from rtstyle.io.video_in import StreamSource, VideoFileSource

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


class CameraSource(Source):
    """A local camera by index (OpenCV)."""

    live = True

    def __init__(self, index: int, width: int | None = None, height: int | None = None):
        super().__init__()
        self.index, self.size = index, (width, height)
        self._capture = None
        self._count = 0

    def start(self) -> CameraSource:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # probing backends prints pages otherwise
        try:
            capture = cv2.VideoCapture(self.index)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not capture.isOpened():
            raise RtstyleError(f"camera {self.index} not found or busy")
        if self.size[0]:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        ok, image = capture.read()
        if not ok:
            capture.release()
            raise RtstyleError(f"camera {self.index} opened but gives no frames")
        self._capture, self._first = capture, image
        fps = capture.get(cv2.CAP_PROP_FPS) or None
        self.info = SourceInfo(image.shape[1], image.shape[0], fps)
        return self

    def _read(self) -> Frame | None:
        if self._first is not None:
            image, self._first = self._first, None
        else:
            ok, image = self._capture.read()
            if not ok:
                return None
        frame = Frame(image, self._count, None, time.perf_counter())
        self._count += 1
        return frame

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class ImageSource(Source):
    """One image, or every image in a folder (sorted); each frame keeps its file name."""

    def __init__(self, path: str | Path):
        super().__init__()
        path = Path(path)
        if path.is_dir():
            self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise RtstyleError(f"no images in {path}")
        else:
            self.files = [path]
        self._next = 0
        first = read_image(self.files[0])
        self.info = SourceInfo(first.shape[1], first.shape[0], None, len(self.files))

    def _read(self) -> Frame | None:
        if self._next >= len(self.files):
            return None
        path = self.files[self._next]
        frame = Frame(read_image(path), self._next, None, time.perf_counter(), name=path.name)
        self._next += 1
        return frame


def open_source(spec: str, realtime: bool = False, loop: bool = False) -> Source:
    """A camera index ("0"), a stream URL, a video file (played as live with `realtime`, endlessly with `loop`), an
    image or a folder of images."""
    if spec.isdigit():
        return CameraSource(int(spec))
    if spec.lower().startswith(STREAM_SCHEMES):
        return StreamSource(spec)
    path = Path(spec)
    if not path.exists():
        raise RtstyleError(f"source not found: {spec} (give a camera index, a file, a folder or a stream URL)")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return open_video_file(path, realtime=realtime, loop=loop)


def open_video_file(path: str | Path, realtime: bool = False, loop: bool = False) -> Source:
    """A video file through PyAV where it is installed (timestamps, codec and audio known), else through OpenCV."""
    if pyav.available():
        return VideoFileSource(path, realtime=realtime, loop=loop)
    from rtstyle.io.cv_video import CvVideoFileSource

    return CvVideoFileSource(path, realtime=realtime, loop=loop)
