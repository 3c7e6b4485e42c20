"""The bare runtime (`pip install .`: numpy + OpenCV + ONNX Runtime, no PyAV) reads and writes video files through
OpenCV. The CLI runs in a subprocess where PyAV cannot be imported (a sitecustomize sets sys.modules["av"] = None),
as on a machine that never installed it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import assert_one_line_error, rtstyle

from rtstyle.errors import RtstyleError
from rtstyle.frames import Frame
from rtstyle.io.cv_video import CvVideoFileSink, CvVideoFileSource

SAMPLE = Path(__file__).resolve().parents[1] / "rtstyle" / "assets" / "sample.mp4"
BAR = (0, 128, 255)  # BGR colour of the bar that sweeps across the synthetic clip


@pytest.fixture
def no_pyav(tmp_path) -> dict:
    """The environment of a process in which `import av` fails."""
    shim = tmp_path / "no_pyav"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text('import sys\nsys.modules["av"] = None  # as if PyAV were not installed\n')
    paths = [str(shim), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))


def read_all(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, decoded by OpenCV (independent of the code under test)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def bar_clip(path: Path, count: int = 40, size=(160, 120)) -> None:
    """A clip whose frame i shows a bar 4·(i+1) px wide: a frame's index can be read back from the picture."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, size)
    for i in range(count):
        image = np.full((size[1], size[0], 3), 40, np.uint8)
        image[:, : 4 * (i + 1)] = BAR
        writer.write(image)
    writer.release()


def bar_width(image: np.ndarray) -> int:
    row = image[image.shape[0] // 2].astype(int)
    return int((np.abs(row - BAR).sum(axis=1) < 90).sum())


def test_the_shim_really_hides_pyav(no_pyav):
    result = subprocess.run([sys.executable, "-c", "import av"], env=no_pyav, capture_output=True, text=True)
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr


def test_run_without_pyav_writes_every_frame_in_order(no_pyav, tmp_path):
    clip, out = tmp_path / "bars.avi", tmp_path / "out.mp4"
    bar_clip(clip)
    result = rtstyle("run", "--source", clip, "--output", out, "--strength", "0", env=no_pyav)  # strength 0: the input
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if "PyAV is not installed" in line]
    assert len(notes) == 1 and "without audio" in notes[0], result.stdout
    frames = read_all(out)
    assert len(frames) == 40 and frames[0].shape == (120, 160, 3)
    assert [round(bar_width(f) / 4) for f in frames] == list(range(1, 41))  # every frame once, in order
    assert not list(tmp_path.glob(".*partial*"))


def test_demo_without_pyav_stylizes_every_frame_of_the_sample(no_pyav, tmp_path):
    result = rtstyle("demo", cwd=tmp_path, env=no_pyav)
    assert result.returncode == 0, result.stderr
    assert sum("PyAV is not installed" in line for line in result.stdout.splitlines()) == 1
    assert "fps once running" in result.stdout and "one-off costs: model load" in result.stdout
    (video,) = (tmp_path / "rtstyle-demo").glob("stylized-*.mp4")
    sample, stylized = read_all(SAMPLE), read_all(video)
    assert len(stylized) == len(sample) == 250 and stylized[0].shape == sample[0].shape
    assert np.abs(stylized[5].astype(int) - sample[5]).mean() > 10  # stylized, not copied


@pytest.mark.parametrize("pyav", [True, False], ids=["pyav", "opencv"])
def test_a_failed_demo_leaves_no_folder(pyav, no_pyav, tmp_path):
    """A clip whose index is intact but whose frame data is zeroed opens, then fails at the first frame: after the
    results folder was made."""
    data = bytearray(SAMPLE.read_bytes())
    start, end = data.find(b"mdat") + 4, data.find(b"moov") - 4
    data[start:end] = bytes(end - start)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data)
    result = rtstyle("demo", "--source", broken, cwd=tmp_path, env=None if pyav else no_pyav)
    assert_one_line_error(result, "no frame decodes")
    assert not (tmp_path / "rtstyle-demo").exists()


def test_opencv_source_loops_with_continuing_timestamps(shared):
    source = CvVideoFileSource(shared / "video" / "carphone_pristine.mp4", loop=True).start()  # 120 frames
    try:
        frames = [source.read() for _ in range(130)]
    finally:
        source.stop()
    assert [f.index for f in frames] == list(range(130))
    times = [f.pts for f in frames]
    assert all(later > earlier for earlier, later in zip(times, times[1:]))
    assert source.info.width == 176 and source.info.has_audio is False


def test_opencv_sink_and_source_refuse_what_they_cannot_do(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("no video here")
    with pytest.raises(RtstyleError, match="not a readable video"):
        CvVideoFileSource(fake)
    with pytest.raises(RtstyleError, match="needs PyAV"):
        CvVideoFileSink(tmp_path / "out.webm")
    sink = CvVideoFileSink(tmp_path / "out.avi", fps=10)
    for i in range(5):
        sink.write(Frame(np.full((64, 96, 3), 50 * i, np.uint8), i))
    assert not (tmp_path / "out.avi").exists()  # under a temporary name until closed
    sink.close()
    assert len(read_all(tmp_path / "out.avi")) == 5
