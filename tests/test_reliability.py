"""Bad input, faults and long runs: each case tried for real, each a one-line error or a clean recovery."""
from __future__ import annotations

import ctypes
import gc
import http.client
import json
import os
import pickle
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import STRICT, LiveStream, assert_one_line_error, make_clip, probe, rtstyle

from rtstyle.errors import DeviceOutOfMemory
from rtstyle.frames import Frame
from rtstyle.io.mjpeg import MjpegServer
from rtstyle.io.video_in import StreamSource, VideoFileSource
from rtstyle.model import open_model
from rtstyle.pipeline import Pipeline
from rtstyle.stylizer import Stylizer

REPO = Path(__file__).resolve().parents[1]


# --- bad input -------------------------------------------------------------------------------------------------

def test_absurd_sizes(cin_onnx, tmp_path):
    tiny = tmp_path / "dot.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    assert_one_line_error(rtstyle("stylize", tiny, "--model", cin_onnx, "-o", tmp_path / "a.png"),
                          "unsupported size 1x1")
    huge = tmp_path / "huge.png"
    cv2.imwrite(str(huge), np.zeros((10000, 10000, 3), np.uint8))
    assert_one_line_error(rtstyle("stylize", huge, "--model", cin_onnx, "-o", tmp_path / "b.png"),
                          "unsupported size 10000x10000")


