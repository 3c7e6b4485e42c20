"""The live view: how stylized frames are shown in the window (side by side, stats) and what its keys do."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtstyle.frames import Frame
from rtstyle.pipeline import Pipeline
from rtstyle.stylizer import Stylizer

HOTKEYS = "keys: n/p next/previous style, +/- strength, c colours, s side by side, i stats, space pause, q quit"


@dataclass
class View:
    """How stylized frames are shown; the window's keys change it."""

    side_by_side: bool = False
    show_stats: bool = True


def compose(frame: Frame, view: View) -> Frame:
    if not view.side_by_side or frame.original is None:
        return frame
    return Frame(np.hstack([frame.original, frame.image]), frame.index, frame.pts, frame.captured, None, frame.name)


def key_handler(stylizer: Stylizer, view: View, pipeline_ref: list[Pipeline]):
    def on_key(key: int) -> bool:
        pipeline = pipeline_ref[0]
        if key in (ord("q"), 27):
            return True
        if key == ord("n"):
            stylizer.cycle(1)
        elif key == ord("p"):
            stylizer.cycle(-1)
        elif key in (ord("+"), ord("=")):
            stylizer.set_strength(stylizer.strength + 0.1)
        elif key == ord("-"):
            stylizer.set_strength(stylizer.strength - 0.1)
        elif key == ord("c"):
            stylizer.preserve_colors = not stylizer.preserve_colors
        elif key == ord("s"):
            view.side_by_side = not view.side_by_side
        elif key == ord("i"):
            view.show_stats = not view.show_stats
        elif key == ord(" "):
            pipeline.toggle_pause()
        return False
    return on_key


