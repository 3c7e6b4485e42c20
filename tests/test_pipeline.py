"""The pipeline with real files, real models and real codecs: nothing lost for files, nothing stale for live."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from helpers import make_clip, probe

from rtstyle.io.video_in import VideoFileSource
from rtstyle.io.video_out import VideoFileSink
from rtstyle.model import open_model
from rtstyle.pipeline import Pipeline
from rtstyle.stylizer import Stylizer


@pytest.fixture(scope="module")
def stylizer(cin_onnx):
    with open_model(cin_onnx) as model:
        yield Stylizer(model)


@pytest.mark.parametrize("batch", [1, 3])
def test_every_file_frame_comes_out_once_in_order(shared, stylizer, tmp_path, batch):
    clip = shared / "video" / "carphone_pristine.mp4"
    out = tmp_path / "out.mp4"
    source = VideoFileSource(clip)
    source.start()
    stats = Pipeline(source, stylizer, [VideoFileSink(out, source.info)], batch_size=batch).run()
    source.stop()
    original, result = probe(clip), probe(out)
    assert stats.frames_in == stats.frames_out == original["count"] == result["count"] == 120
    assert stats.dropped == 0
    assert result["size"] == original["size"] and result["fps"] == pytest.approx(original["fps"], rel=1e-3)
    assert result["codec"] == "h264"
    # Order: each written frame is nearest to the stylization of the input frame with the same index.
    expected = stylizer([f for f in original["frames"]])
    for i in (0, 30, 31, 60, 119):
        near = range(max(0, i - 1), min(len(expected), i + 2))
        errors = {j: np.abs(result["frames"][i].astype(int) - expected[j].astype(int)).mean() for j in near}
        assert min(errors, key=errors.get) == i, (i, errors)


def test_audio_track_is_kept(stylizer, tmp_path):
    clip, out = tmp_path / "tone.mp4", tmp_path / "styled.mp4"
    make_clip(clip, seconds=2.0)
    source = VideoFileSource(clip)
    source.start()
    Pipeline(source, stylizer, [VideoFileSink(out, source.info)]).run()
    source.stop()
    before, after = probe(clip), probe(out)
    assert after["count"] == before["count"] == 50
    assert after["samples"] == before["samples"] > 80000
    assert after["audio_seconds"] == pytest.approx(2.0, abs=0.1)


class Recorder:
    """A sink that keeps what it is given (indices and arrival times)."""

    def __init__(self):
        self.indices, self.times = [], []

    def write(self, frame):
        self.indices.append(frame.index)
        self.times.append(time.perf_counter())

    def close(self):
        pass


def test_live_source_drops_under_a_slow_model_and_stays_within_the_bound(shared, exported, tmp_path):
    """The base variant on 2 CPU cores takes far longer per frame than a 25 fps source gives it."""
    from helpers import make_checkpoint
    from rtstyle_export.onnx import export_onnx

    make_checkpoint(tmp_path / "base.pt", "feedforward", variant="base")
    slow = export_onnx(tmp_path / "base.pt", log=lambda _: None)[0].path
    with open_model(slow, "onnxrt", "cpu") as model:  # ONNX Runtime: the slowest CPU backend here
        base = Stylizer(model)
        source = VideoFileSource(shared / "video" / "bikes.mp4", realtime=True)
        source.start()
        sink = Recorder()
        pipeline = Pipeline(source, base, [sink], queue_size=2, max_frames=6)
        sizes = []

        def watch():
            while not pipeline._stop.is_set():
                sizes.append((pipeline._inbox.qsize(), pipeline._outbox.qsize()))
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        stats = pipeline.run()
        source.stop()
    assert stats.frames_out == 6
    assert stats.dropped > 10  # ~25 frames arrive per slow inference
    assert max(max(pair) for pair in sizes) <= 2
    assert sink.indices == sorted(sink.indices) and sink.indices[-1] - sink.indices[0] > 10  # skipped ahead
    # a frame waits at most about one inference in the queue, then its own: latency stays near two inferences
    assert stats.latency_ms(0.95) < 3 * stats.stage_ms("infer") + 200


def test_a_crash_in_inference_stops_the_pipeline_with_the_error(shared, tmp_path):
    source = VideoFileSource(shared / "video" / "carphone_pristine.mp4")
    source.start()
    calls = []

    def broken(images):
        calls.append(len(images))
        if len(calls) == 5:
            raise RuntimeError("GPU fell off the bus")
        return images

    out = tmp_path / "partial.mp4"
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="fell off"):
        Pipeline(source, broken, [VideoFileSink(out, source.info)]).run()
    source.stop()
    assert time.perf_counter() - started < 10
    assert probe(out)["count"] == 4  # what was processed before the crash is finalised and playable
