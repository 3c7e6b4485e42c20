"""The unit that flows through the pipeline: one picture with where and when it came from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    image: np.ndarray  # uint8 (H,W,3) BGR
    index: int  # 0, 1, 2… in source order
    pts: float | None = None  # presentation time in seconds on the source's timeline (files, streams)
    captured: float = 0.0  # time.perf_counter() when it was read, for latency
    original: np.ndarray | None = None  # the unstylized picture, kept for side-by-side views
    name: str | None = None  # the file it came from (image sources)


@dataclass
class SourceInfo:
    """What a sink needs to mirror the input: size, rate, codec, and where the audio is."""

    width: int
    height: int
    fps: float | None = None
    frame_count: int | None = None  # None for live sources
    codec: str | None = None  # decoder name, e.g. h264
    path: str | None = None  # the input file, for copying its audio
    has_audio: bool = False
