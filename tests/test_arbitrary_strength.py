"""Strength for arbitrary-style models (Ghiasi et al. §4): the painting's embedding moves towards the frame's own,
encoded at FRAME_STYLE_SIDE once every FRAME_STYLE_EVERY frames; other families keep the pixel blend."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import make_checkpoint

from rtstyle.images import read_image
from rtstyle.model import open_model
from rtstyle.processing import fit_within, resize
from rtstyle.stylizer import FRAME_STYLE_EVERY, FRAME_STYLE_SIDE, Stylizer


@pytest.fixture(scope="module")
def arbitrary(tmp_path_factory):
    path = tmp_path_factory.mktemp("strength") / "arbitrary.pt"
    make_checkpoint(path, "arbitrary", "tiny")
    with open_model(path, backend="torch", device="cpu") as model:
        yield model


@pytest.fixture(scope="module")
def frame(photo):
    return read_image(photo)[:120, :160]


def test_strength_interpolates_the_style_embedding(arbitrary, frame, painting):
    stylizer = Stylizer(arbitrary)
    stylizer.set_style(str(painting))
    style = stylizer.style.cond
    own = arbitrary.encode(resize(frame, *fit_within(*frame.shape[:2], FRAME_STYLE_SIDE)))
    full = stylizer([frame])[0]
    assert np.array_equal(full, arbitrary.frames.infer([frame], style)[0])
    stylizer.set_strength(0.4)
    weak = stylizer([frame])[0]
    expected = arbitrary.frames.infer([frame], (0.4 * style + 0.6 * own).astype(np.float32))[0]
    assert np.array_equal(weak, expected)
    blended = (0.4 * full.astype(np.float32) + 0.6 * frame.astype(np.float32)).round()
    assert np.abs(weak.astype(np.float32) - blended).mean() > 1  # not a pixel blend
    stylizer.set_strength(0.0)
    assert np.array_equal(stylizer([frame])[0], arbitrary.frames.infer([frame], own)[0])


def test_frame_is_encoded_once_every_few_frames(arbitrary, frame, painting, monkeypatch):
    stylizer = Stylizer(arbitrary)
    stylizer.set_style(str(painting))
    stylizer.set_strength(0.5)
    sizes = []
    encode = arbitrary.encode
    monkeypatch.setattr(arbitrary, "encode", lambda image: sizes.append(image.shape[:2]) or encode(image))
    for _ in range(2 * FRAME_STYLE_EVERY):
        stylizer([frame])
    assert len(sizes) == 2 and max(sizes[0]) <= FRAME_STYLE_SIDE
    stylizer.set_strength(1.0)
    stylizer([frame])
    assert len(sizes) == 2  # full strength needs no frame embedding


def test_other_families_blend_pixels(tmp_path, frame):
    make_checkpoint(tmp_path / "cin.pt", "cin", "tiny")
    with open_model(tmp_path / "cin.pt", backend="torch", device="cpu") as model:
        stylizer = Stylizer(model)
        full = stylizer([frame])[0]
        stylizer.set_strength(0.0)
        assert np.array_equal(stylizer([frame])[0], frame)
        stylizer.set_strength(0.5)
        assert np.array_equal(stylizer([frame])[0], cv2.addWeighted(full, 0.5, frame, 0.5, 0.0))
