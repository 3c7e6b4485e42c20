"""What every source is, at the bottom of the io package so that no module imports back up: `Source` (start, read,
stop from different threads) and `DecodedSource`, what the video decoders (PyAV and OpenCV) share.

Every source has `start()`, `read() -> Frame | None` (None: the end) and `stop()`, and says whether it is `live`:
the pipeline keeps only the newest frame of a live source (never behind real time) and every frame of the others.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from rtstyle.frames import Frame, SourceInfo
from rtstyle.processing import resize


class Source:
    """`read()` and `stop()` may be called from different threads: a read in progress finishes before `stop()`
    releases the device or file (closing a decoder mid-frame crashes it), and every read after `stop()` gives None.
    Subclasses implement `_read()` and `_release()`; waits inside `_read()` use `self._stopped`."""

    live = False
    info: SourceInfo

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self) -> Source:
        return self

    def read(self) -> Frame | None:
        with self._lock:
            return None if self._stopped.is_set() else self._read()

    def stop(self) -> None:
        self._stopped.set()  # first, so a waiting read wakes up and lets go of the lock
        with self._lock:
            self._release()

    def _read(self) -> Frame | None:
        raise NotImplementedError

    def _release(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DecodedSource(Source):
    """What the video decoders share: frames kept at the first frame's size (so downstream sizes never change),
    numbered in order, and, for a file played as live (`realtime`), released at their timestamps on the wall
    clock."""

    def __init__(self) -> None:
        super().__init__()
        self._index = 0
        self._clock: float | None = None  # wall-clock time of timestamp 0, set by the first paced frame
        self.resized = 0  # frames scaled back to the first frame's size

    def _frame(self, image: np.ndarray, pts: float | None) -> Frame:
        if image.shape[:2] != (self.info.height, self.info.width):
            image = resize(image, self.info.height, self.info.width)
            self.resized += 1
        frame = Frame(image, self._index, pts, time.perf_counter())
        self._index += 1
        return frame

    def _wait_for(self, moment: float) -> bool:
        """Wait until the frame at `moment` (seconds on the source's timeline) is due; False if stopped meanwhile."""
        if self._clock is None:
            self._clock = time.perf_counter() - moment
        return not self._stopped.wait(max(0.0, self._clock + moment - time.perf_counter()))
