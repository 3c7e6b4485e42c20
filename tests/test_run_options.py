"""`rtstyle run` options, each seen in what comes out: several inference workers keep the source order,
--preserve-colors keeps the input's chroma, --infer-size runs the network smaller, --stream sends the stylized frames,
and an image folder comes out image by image under the same names."""
from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import probe, rtstyle

from rtstyle.io.video_in import VideoFileSource
from rtstyle.model import open_model
from rtstyle.pipeline import Pipeline
from rtstyle.processing import fit_within, resize
from rtstyle.stylizer import Stylizer

CPU = ("--backend", "onnxrt", "--device", "cpu")  # the same backend and precision in the CLI and in the test


@pytest.fixture(scope="module")
def stylizer(cin_onnx):
    with open_model(cin_onnx, "onnxrt", "cpu") as model:
        yield Stylizer(model)


@pytest.fixture(scope="module")
def clip(shared) -> Path:
    return shared / "video" / "carphone_pristine.mp4"  # real footage, 176×144: adjacent frames differ


def decoded(path: Path, count: int) -> list[np.ndarray]:
    return probe(path)["frames"][:count]


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def small_photo(path: Path, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(cv2.imread(str(path)), size, interpolation=cv2.INTER_AREA)


# --- several inference workers ------------------------------------------------------------------------------------

class Kept:
    """A sink that keeps every frame it is given: the source image and its stylization."""

    def __init__(self):
        self.originals, self.images = [], []

    def write(self, frame) -> None:
        self.originals.append(frame.original)
        self.images.append(frame.image)

    def close(self) -> None:
        pass


class Uneven:
    """A real worker that takes its time over its first frame, so frames given to the others after it finish
    first: the order in which workers finish is not the source order. Notes the images it finished, in order."""

    def __init__(self, worker: Stylizer, delay: float, finished: list[bytes]):
        self.worker, self.delay, self.finished = worker, delay, finished

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        if self.delay:
            time.sleep(self.delay)
            self.delay = 0.0
        outputs = self.worker(images)
        self.finished += [image.tobytes() for image in images]
        return outputs


def test_several_workers_keep_the_source_order(stylizer, clip):
    frames = decoded(clip, 24)
    place = {frame.tobytes(): i for i, frame in enumerate(frames)}  # each frame is known by its content
    assert len(place) == len(frames)
    expected = stylizer(frames)
    finished: list[bytes] = []
    workers = stylizer.replicas(3)  # what `rtstyle run` gives a file: one-thread copies sharing the controls
    assert len(workers) == 3
    source = VideoFileSource(clip).start()
    kept = Kept()
    try:
        Pipeline(source, [Uneven(w, 0.3 if i == 0 else 0.0, finished) for i, w in enumerate(workers)], [kept],
                 max_frames=len(frames)).run()
    finally:
        source.stop()
        for worker in workers:
            worker.backend.close()
    finish_order = [place[key] for key in finished if key in place]
    assert finish_order != sorted(finish_order)  # the workers did finish out of order
    assert len(kept.images) == len(frames)
    for i, (original, image) in enumerate(zip(kept.originals, kept.images)):
        assert np.array_equal(original, frames[i]), f"output {i} is not source frame {i}"
        assert np.array_equal(image, expected[i]), f"output {i} is not the stylization of source frame {i}"


def test_rtstyle_run_with_several_workers_matches_one_worker_frame_by_frame(cin_onnx, clip, tmp_path):
    runs = {}
    for workers in (1, 3):
        out = tmp_path / f"workers{workers}.mp4"
        result = rtstyle("run", "--source", clip, "--model", cin_onnx, *CPU, "--workers", workers, "--max-frames", 24,
                         "--crf", 0, "-o", out)  # crf 0: lossless, so equal frames encode equally
        assert result.returncode == 0, result.stderr
        runs[workers] = probe(out)["frames"]
    assert len(runs[1]) == len(runs[3]) == 24
    for i in range(24):
        errors = {j: mean_error(runs[3][i], runs[1][j]) for j in range(max(0, i - 2), min(24, i + 3))}
        assert errors[i] < 0.5 and min(errors, key=errors.get) == i, (i, errors)


# --- colours, inference size, image folders ----------------------------------------------------------------------

def test_preserve_colors_keeps_the_input_chroma(cin_onnx, stylizer, photo, tmp_path):
    (tmp_path / "in").mkdir()
    image = small_photo(photo, (160, 120))
    cv2.imwrite(str(tmp_path / "in" / "cat.png"), image)
    result = rtstyle("run", "--source", tmp_path / "in" / "cat.png", "--model", cin_onnx, *CPU, "--preserve-colors",
                     "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    kept = cv2.imread(str(tmp_path / "out" / "cat.png"))

    def ycrcb(bgr: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb).astype(int)

    styled = stylizer([image])[0]  # the same style, colours not kept
    chroma_error = np.abs(ycrcb(kept)[..., 1:] - ycrcb(image)[..., 1:])
    assert chroma_error.mean() < 0.5 and np.percentile(chroma_error, 99) <= 2  # the input's colours
    assert np.abs(ycrcb(styled)[..., 1:] - ycrcb(image)[..., 1:]).mean() > 5  # which stylizing alone changes
    assert np.abs(ycrcb(kept)[..., 0] - ycrcb(styled)[..., 0]).mean() < 1  # the stylized luminance
    assert np.abs(ycrcb(kept)[..., 0] - ycrcb(image)[..., 0]).mean() > 5


class SizeSpy:
    """The real backend, noting the size of every frame it is given."""

    def __init__(self, backend):
        self.backend, self.sizes = backend, []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def infer(self, frames, cond=None):
        self.sizes += [frame.shape[:2] for frame in frames]
        return self.backend.infer(frames, cond)


def test_infer_size_runs_the_network_smaller_and_keeps_the_frame_size(cin_onnx, stylizer, photo, tmp_path):
    (tmp_path / "in").mkdir()
    image = small_photo(photo, (160, 120))
    cv2.imwrite(str(tmp_path / "in" / "cat.png"), image)
    result = rtstyle("run", "--source", tmp_path / "in" / "cat.png", "--model", cin_onnx, *CPU, "--infer-size", 48,
                     "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    out = cv2.imread(str(tmp_path / "out" / "cat.png"))
    assert out.shape == image.shape  # the output keeps the frame size
    spy = SizeSpy(stylizer.backend)
    small = Stylizer(type(stylizer.model)(stylizer.model.path, spy), infer_size=48)([image])[0]
    assert spy.sizes == [fit_within(120, 160, 48)] == [(36, 48)]  # the network ran at a long side of 48
    assert mean_error(out, small) < 0.5
    # what the network made at 48×36, scaled up: shrunk back, the output is that
    network = stylizer.backend.infer([resize(image, 36, 48)], stylizer.style.cond)[0]
    assert mean_error(cv2.resize(out, (48, 36), interpolation=cv2.INTER_AREA), network) < 6
    assert mean_error(out, stylizer([image])[0]) > 5  # and not what a full-size run gives


def test_image_folder_in_image_folder_out(cin_onnx, stylizer, shared, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    inputs = {"054_chelsea.jpg": (96, 64), "000_Aqua.png": (64, 96), "007_RainDrops.JPG": (80, 80)}
    for name, size in inputs.items():
        source = shared / "photos" / (Path(name).stem + ".jpg")
        cv2.imwrite(str(folder / name), small_photo(source, size))
    (folder / "notes.txt").write_text("not an image")
    result = rtstyle("run", "--source", folder, "--model", cin_onnx, *CPU, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(Path(n).stem + ".png" for n in inputs)
    for name in inputs:
        original = cv2.imread(str(folder / name))
        out = cv2.imread(str(tmp_path / "out" / (Path(name).stem + ".png")))
        assert out.shape == original.shape, name  # each image keeps its own size
        assert mean_error(out, stylizer([original])[0]) < 0.5, name  # and is its own stylization


# --- stream output -------------------------------------------------------------------------------------------------

class Listener:
    """A TCP listener on loopback that keeps every byte sent to it (the far end of a --stream tcp:// output)."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.received = io.BytesIO()
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        self.socket.settimeout(120)
        connection, _ = self.socket.accept()
        with connection:
            while data := connection.recv(65536):
                self.received.write(data)

    def close(self) -> bytes:
        self.thread.join(timeout=30)
        self.socket.close()
        return self.received.getvalue()


def test_stream_output_carries_every_stylized_frame(cin_onnx, stylizer, clip, tmp_path):
    import av

    listener = Listener()
    result = rtstyle("run", "--source", clip, "--model", cin_onnx, *CPU, "--max-frames", 20,
                     "--stream", f"tcp://127.0.0.1:{listener.port}")
    data = listener.close()
    assert result.returncode == 0, result.stderr
    with av.open(io.BytesIO(data), format="mpegts") as container:
        received = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
        assert container.streams.video[0].codec_context.name == "h264"
    frames = decoded(clip, 20)
    assert len(received) == 20 and received[0].shape == frames[0].shape
    for frame, got, want in zip(frames, received, stylizer(frames)):
        assert mean_error(got, want) < 0.5 * mean_error(got, frame)  # the stylized frame, not the source


def test_avi_output_in_an_old_codec(cin_onnx, shared, tmp_path):
    """vtest.avi's MS-MPEG-4 is kept in an .avi output, at a fixed quality (PyAV takes that flag as an enum)."""
    out = tmp_path / "out.avi"
    result = rtstyle("run", "--source", shared / "video" / "vtest.avi", "--model", cin_onnx, "--output", out,
                     "--max-frames", 8, "--no-window")
    assert result.returncode == 0, result.stderr
    info = probe(out)
    assert info["codec"].startswith("msmpeg4") and info["count"] == 8