def test_frames_that_change_size_mid_stream(cin_onnx, tmp_path):
    """Two MPEG-TS clips of different sizes, back to back in one file: the decoder sees the size change."""
    parts = []
    for size, name in (((160, 120), "a"), ((96, 64), "b")):
        make_clip(tmp_path / f"{name}.mp4", seconds=0.4, size=size, audio=False)
        import av
        with av.open(str(tmp_path / f"{name}.mp4")) as src, av.open(str(tmp_path / f"{name}.ts"), "w") as dst:
            stream = dst.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(src.streams.video[0]):
                if packet.dts is not None:
                    packet.stream = stream
                    dst.mux(packet)
        parts.append((tmp_path / f"{name}.ts").read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    out = tmp_path / "out.mp4"
    result = rtstyle("run", "--source", joined, "--model", cin_onnx, "-o", out)
    assert result.returncode == 0, result.stderr
    written = probe(out)
    assert written["size"] == (160, 120) and written["count"] == 20


def test_streams_that_refuse_or_stall(cin_onnx, tmp_path):
    assert_one_line_error(rtstyle("run", "--source", "http://127.0.0.1:9/live.ts", "--model", cin_onnx,
                                  "--no-window", "--serve", "0"), "cannot open stream")
    stall = socket.socket()
    stall.bind(("127.0.0.1", 0))
    stall.listen()  # accepts connections, never answers
    started = time.time()
    result = rtstyle("run", "--source", f"http://127.0.0.1:{stall.getsockname()[1]}/live.ts", "--model", cin_onnx,
                     "--no-window", "--serve", "0", timeout=60)
    stall.close()
    assert_one_line_error(result, "cannot open stream")
    assert time.time() - started < 30


def test_camera_that_does_not_exist(cin_onnx):
    assert_one_line_error(rtstyle("run", "--source", "7", "--model", cin_onnx, "--no-window", "--serve", "0"),
                          "camera 7 not found")


def test_wrong_model_files(exported, tmp_path, shared):
    import onnx

    video = shared / "video" / "carphone_pristine.mp4"
    good = exported["cin"][2][0].path
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    other_format = tmp_path / "notes.onnx"
    other_format.write_bytes((shared / "styles" / "SOURCES.md").read_bytes())
    cases = {truncated: "not a usable ONNX", other_format: "not a usable ONNX"}
    for name, change, expected in (("unknown.onnx", {"family": "pix2pix"}, "invalid rtstyle metadata"),
                                   ("lying.onnx", {"style_dim": 5, "style_names": list("abcde")}, "5 styles")):
        model = onnx.load(str(good))
        prop = next(p for p in model.metadata_props if p.key == "rtstyle")
        prop.value = json.dumps({**json.loads(prop.value), **change})
        onnx.save(model, str(tmp_path / name))
        cases[tmp_path / name] = expected
    for path, expected in cases.items():
        assert_one_line_error(rtstyle("run", "--source", video, "--model", path, "-o", tmp_path / "o.mp4"), expected)
    assert not (tmp_path / "o.mp4").exists()


def test_checkpoints_never_run_code(tmp_path):
    """torch.load(weights_only=True): a pickle that would run a command is refused, and the command never runs."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"rtstyle_meta": "{}", "state_dict": Exploit()}))
    assert_one_line_error(rtstyle("export", evil, "--format", "onnx"), "not an rtstyle checkpoint")
    assert not marker.exists()


def test_output_paths(cin_onnx, tmp_path, shared):
    video = shared / "video" / "carphone_pristine.mp4"
    assert_one_line_error(rtstyle("run", "--source", video, "--model", cin_onnx, "-o", tmp_path / "no" / "o.mp4"),
                          "output folder does not exist")
    copy = tmp_path / "input.mp4"
    copy.write_bytes(video.read_bytes())
    assert_one_line_error(rtstyle("run", "--source", copy, "--model", cin_onnx, "-o", copy, "--overwrite"),
                          "overwrite an input")
    assert copy.read_bytes() == video.read_bytes()
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"keep me")
    assert_one_line_error(rtstyle("run", "--source", video, "--model", cin_onnx, "-o", existing), "--overwrite")
    assert existing.read_bytes() == b"keep me"


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        if STRICT:
            pytest.fail("cannot mount a read-only tmpfs")
        pytest.skip("needs root to mount a read-only filesystem")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_read_only_output_folder(cin_onnx, shared, read_only_folder):
    result = rtstyle("run", "--source", shared / "video" / "carphone_pristine.mp4", "--model", cin_onnx,
                     "-o", read_only_folder / "o.mp4")
    assert_one_line_error(result, "not writable")


# --- faults ----------------------------------------------------------------------------------------------------

class SlowSink:
    def __init__(self, delay: float):
        self.delay, self.count = delay, 0

    def write(self, frame):
        time.sleep(self.delay)  # a stalled network peer, say
        self.count += 1

    def close(self):
        pass


def test_slow_sink_never_holds_up_live_capture(cin_onnx, shared):
    with open_model(cin_onnx) as model:
        source = VideoFileSource(shared / "video" / "bikes.mp4", realtime=True)  # 25 fps, live
        source.start()
        sink = SlowSink(0.25)
        pipeline = Pipeline(source, Stylizer(model), [sink], max_frames=8)
        stats = pipeline.run()
        source.stop()
    assert sink.count == 8
    # Only ~4 frames a second left the pipeline. Had the sink held up capture, it would have read about that many
    # plus the queues' few slots; instead it kept reading the 25 fps source (on a loaded 2-core machine decoding and
    # inference share the cores, so the pace is not checked exactly, only that it is far above the sink's).
    assert stats.frames_in > 3 * sink.count + 4
    assert stats.dropped > stats.frames_in - 16


class MemoryHungryBackend:
    """A real backend that reports out-of-memory above a pixel budget, as a GPU does at large sizes."""

    def __init__(self, backend, budget: int):
        self.backend, self.budget, self.sizes = backend, budget, []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def infer(self, frames, cond=None):
        self.sizes.append(frames[0].shape[:2])
        if frames[0].shape[0] * frames[0].shape[1] > self.budget:
            raise DeviceOutOfMemory("out of device memory")
        return self.backend.infer(frames, cond)


def test_out_of_memory_lowers_the_inference_size(cin_onnx, capsys):
    with open_model(cin_onnx) as model:
        hungry = MemoryHungryBackend(model.frames, budget=300 * 300)
        stylizer = Stylizer(type(model)(model.path, hungry))
        frame = np.zeros((720, 1280, 3), np.uint8)
        out = stylizer([frame])[0]
    assert out.shape == frame.shape
    assert hungry.sizes[0] == (720, 1280) and hungry.sizes[-1][0] * hungry.sizes[-1][1] <= 300 * 300
    assert "inference size lowered" in capsys.readouterr().out


class Recorder:
    """A sink that counts the frames it is given and keeps the last one."""

    def __init__(self):
        self.count, self.last = 0, None

    def write(self, frame: Frame) -> None:
        self.count, self.last = self.count + 1, frame.image

    def close(self) -> None:
        pass


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.perf_counter() + seconds
    while not condition():
        assert time.perf_counter() < deadline, f"timed out after {seconds} s waiting for {what}"
        time.sleep(0.02)


def snapshot(server: MjpegServer) -> np.ndarray:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.request("GET", "/frame.jpg")
    response = connection.getresponse()
    assert response.status == 200
    return cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)


def test_a_stream_that_drops_is_reopened_while_the_page_keeps_its_last_frame(cin_onnx, shared):
    """A real network stream (a clip served live over HTTP) → model → web page. The stream goes away mid-way: the
    source says it is reconnecting, the page still serves the last frame; the stream comes back: frames flow again."""
    stream = LiveStream(shared / "video" / "carphone_pristine.mp4").start()
    source = StreamSource(stream.url, timeout=2.0)
    server, recorder = MjpegServer(port=0), Recorder()
    with open_model(cin_onnx) as model:
        source.start()
        pipeline = Pipeline(source, Stylizer(model), [server, recorder])
        runner = threading.Thread(target=pipeline.run, daemon=True)
        runner.start()
        try:
            wait_until(lambda: recorder.count >= 10, 30, "frames from the stream")
            assert source.reconnects == 0 and not source.reconnecting
            stream.drop()
            wait_until(lambda: source.reconnecting, 10, "the source to notice the drop")
            time.sleep(1.0)  # the stream stays away a while (reopening is tried and refused meanwhile)
            assert source.reconnecting and source.reconnects == 0
            held = recorder.count
            # the page keeps the last stylized frame: exactly that frame as the server encodes it
            ok, last = cv2.imencode(".jpg", recorder.last, [cv2.IMWRITE_JPEG_QUALITY, server.quality])
            assert np.array_equal(snapshot(server), cv2.imdecode(last, cv2.IMREAD_COLOR))
            stream.restore()
            wait_until(lambda: recorder.count >= held + 10, 30, "frames after the stream came back")
            assert source.reconnects >= 1 and not source.reconnecting and stream.connections == 2
        finally:
            source.stop()
            runner.join(timeout=10)
            stream.drop()
    assert not runner.is_alive()
    assert pipeline.stats.frames_out == recorder.count


# --- security --------------------------------------------------------------------------------------------------

def test_server_limits_clients():
    server = MjpegServer(port=0, max_clients=1).start()
    feeding = threading.Event()

    def feed():
        while not feeding.is_set():
            server.write(Frame(np.zeros((16, 16, 3), np.uint8), 0))
            time.sleep(0.02)

    threading.Thread(target=feed, daemon=True).start()
    try:
        first = http.client.HTTPConnection(server.host, server.port, timeout=5)
        first.request("GET", "/stream.mjpg")
        assert first.getresponse().status == 200
        second = http.client.HTTPConnection(server.host, server.port, timeout=5)
        second.request("GET", "/stream.mjpg")
        assert second.getresponse().status == 503
    finally:
        feeding.set()
        server.close()


def test_no_shell_strings_in_the_code():
    """Commands are argument lists, never strings a shell would parse."""
    pattern = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|subprocess\.getoutput|commands\.getoutput")
    offenders = [f"{path}:{number}" for folder in ("rtstyle", "train", "export", "benchmarks")
                 for path in (REPO / folder).rglob("*.py")
                 for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


# --- long runs -------------------------------------------------------------------------------------------------

def rss_mb() -> float:
    """Resident memory in MB after a collection and glibc's malloc_trim, which hands free heap pages back: what stays
    is memory still allocated (a leak stays; pages the allocator merely kept from other tests' work do not)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: plain RSS
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.slow
def test_soak(cin_onnx, shared):
    """Thousands of frames through the whole pipeline: memory, threads and open files stay flat.
    RTSTYLE_SOAK_FRAMES sets the length (default 20000; CI may shorten it)."""
    total = int(os.environ.get("RTSTYLE_SOAK_FRAMES", "20000"))
    # OpenVINO's and the allocator's pools settle over the first few thousand frames (measured: +4.5 MB by 8000
    # frames, then under 0.3 MB per 4000), so the flat part is measured after a longer warm-up
    warmup = min(8000, total // 3)
    with open_model(cin_onnx) as model:
        stylizer = Stylizer(model)

        def run(frames: int) -> None:
            source = VideoFileSource(shared / "video" / "carphone_pristine.mp4", loop=True)
            source.start()
            server = MjpegServer(port=0)
            Pipeline(source, stylizer, [server], max_frames=frames).run()
            source.stop()

        run(warmup)
        threads, files, memory = threading.active_count(), len(os.listdir("/proc/self/fd")), [rss_mb()]
        started = time.perf_counter()
        for _ in range(4):  # in quarters, so a failure shows whether memory climbs steadily (a leak) or once
            run(total // 4)
            memory.append(rss_mb())
        seconds = time.perf_counter() - started
    grown = memory[-1] - memory[0]
    trend = " → ".join(f"{mb:.1f}" for mb in memory)
    print(f"soak: {total} frames in {seconds:.0f} s; RSS by quarter {trend} MB")
    assert grown < 8, f"memory grew {grown:.1f} MB over {total} frames ({trend} MB)"
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == files
