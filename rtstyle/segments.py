"""One long video in pieces: cut it at keyframes into segments that decode on their own, read each segment's frames
exactly once, and join the stylized segments back into one file.

Why keyframes: a decoder can start only there, so a segment that begins at one decodes without the frames before it.
Timestamps are integers in the video stream's own time base (never seconds), so a segment's first and last frames are
exact: segment k holds the frames whose timestamp t satisfies start_k <= t < start_{k+1}. Frames stay on the source's
timeline (a segment starting at 12 s writes its first frame at 12 s), so the joined file has the same frame count and
timestamps as one pass over the whole file; the join copies the encoded packets (no second encode) and then copies
the source's audio as `rtstyle run` does.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from rtstyle.errors import RtstyleError
from rtstyle.frames import Frame, SourceInfo
from rtstyle.io.base import Source
from rtstyle.io.pyav import load_av
from rtstyle.processing import resize


def _av():
    return load_av("splitting a video")


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) of a file's first video stream; timestamps in the stream's time base (`time_base` seconds
    per tick). end None: to the end of the file. `frames`: how many frames the segment holds (from the packet index)."""

    index: int
    start: int
    end: int | None
    frames: int
    time_base: Fraction

    @property
    def seconds(self) -> float:
        return float(self.start * self.time_base)


def frame_index(path: str | Path) -> tuple[list[int], list[int], Fraction]:
    """(every frame's timestamp in presentation order, the keyframes' timestamps, the time base), read from the
    packets alone (nothing is decoded: a long film takes seconds). Empty lists when the packets carry no timestamps."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise RtstyleError(f"not a readable video (no video stream in it): {path}")
            stream = container.streams.video[0]
            stamps, keys = [], []
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    return [], [], Fraction(stream.time_base)
                stamps.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
            return sorted(stamps), sorted(keys), Fraction(stream.time_base)
    except RtstyleError:
        raise
    except Exception:
        raise RtstyleError(f"not a readable video: {path}") from None


def plan_segments(path: str | Path, seconds: float) -> list[Segment]:
    """Cut at the first keyframe after every `seconds` of video (seconds <= 0: one segment). A file whose packets
    carry no timestamps stays whole. Every frame lands in exactly one segment."""
    stamps, keys, time_base = frame_index(path)
    if not stamps:
        raise RtstyleError(f"not a readable video (no frames): {path}")
    cuts = [stamps[0]]
    if seconds > 0:
        step = Fraction(seconds).limit_denominator(1000) / time_base  # in ticks
        for key in keys:
            if key - cuts[-1] >= step:
                cuts.append(key)
    bounds = list(zip(cuts, [*cuts[1:], None]))
    segments = []
    for index, (start, end) in enumerate(bounds):
        count = sum(1 for t in stamps if t >= start and (end is None or t < end))
        segments.append(Segment(index, start, end, count, time_base))
    return segments


class SegmentSource(Source):
    """The frames of one segment, in order, numbered from 0 (the pipeline's order) with their timestamps on the
    whole file's timeline. Like the whole-file source, frames that change size are scaled to the stream's size."""

    live = False

    def __init__(self, path: str | Path, segment: Segment, info: SourceInfo):
        """info: the whole file's (size, rate, codec); the segment's frame count replaces its count and the audio
        is left to the join."""
        super().__init__()
        self.path, self.segment = Path(path), segment
        self.info = replace(info, frame_count=segment.frames, has_audio=False)
        self._container = None
        self._index = 0

    def start(self) -> SegmentSource:
        av = _av()
        self._container = av.open(str(self.path))
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        if self.segment.index > 0:  # to the keyframe at (or, for an inexact index, before) the segment's start
            self._container.seek(self.segment.start, stream=stream, backward=True, any_frame=False)
        self._decoded = self._container.decode(stream)
        return self

    def _read(self) -> Frame | None:
        start, end = self.segment.start, self.segment.end
        for decoded in self._decoded:
            if decoded.pts is None:
                raise RtstyleError(f"a frame without a timestamp in {self.path}: this file cannot be split")
            if decoded.pts < start:
                continue  # decoded only to reach the segment's first frame
            if end is not None and decoded.pts >= end:
                return None
            image = decoded.to_ndarray(format="bgr24")
            if image.shape[:2] != (self.info.height, self.info.width):
                image = resize(image, self.info.height, self.info.width)
            frame = Frame(image, self._index, float(decoded.pts * self.segment.time_base), time.perf_counter())
            self._index += 1
            return frame
        return None

    def _release(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def join_segments(parts: list[Path], output: Path) -> int:
    """Copy the video packets of `parts` (in order; each encoded from one segment with the same settings) into
    `output`, one stream, timestamps unchanged. Returns the number of packets (frames) written."""
    av = _av()
    count, last_dts = 0, None
    with av.open(str(output), "w") as out:
        target = None
        for part in parts:
            with av.open(str(part)) as container:
                stream = container.streams.video[0]
                if target is None:
                    target = out.add_stream_from_template(stream)
                for packet in container.demux(stream):
                    if packet.dts is None or packet.size == 0:
                        continue  # the demuxer's end-of-stream marker, or a placeholder
                    dts = packet.dts * packet.time_base
                    if last_dts is not None and dts <= last_dts:
                        raise RtstyleError(f"segments overlap at {float(dts):.3f} s ({part.name}): cannot join")
                    last_dts = dts
                    packet.stream = target
                    out.mux(packet)
                    count += 1
    return count
