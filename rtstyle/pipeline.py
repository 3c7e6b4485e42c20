"""capture → infer → output, on threads joined by small bounded queues (vidgear CamGear's pattern).

- A live source (camera, stream): the newest frame wins. When a queue is full the oldest item is dropped and
  counted, so the output never falls behind real time and no queue grows past its bound.
- Any other source (file, images): nothing is dropped and the order is kept; batches of frames go through the
  network together when `batch_size` > 1, and several inference workers (each with its own model session) may work
  on different frames at once, their results put back in order before output. On a 2-core CPU two one-thread
  ONNX Runtime sessions stylize ~24% more frames per second than one two-thread session.
- Capture and inference run on worker threads; output runs on the calling thread (OpenCV windows need it).
- One stop event; a `None` sentinel marks the end; `stop()` drains the queues, then joins the threads with a
  timeout. An exception in any stage stops the whole pipeline and is raised from `run()`; the sinks are closed (their
  files finalised) whatever happens, Ctrl-C included.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rtstyle.frames import Frame
from rtstyle.io.base import Source
from rtstyle.progress import Progress

SENTINEL = None
Stylize = Callable[[list[np.ndarray]], list[np.ndarray]]


class Sink(Protocol):
    def write(self, frame: Frame) -> None: ...
    def close(self) -> None: ...


@dataclass
class Stats:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0  # live sources only: frames skipped to stay real time
    seconds: float = 0.0  # set when the run ends
    started: float = 0.0  # time.perf_counter() when the run began
    stage_seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "infer": 0.0, "write": 0.0})
    latencies: list[float] = field(default_factory=list)  # seconds from capture to output, per frame

    @property
    def fps(self) -> float:
        elapsed = self.seconds or (time.perf_counter() - self.started if self.started else 0.0)
        return self.frames_out / elapsed if elapsed > 0 else 0.0

    def stage_ms(self, stage: str) -> float:
        count = self.frames_in if stage == "read" else self.frames_out
        return 1000 * self.stage_seconds[stage] / max(1, count)

    def latency_ms(self, quantile: float = 0.5) -> float:
        return 1000 * float(np.quantile(self.latencies, quantile)) if self.latencies else 0.0

    def summary(self) -> str:
        return (f"{self.frames_out} frames in {self.seconds:.1f} s = {self.fps:.1f} fps; per frame: read "
                f"{self.stage_ms('read'):.1f} ms, infer {self.stage_ms('infer'):.1f} ms, write "
                f"{self.stage_ms('write'):.1f} ms; latency {self.latency_ms():.0f} ms (p95 "
                f"{self.latency_ms(0.95):.0f}); dropped {self.dropped}")


class Pipeline:
    def __init__(self, source: Source, stylize: Stylize | list[Stylize], sinks: list[Sink],
                 *, batch_size: int = 1, queue_size: int = 2, compose: Callable[[Frame, Stats], Frame] | None = None,
                 max_frames: int | None = None, progress: bool = False):
        """stylize: images → images (a Stylizer), or one per inference worker (files only; live sources use the
        first); compose: what the sinks see, built from the stylized frame (side-by-side, overlays); max_frames: stop
        after that many output frames."""
        self.source, self.sinks = source, sinks
        self.live = source.live
        workers = stylize if isinstance(stylize, list) else [stylize]
        self.workers = workers[:1] if self.live else workers
        self.batch_size = 1 if self.live else max(1, batch_size)
        self.compose = compose
        self.max_frames = max_frames
        self.progress = progress
        self.stats = Stats()
        self.paused = threading.Event()
        self._stop = threading.Event()
        self.interrupted = False  # set by interrupt(): capture ends, frames already read are still finished
        self._inbox: queue.Queue = queue.Queue(maxsize=max(1, queue_size, len(self.workers)))
        self._outbox: queue.Queue = queue.Queue(maxsize=max(1, queue_size, len(self.workers)))
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []

    # queues ---------------------------------------------------------------------------------------------------
    def _put(self, box: queue.Queue, item) -> None:
        """Live: never wait, drop the oldest item instead. Otherwise: wait for room (stop() makes room)."""
        if not self.live or item is SENTINEL:
            box.put(item)
            return
        while True:
            try:
                box.put_nowait(item)
                return
            except queue.Full:
                try:
                    if box.get_nowait() is not SENTINEL:
                        self.stats.dropped += 1
                except queue.Empty:
                    pass

    # stages ---------------------------------------------------------------------------------------------------
    def _capture(self) -> None:
        try:
            while not self._stop.is_set() and not self.interrupted:
                start = time.perf_counter()
                frame = self.source.read()
                if frame is None:
                    break
                self.stats.stage_seconds["read"] += time.perf_counter() - start
                self.stats.frames_in += 1
                self._put(self._inbox, frame)
        except BaseException as exc:  # noqa: BLE001 - handed to run()
            self._fail(exc)
        finally:
            for _ in self.workers:  # one end marker for each inference worker
                self._put(self._inbox, SENTINEL)

    def _infer(self, stylize: Stylize) -> None:
        try:
            finished = False
            while not finished and not self._stop.is_set():
                batch = [self._inbox.get()]
                while batch[-1] is not SENTINEL and len(batch) < self.batch_size:
                    try:
                        batch.append(self._inbox.get_nowait())
                    except queue.Empty:
                        break
                if batch[-1] is SENTINEL:
                    batch.pop()
                    finished = True
                if batch and not self._stop.is_set():
                    start = time.perf_counter()
                    outputs = stylize([frame.image for frame in batch])
                    self.stats.stage_seconds["infer"] += time.perf_counter() - start
                    for frame, image in zip(batch, outputs):
                        self._put(self._outbox, Frame(image, frame.index, frame.pts, frame.captured, frame.image,
                                                      frame.name))
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)
        finally:
            self._put(self._outbox, SENTINEL)

    def _fail(self, exc: BaseException) -> None:
        """A capture or inference stage failed: stop reading and stylizing, but leave the frames already stylized
        in the outbox for the output stage, which writes them (in order) before the run ends with the error."""
        if self._error is None:
            self._error = exc
        self._stop.set()
        self._drain(self._inbox)

    def _drain(self, *boxes: queue.Queue) -> None:
        for box in boxes or (self._inbox, self._outbox):
            while True:
                try:
                    box.get_nowait()
                except queue.Empty:
                    break

    # control --------------------------------------------------------------------------------------------------
    def run(self) -> Stats:
        """Process until the source ends, max_frames, stop(), an error, or Ctrl-C; always closes the sinks."""
        start = self.stats.started = time.perf_counter()
        self._threads = [threading.Thread(target=self._capture, name="capture", daemon=True)]
        self._threads += [threading.Thread(target=self._infer, args=(stylize,), name=f"infer-{i}", daemon=True)
                          for i, stylize in enumerate(self.workers)]
        for thread in self._threads:
            thread.start()
        total = self.max_frames or (None if self.live else getattr(self.source, "info", None)
                                    and self.source.info.frame_count)
        bar = Progress(total=total, label="stylize", unit="frame") if self.progress else None
        completed = False
        try:
            self._output(bar)
            completed = True
        finally:
            self.stop()
            self.stats.seconds = time.perf_counter() - start
            self._close_sinks()
            if bar:  # after an error or Ctrl-C the caller's message stands alone
                bar.close(final=completed and self._error is None)
        if self._error is not None:
            raise self._error
        return self.stats

    def _in_order(self):
        """Stylized frames as the workers finish them, put back in source order when there are several workers."""
        idle = [sink for sink in self.sinks if hasattr(sink, "poll")]
        finished, pending, next_index = 0, {}, 0  # sources number their frames from 0
        while finished < len(self.workers):
            try:  # wake up now and then, so a window keeps answering while a stream reconnects
                frame = self._outbox.get(timeout=0.1) if idle else self._outbox.get()
            except queue.Empty:
                for sink in idle:
                    sink.poll(1)
                continue
            if frame is SENTINEL:
                finished += 1
                continue
            if len(self.workers) == 1:
                yield frame
                continue
            pending[frame.index] = frame  # at most queue size + workers frames wait here
            while next_index in pending:
                yield pending.pop(next_index)
                next_index += 1

    def _output(self, bar: Progress | None) -> None:
        for frame in self._in_order():
            shown = self.compose(frame, self.stats) if self.compose else frame
            start = time.perf_counter()
            for sink in self.sinks:
                sink.write(shown)
            while self.paused.is_set() and not self._stop.is_set() and not self.interrupted:
                for sink in self.sinks:  # a paused window still answers keys
                    if hasattr(sink, "poll"):
                        sink.poll(30)
            now = time.perf_counter()
            self.stats.stage_seconds["write"] += now - start
            self.stats.latencies.append(now - frame.captured)
            self.stats.frames_out += 1
            if bar:
                bar.update(1, fps=f"{self.stats.fps:.1f}")
            if self.max_frames and self.stats.frames_out >= self.max_frames:
                return

    def interrupt(self) -> None:
        """End the run as if the source had ended here: every frame already read is still stylized and written.
        Safe to call from a signal handler (it only sets a flag the capture loop reads)."""
        self.interrupted = True

    def toggle_pause(self) -> None:
        """Hold the output (a window keeps answering keys); live sources keep dropping meanwhile."""
        if self.paused.is_set():
            self.paused.clear()
        else:
            self.paused.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask every stage to finish, make room in the queues, and wait for the threads."""
        self._stop.set()
        self.paused.clear()
        self.source.stop()
        deadline = time.perf_counter() + timeout
        while any(t.is_alive() for t in self._threads) and time.perf_counter() < deadline:
            self._drain()  # a stage waiting for room gets it, then sees the stop event
            try:
                self._inbox.put_nowait(SENTINEL)  # a stage waiting for input wakes up
            except queue.Full:
                pass
            for thread in self._threads:
                thread.join(timeout=0.05)

    def _close_sinks(self) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001 - close every sink, report the first failure
                errors.append(exc)
        if errors and self._error is None:
            self._error = errors[0]
