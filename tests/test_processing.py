"""Frames ↔ tensors, still images and safe output files."""
from __future__ import annotations

import numpy as np
import pytest

from rtstyle.errors import RtstyleError
from rtstyle.files import atomic_output, check_output_path
from rtstyle.images import read_image, write_image
from rtstyle.processing import batch_to_frames, fit_within, frames_to_batch, resize


def test_frames_round_trip_exactly_and_swap_to_rgb():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (7, 9, 3), dtype=np.uint8) for _ in range(2)]
    copies = [f.copy() for f in frames]
    batch = frames_to_batch(frames)
    assert batch.shape == (2, 3, 7, 9) and batch.dtype == np.float32 and batch.flags.c_contiguous
    assert np.isclose(batch[1, 0, 3, 4], frames[1][3, 4, 2] / 255)  # channel 0 is red = BGR index 2
    assert all(np.array_equal(a, b) for a, b in zip(frames, copies))  # inputs untouched
    back = batch_to_frames(batch)
    assert all(np.array_equal(a, b) for a, b in zip(frames, back))


def test_batch_to_frames_clips():
    frames = batch_to_frames(np.array([[[[-0.5]], [[0.5]], [[1.5]]]], np.float32))
    assert frames[0].tolist() == [[[255, 128, 0]]]


def test_fit_within_and_resize():
    assert fit_within(1080, 1920, 512) == (288, 512)
    assert fit_within(100, 50, 512) == (100, 50)  # never enlarged
    frame = np.zeros((40, 60, 3), np.uint8)
    assert resize(frame, 20, 30).shape == (20, 30, 3)
    assert resize(frame, 40, 60) is frame


def test_read_image_errors(tmp_path, photo):
    assert read_image(photo).shape[2] == 3
    with pytest.raises(RtstyleError, match="file not found"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(RtstyleError, match="not a file"):
        read_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(RtstyleError, match="not an image"):
        read_image(tmp_path / "empty.png")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(photo.read_bytes()[:200])
    with pytest.raises(RtstyleError, match="not an image"):
        read_image(truncated)


def test_write_image_round_trip_and_unknown_suffix(tmp_path):
    frame = np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    path = write_image(tmp_path / "ünïcode.png", frame)
    assert np.array_equal(read_image(path), frame)
    with pytest.raises(RtstyleError, match="unsupported image format"):
        write_image(tmp_path / "out.xyz", frame)


def test_atomic_output_renames_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "result.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_text("whole")
        assert not target.exists()
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


def test_check_output_path(tmp_path):
    existing = tmp_path / "a.png"
    existing.write_bytes(b"x")
    with pytest.raises(RtstyleError, match="exists"):
        check_output_path(existing)
    assert check_output_path(existing, overwrite=True) == existing
    with pytest.raises(RtstyleError, match="overwrite an input"):
        check_output_path(existing, inputs=[existing], overwrite=True)
    with pytest.raises(RtstyleError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "b.png")
    with pytest.raises(RtstyleError, match="is a folder"):
        check_output_path(tmp_path, overwrite=True)
