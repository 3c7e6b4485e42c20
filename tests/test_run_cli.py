"""`rtstyle run / stylize / styles` as a user runs them: real processes, files, signals and windows."""
from __future__ import annotations

import importlib.util
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import STRICT, STYLE_NAMES, assert_one_line_error, make_clip, probe, rtstyle

from rtstyle.model import choose_backend, open_model
from rtstyle.stylizer import Stylizer


def test_transcode_keeps_frames_rate_and_audio(cin_onnx, tmp_path):
    clip, out = tmp_path / "tone.mp4", tmp_path / "out.mp4"
    make_clip(clip, seconds=1.0)
    result = rtstyle("run", "--source", clip, "--model", cin_onnx, "--style", "ocean", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "25 frames" in result.stdout and f"on {choose_backend(cin_onnx)[0]}" in result.stdout
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


def write_tone(path: Path, seconds: float = 0.5, rate: int = 16000) -> None:
    """A real audio-only file (a 440 Hz tone in PCM WAV), the kind of input a user mistakes for a video."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate)
        tone = (np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_one_line_errors(cin_onnx, tmp_path, shared, photo):
    video = shared / "video" / "carphone_pristine.mp4"
    out = tmp_path / "o.mp4"
    assert_one_line_error(rtstyle("run", "--source", tmp_path / "nope.mp4", "--model", cin_onnx, "-o", out),
                          "source not found")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(os.urandom(4000))  # random bytes: FFmpeg may take them for nothing or for an audio format
    assert_one_line_error(rtstyle("run", "--source", junk, "--model", cin_onnx, "-o", out), "not a readable video")
    sound = tmp_path / "tone.wav"
    write_tone(sound)
    assert_one_line_error(rtstyle("run", "--source", sound, "--model", cin_onnx, "-o", out),
                          "not a readable video", "no video stream")
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


def still_clip(path: Path, image: np.ndarray, frames: int = 25) -> np.ndarray:
    """A lossless H.264 clip showing `image` in every frame; returns the frame as it decodes (the same every time)."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
        video.options = {"qp": "0"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="bgr24")


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """An X server on a display number it picks itself (no clash with another test run on the machine)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0", "800x600x24"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as reader:
        ready, _, _ = select.select([reader], [], [], 30)  # a loaded machine can take a while to start it
        number = reader.readline().strip() if ready else ""
    if not number:
        xvfb.kill()
        pytest.fail("Xvfb did not start")
    return xvfb, f":{number}"


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


@pytest.mark.skipif(not (shutil.which(XVFB) and shutil.which(XDOTOOL)) and not STRICT,
                    reason="needs Xvfb and xdotool (Debian packages xvfb, xdotool)")
def test_window_keys_change_the_frames(cin_onnx, photo, tmp_path):
    """A real window under Xvfb, keys typed with xdotool, and their effect seen on the frames themselves (the run
    also serves them on its web page): `n` brings the next style, `s` puts the original beside the stylized frame."""
    still = cv2.resize(cv2.imread(str(photo)), (160, 120), interpolation=cv2.INTER_AREA)
    frame = still_clip(tmp_path / "still.mp4", still)  # every frame the same: only the keys change what comes out
    with open_model(cin_onnx, "onnxrt", "cpu") as model:
        stylizer = Stylizer(model)
        styled = [stylizer([frame])[0]]  # style 0
        stylizer.cycle(1)
        styled.append(stylizer([frame])[0])  # style 1
    assert mean_error(*styled) > 10

    def nearer(image: np.ndarray, style: int) -> bool:  # the served JPEG is much nearer that style than the other
        return mean_error(image, styled[style]) < 0.5 * mean_error(image, styled[1 - style])

    xvfb, display = start_xvfb()
    env = {**os.environ, "DISPLAY": display, "PYTHONUNBUFFERED": "1"}
    stdout: list[str] = []
    errors = (tmp_path / "stderr.txt").open("w")
    try:
        process = subprocess.Popen([sys.executable, "-m", "rtstyle", "run", "--source", tmp_path / "still.mp4",
                                    "--realtime", "--loop", "--serve", "0", "--model", cin_onnx, "--backend",
                                    "onnxrt", "--device", "cpu"], env=env, stdout=subprocess.PIPE, stderr=errors,
                                   text=True)
        reader = threading.Thread(target=lambda: stdout.extend(process.stdout), daemon=True)
        reader.start()

        def said() -> str:
            return (tmp_path / "stderr.txt").read_text().strip()[-500:]

        def wait_for(what: str, found, seconds: float = 60):  # found() gives None until it happens
            deadline = time.time() + seconds  # generous: a loaded 2-core machine
            while time.time() < deadline and process.poll() is None:
                result = found()
                if result is not None:
                    return result
                time.sleep(0.2)
            pytest.fail(f"{what} did not happen; rtstyle said: {said()}")

        def served() -> str | None:
            return next((m.group(1) for line in stdout if (m := re.search(r"serving on (http://\S+/)", line))), None)

        page = wait_for("serving", served)

        def snapshot() -> np.ndarray | None:
            try:
                with urllib.request.urlopen(page + "frame.jpg", timeout=10) as response:
                    return cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
            except OSError:  # 503 before the first frame
                return None

        def window() -> str | None:
            found = subprocess.run([XDOTOOL, "search", "--name", "^rtstyle$"], env=env, capture_output=True, text=True)
            return (found.stdout.split() or [None])[0]

        def key(name: str) -> None:
            subprocess.run([XDOTOOL, "key", "--window", handle, name], env=env, check=True, capture_output=True)

        handle = wait_for("a window", window)
        before = wait_for("a frame on the page", snapshot)
        assert before.shape == still.shape and nearer(before, 0)
        key("n")  # next style: the frames change to style 1
        after = wait_for("the next style on the frames",
                         lambda: s if (s := snapshot()) is not None and nearer(s, 1) else None)
        assert after.shape == still.shape
        key("s")  # side by side: the original | the stylized frame, twice as wide
        both = wait_for("side by side", lambda: s if (s := snapshot()) is not None and s.shape[1] == 320 else None)
        assert both.shape == (120, 320, 3)
        assert mean_error(both[:, :160], frame) < 0.5 * mean_error(both[:, :160], styled[1])
        assert nearer(both[:, 160:], 1)
        key("q")
        process.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if "process" in locals() and process.poll() is None:
            process.kill()
        xvfb.terminate()
        errors.close()
    assert process.returncode == 0, said()
    assert any("keys:" in line for line in stdout) and any(line.startswith("stopped:") for line in stdout)


def test_virtual_camera_without_its_package_says_what_to_install(cin_onnx, shared):
    if importlib.util.find_spec("pyvirtualcam"):
        pytest.skip("pyvirtualcam is installed here; the message for a missing device needs a machine without one")
    result = rtstyle("run", "--source", shared / "video" / "carphone_pristine.mp4", "--model", cin_onnx,
                     "--virtual-camera", "--no-window")
    assert_one_line_error(result, "pyvirtualcam", "rtstyle[vcam]")
