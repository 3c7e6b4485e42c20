"""Video files through OpenCV, for the bare runtime (numpy + OpenCV + ONNX Runtime, no PyAV): every frame is read
and written, but there is no audio, timestamps come from OpenCV's frame clock, and files are written as MPEG-4 Part 2
(OpenCV's pip wheels carry no H.264 encoder). PyAV (`rtstyle[video]`) is the better path; `open_source` and
`open_video_sink` take this one only where PyAV is missing.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import cv2

from rtstyle.errors import RtstyleError
from rtstyle.files import partial_path
from rtstyle.frames import Frame, SourceInfo
from rtstyle.io.base import DecodedSource

# Containers OpenCV's bundled FFmpeg writes without complaint, and the codec it writes into each.
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "mp4v"}
CODEC_NAMES = {"mp4v": "MPEG-4 Part 2"}


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV's own warnings off while a file is probed: a bad file is reported by us, in one line."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def _fourcc_text(code: float) -> str | None:
    text = int(code).to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ").lower()
    return text or None


class CvVideoFileSource(DecodedSource):
    """Every frame of a video file, in order (OpenCV's FFmpeg decoder). Frames that change size are scaled to the
    first frame's size; `realtime` plays the file as a live source; `loop` starts it again at the end, timestamps
    continuing."""

    def __init__(self, path: str | Path, realtime: bool = False, loop: bool = False):
        super().__init__()
        self.path = Path(path)
        self.live, self.loop = realtime, loop
        self._capture: cv2.VideoCapture | None = None
        capture = self._open()
        try:
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = capture.get(cv2.CAP_PROP_FPS) or None
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
            codec = _fourcc_text(capture.get(cv2.CAP_PROP_FOURCC))
        finally:
            capture.release()
        if not width or not height:
            raise RtstyleError(f"not a readable video (no picture size): {self.path}")
        # has_audio stays False: OpenCV reads no audio, so there is none to copy
        self.info = SourceInfo(width, height, fps, count, codec, str(self.path))

    def _open(self) -> cv2.VideoCapture:
        with _quiet_opencv():
            capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise RtstyleError(f"not a readable video: {self.path}")
        return capture

    def start(self) -> CvVideoFileSource:
        self._capture = self._open()
        self._offset = 0.0  # added to timestamps after each loop
        self._last_time = 0.0
        return self

    def _read(self) -> Frame | None:
        with _quiet_opencv():
            ok, image = self._capture.read()
        if not ok:
            if self._index == 0:
                raise RtstyleError(f"not a readable video (no frame decodes): {self.path}")
            if not self.loop:
                return None
            self._capture.release()
            self._capture = self._open()
            self._offset = self._last_time + 1.0 / (self.info.fps or 25.0)
            return self._read()
        moment = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000 + self._offset
        self._last_time = moment
        if self.live and not self._wait_for(moment):
            return None
        return self._frame(image, moment)

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class CvVideoFileSink:
    """A video file at the input's frame rate, in MPEG-4 Part 2, without audio. Written under a temporary name and
    renamed by `close()`, so Ctrl-C still leaves a playable file with every frame processed so far."""

    def __init__(self, path: str | Path, like: SourceInfo | None = None, fps: float | None = None):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in FOURCC:
            raise RtstyleError(f"writing {suffix or 'a file without suffix'} needs PyAV (pip install "
                               f"'rtstyle[video]'); without it use {', '.join(FOURCC)}")
        self.fourcc = FOURCC[suffix]
        self.codec_name = CODEC_NAMES.get(self.fourcc, self.fourcc)
        like = like or SourceInfo(0, 0)
        self.fps = fps or like.fps or 30.0
        self._tmp = partial_path(self.path)
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, frame: Frame) -> None:
        if self._writer is None:
            height, width = frame.image.shape[:2]
            with _quiet_opencv():
                writer = cv2.VideoWriter(str(self._tmp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*self.fourcc),
                                         self.fps, (width, height))
            if not writer.isOpened():
                self._tmp.unlink(missing_ok=True)
                raise RtstyleError(f"OpenCV cannot write {self.path.name} ({self.fourcc}, {width}x{height}); "
                                   "pip install 'rtstyle[video]' to write it through PyAV")
            self._writer = writer
        self._writer.write(frame.image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.release()
            os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)
