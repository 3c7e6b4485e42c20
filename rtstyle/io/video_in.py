"""Video input through PyAV (FFmpeg): files decoded with their timestamps, codec and whether they carry audio (so
the output can mirror them), and network streams that reconnect when they drop.

PyAV is imported when a video is opened. Without it, `open_source` reads files through OpenCV
(rtstyle.io.cv_video) and network streams are refused with the extra to install.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rtstyle.errors import RtstyleError
from rtstyle.frames import Frame, SourceInfo
from rtstyle.io.base import DecodedSource
from rtstyle.io.pyav import load_av


class _PyAVSource(DecodedSource):
    """What the PyAV sources share: the container to close."""

    def __init__(self) -> None:
        super().__init__()
        self._container = None

    def _release(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class VideoFileSource(_PyAVSource):
    """Every frame of a video file, in order, with its timestamp. Frames that change size mid-stream are scaled to
    the first frame's size so downstream sizes never change. With `realtime`, the file plays as a live source: frames
    are released at their timestamps and the pipeline drops what it cannot keep up with (rehearse a live setup)."""

    def __init__(self, path: str | Path, realtime: bool = False, loop: bool = False):
        super().__init__()
        av = load_av("video files")
        self.path = Path(path)
        self.live = realtime
        self.loop = loop  # start again at the end, timestamps continuing (background loops, soak tests)
        try:
            with av.open(str(self.path)) as probe:
                if not probe.streams.video:
                    raise RtstyleError(f"not a readable video (no video stream in it): {self.path}")
                stream = probe.streams.video[0]
                fps = float(stream.average_rate or stream.guessed_rate or 0) or None
                count = stream.frames or (round(float(probe.duration) / 1e6 * fps) if probe.duration and fps else None)
                self.info = SourceInfo(stream.width, stream.height, fps, count, stream.codec_context.name,
                                       str(self.path), bool(probe.streams.audio))
        except RtstyleError:
            raise
        except Exception:
            raise RtstyleError(f"not a readable video: {self.path}") from None
        if not self.info.width or not self.info.height:
            raise RtstyleError(f"not a readable video (no picture size): {self.path}")

    def start(self) -> VideoFileSource:
        av = load_av("video files")
        self._container = av.open(str(self.path))
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._decoded = self._container.decode(stream)
        self._offset = 0.0  # added to timestamps after each loop
        self._last_time = 0.0
        return self

    def _read(self) -> Frame | None:
        try:
            decoded = next(self._decoded)
        except StopIteration:
            if not self.loop or self._index == 0:
                return None
            self._container.seek(0)
            self._decoded = self._container.decode(self._container.streams.video[0])
            self._offset = self._last_time + 1.0 / (self.info.fps or 25.0)
            return self._read()
        except Exception:  # damaged data: what decoded so far is kept, the rest ends the stream
            if self._index == 0:
                raise RtstyleError(f"not a readable video (no frame decodes): {self.path}") from None
            return None
        moment = None if decoded.time is None else decoded.time + self._offset
        if moment is not None:
            self._last_time = moment
        if self.live and moment is not None and not self._wait_for(moment):
            return None
        return self._frame(decoded.to_ndarray(format="bgr24"), moment)


class StreamSource(_PyAVSource):
    """A network stream (rtsp, rtmp, http, udp, srt…). When it drops, it is reopened with exponential backoff
    (0.5 s doubling to 8 s) until `stop()`; `reconnects` counts the reopenings."""

    live = True

    def __init__(self, url: str, timeout: float = 5.0):
        super().__init__()
        self.url, self.timeout = url, timeout
        self.reconnects = 0
        self.reconnecting = False

    def _open(self):
        av = load_av("network streams")
        options = {"timeout": str(int(self.timeout * 1e6))}
        if self.url.startswith("rtsp"):
            options["rtsp_transport"] = "tcp"
        container = av.open(self.url, options=options, timeout=self.timeout)
        if not container.streams.video:
            container.close()
            raise RtstyleError(f"no video in stream {self.url}")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container, container.decode(stream)

    def start(self) -> StreamSource:
        try:
            self._container, self._decoded = self._open()
        except RtstyleError:
            raise
        except Exception as exc:
            raise RtstyleError(f"cannot open stream {self.url}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
        first = self._next_image()
        if first is None:
            raise RtstyleError(f"stream {self.url} opened but gives no frames")
        self._first = first
        self.info = SourceInfo(first.shape[1], first.shape[0], None, None, None, None, False)
        return self

    def _next_image(self) -> np.ndarray | None:
        try:
            return next(self._decoded).to_ndarray(format="bgr24")
        except Exception:  # StopIteration or a network error: the stream dropped
            return None

    def _read(self) -> Frame | None:
        image, self._first = (self._first, None) if self._first is not None else (self._next_image(), None)
        delay = 0.5
        self.reconnecting = image is None
        while image is None:
            if self._container is not None:
                self._container.close()
                self._container = None
            if self._stopped.wait(delay):
                return None
            delay = min(delay * 2, 8.0)
            try:
                self._container, self._decoded = self._open()
                self.reconnects += 1
                image = self._next_image()
            except Exception:
                continue
        self.reconnecting = False
        return self._frame(image, None)
