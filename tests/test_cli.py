"""The command line, run as a user runs it: a real process, real files."""
from __future__ import annotations

import os
import subprocess
import sys

import cv2
from helpers import assert_one_line_error, rtstyle


def test_gatys_missing_file(tmp_path, painting):
    result = rtstyle("gatys", tmp_path / "nope.jpg", painting, "-o", tmp_path / "out.png")
    assert_one_line_error(result, "file not found", "nope.jpg")
    assert result.returncode == 1


def test_gatys_non_image_file(tmp_path, photo):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture")
    result = rtstyle("gatys", photo, text, "-o", tmp_path / "out.png")
    assert_one_line_error(result, "not an image", "notes.jpg")


def test_unknown_option(tmp_path, photo, painting):
    result = rtstyle("gatys", photo, painting, "-o", tmp_path / "out.png", "--colour-magic")
    assert_one_line_error(result, "unrecognized arguments", "--colour-magic", code=2)
    assert result.returncode == 2
    assert_one_line_error(rtstyle("paint"), "invalid choice", code=2)


def test_output_folder_missing_and_input_not_overwritten(tmp_path, photo, painting):
    assert_one_line_error(rtstyle("gatys", photo, painting, "-o", tmp_path / "no" / "out.png"), "does not exist")
    copy = tmp_path / "photo.png"
    copy.write_bytes(photo.read_bytes())
    before = copy.read_bytes()
    result = rtstyle("gatys", copy, painting, "-o", copy, "--overwrite")
    assert_one_line_error(result, "overwrite an input")
    assert copy.read_bytes() == before


def test_gatys_writes_image_and_loss_curve(tmp_path, photo, painting):
    out, curve = tmp_path / "out.png", tmp_path / "curve.png"
    result = rtstyle("gatys", photo, painting, "-o", out, "--size", 64, "--iterations", 5, "--loss-curve", curve)
    assert result.returncode == 0, result.stderr
    image = cv2.imread(str(out))
    assert image is not None and max(image.shape[:2]) == 64
    assert cv2.imread(str(curve)) is not None
    assert "wrote" in result.stdout and "style" in result.stdout
    assert list(tmp_path.glob(".*partial*")) == []  # no temporary files left behind
    again = rtstyle("gatys", photo, painting, "-o", out, "--size", 64, "--iterations", 5)
    assert_one_line_error(again, "exists", "--overwrite")


def test_variants_prints_sizes_and_cost():
    result = rtstyle("variants")
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith(("tiny ", "base "))]
    table = {(row[0], row[1]): row for row in lines}
    assert table[("base", "feedforward")][2] == "1.679M"
    assert float(table[("tiny", "cin")][3]) < float(table[("base", "cin")][3]) / 10  # GMACs


def test_output_piped_to_a_reader_that_stops_early_ends_quietly():
    """`rtstyle variants | head -1`: the reader closes the pipe; rtstyle stops without an error or a traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is already gone: the first write breaks the pipe
    try:
        result = subprocess.run([sys.executable, "-m", "rtstyle", "variants"], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write_end)
    assert result.returncode == 0 and result.stderr == "", (result.returncode, result.stderr)
