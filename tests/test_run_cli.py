"""`rtstyle run / stylize / styles` as a user runs them: real processes, files, signals and windows."""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import pytest
from helpers import STRICT, STYLE_NAMES, assert_one_line_error, make_clip, probe, rtstyle


def test_transcode_keeps_frames_rate_and_audio(cin_onnx, tmp_path):
    clip, out = tmp_path / "tone.mp4", tmp_path / "out.mp4"
    make_clip(clip, seconds=1.0)
    result = rtstyle("run", "--source", clip, "--model", cin_onnx, "--style", "ocean", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "25 frames" in result.stdout and "onnxrt" in result.stdout
    before, after = probe(clip), probe(out)
    assert after["count"] == before["count"] and after["fps"] == before["fps"]
    assert after["samples"] == before["samples"]


def test_styles_mix_strength_and_side_by_side(cin_onnx, tmp_path, photo):
    outputs = {}
    for name, extra in {"ember": ["--style", "ember"], "ocean": ["--style", "1"],
                        "mix": ["--style", "ember+ocean"], "weak": ["--style", "ember", "--strength", "0"]}.items():
        out = tmp_path / f"{name}.png"
        result = rtstyle("stylize", photo, "--model", cin_onnx, "-o", out, *extra)
        assert result.returncode == 0, result.stderr
        outputs[name] = cv2.imread(str(out)).astype(int)
    assert abs(outputs["ember"] - outputs["ocean"]).mean() > 3
    assert abs(outputs["mix"] - outputs["ember"]).mean() > 1 and abs(outputs["mix"] - outputs["ocean"]).mean() > 1
    assert abs(outputs["weak"] - cv2.imread(str(photo)).astype(int)).mean() < 1  # strength 0: the photo itself
    clip, out = tmp_path / "c.mp4", tmp_path / "sbs.mp4"
    make_clip(clip, seconds=0.4, audio=False)
    assert rtstyle("run", "--source", clip, "--model", cin_onnx, "-o", out, "--side-by-side").returncode == 0
    assert probe(out)["size"] == (320, 120)


def test_styles_lists_and_draws_a_sheet(cin_onnx, tmp_path):
    sheet = tmp_path / "sheet.png"
    result = rtstyle("styles", "--model", cin_onnx, "--sheet", sheet)
    assert result.returncode == 0, result.stderr
    for name in STYLE_NAMES:
        assert name in result.stdout
    # the photo and 3 styles fill a 2 × 2 grid (no empty cells); no painting of these styles exists, so no bands
    assert cv2.imread(str(sheet)).shape[:2] == (2 * 213, 2 * 320)


def test_one_line_errors(cin_onnx, tmp_path, shared, photo):
    video = shared / "video" / "carphone_pristine.mp4"
    out = tmp_path / "o.mp4"
    assert_one_line_error(rtstyle("run", "--source", tmp_path / "nope.mp4", "--model", cin_onnx, "-o", out),
                          "source not found")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(os.urandom(4000))
    assert_one_line_error(rtstyle("run", "--source", junk, "--model", cin_onnx, "-o", out), "not a readable video")
    assert_one_line_error(rtstyle("run", "--source", video, "--model", cin_onnx, "--style", "vermeer", "-o", out),
                          "unknown style", "ember, ocean, moss")
    fake_model = tmp_path / "model.onnx"
    fake_model.write_bytes(photo.read_bytes())
    assert_one_line_error(rtstyle("run", "--source", video, "--model", fake_model, "-o", out), "not a usable ONNX")
    assert_one_line_error(rtstyle("run", "--source", video, "--model", photo, "-o", out), "not a model file")
    assert_one_line_error(rtstyle("run", "--source", video, "--model", cin_onnx, "-o", tmp_path / "x.xyz"),
                          "unsupported video format")
    assert not out.exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_a_transcode_leaves_a_playable_file(cin_onnx, shared, tmp_path, stop):
    out = tmp_path / "cut.mp4"
    process = subprocess.Popen([sys.executable, "-m", "rtstyle", "run", "--source", shared / "video" / "vtest.avi",
                                "--model", cin_onnx, "-o", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".cut.partial-*")):
        time.sleep(0.2)
    time.sleep(3)  # let it write a while
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "stopped:" in stdout
    written = probe(out)
    assert 0 < written["count"] < 795
    assert f"({written['count']} frames)" in stdout  # every frame processed so far is in the file
    assert not list(tmp_path.glob(".cut.partial-*"))


XVFB, XDOTOOL = shutil.which("Xvfb") or "Xvfb", shutil.which("xdotool") or "xdotool"


@pytest.mark.skipif(not (shutil.which(XVFB) and shutil.which(XDOTOOL)) and not STRICT,
                    reason="needs Xvfb and xdotool (Debian packages xvfb, xdotool)")
def test_window_shows_frames_and_answers_keys(cin_onnx, shared):
    display = ":87"
    xvfb = subprocess.Popen([XVFB, display, "-screen", "0", "800x600x24"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        env = {**os.environ, "DISPLAY": display}
        deadline = time.time() + 30  # a loaded machine can take a while to start the X server
        while subprocess.run([XDOTOOL, "getdisplaygeometry"], env=env, capture_output=True).returncode != 0:
            assert time.time() < deadline, "Xvfb did not start"
            time.sleep(0.2)
        process = subprocess.Popen([sys.executable, "-m", "rtstyle", "run", "--source", shared / "video" / "bikes.mp4",
                                    "--realtime", "--model", cin_onnx], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        window = ""
        deadline = time.time() + 60
        while time.time() < deadline and not window and process.poll() is None:
            found = subprocess.run([XDOTOOL, "search", "--name", "^rtstyle$"], env=env, capture_output=True, text=True)
            window = found.stdout.split()[0] if found.stdout.split() else ""
            time.sleep(0.3)
        if not window:
            process.kill()
            pytest.fail(f"no rtstyle window appeared; rtstyle said: {process.communicate()[1].strip()[-500:]}")
        time.sleep(1.5)
        for key in ("n", "s", "q"):  # next style, side by side, quit
            subprocess.run([XDOTOOL, "key", "--window", window, key], env=env, check=True)
            time.sleep(0.5)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if "process" in locals() and process.poll() is None:
            process.kill()
        xvfb.terminate()
    assert process.returncode == 0, stderr
    assert "stopped:" in stdout and "keys:" in stdout


def test_virtual_camera_without_its_package_says_what_to_install(cin_onnx, shared):
    if importlib.util.find_spec("pyvirtualcam"):
        pytest.skip("pyvirtualcam is installed here; the message for a missing device needs a machine without one")
    result = rtstyle("run", "--source", shared / "video" / "carphone_pristine.mp4", "--model", cin_onnx,
                     "--virtual-camera", "--no-window")
    assert_one_line_error(result, "pyvirtualcam", "rtstyle[vcam]")
