"""What the benchmarks' figures rest on, where a figure could be wrong without a run failing."""
from __future__ import annotations

import sys

import numpy as np
from conftest import REPO

from rtstyle.images import read_image
from rtstyle.model import open_model, shipped_models
from rtstyle.processing import resize
from rtstyle.stylizer import Stylizer

sys.path.insert(0, str(REPO / "benchmarks"))
from common import polyphase_average  # noqa: E402


def test_polyphase_average_takes_the_stride_grid_out_of_a_model(photo):
    """cin-tiny paints on a grid (a stride-4 stem, then 1/8 resolution): moved by 1 px, its output does not move with
    the scene. Its 8 × 8 polyphase average (bench_quality/bench_shift --shift-average 8) does, up to rounding."""
    scene = resize(read_image(photo), 164, 228)
    frame, moved = scene[:160, :224], scene[:160, 1:225]  # the scene moved 1 px to the left

    def shift_error(stylize) -> float:  # over the overlap, 16 px in from the borders
        a, b = stylize(frame).astype(np.float32), stylize(moved).astype(np.float32)
        return float(np.abs(a[16:-16, 17:-16] - b[16:-16, 16:-17]).mean())

    with open_model(shipped_models()["cin-tiny"], "onnxrt", "cpu") as model:
        stylizer = Stylizer(model)
        plain = shift_error(lambda f: stylizer([f])[0])
        averaged = shift_error(lambda f: polyphase_average(lambda g: stylizer([g])[0], f, 8))
    assert plain > 4.0 and averaged < 0.5, (plain, averaged)
    assert np.array_equal(polyphase_average(lambda f: f, frame, 4), frame)  # the identity stays the identity
