"""The OpenVINO backend on real models and photos: parity with ONNX Runtime per precision, the automatic choice,
static-shape compilations kept per frame size, and its model cache."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from helpers import rtstyle

from rtstyle.cpu import has_bf16
from rtstyle.images import read_image
from rtstyle.meta import PARITY_TOLERANCE
from rtstyle.model import choose_backend, open_model, shipped_models
from rtstyle.processing import batch_to_frames, fit_within, frames_to_batch, resize

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                reason="OpenVINO is not installed (pip install 'rtstyle[openvino]')")


def photos(shared, count=3, side=320) -> list[np.ndarray]:
    files = sorted((shared / "photos").glob("*.jpg"))[::17][:count]
    return [frames_to_batch([resize(image, *fit_within(*image.shape[:2], side))])
            for image in map(read_image, files)]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_parity_with_onnx_runtime_on_real_photos(shared, precision):
    if precision == "bf16" and not has_bf16():
        pytest.skip("this CPU has no bf16 units")
    path = shipped_models()["cin-tiny"]
    with open_model(path, "onnxrt", "cpu") as reference, open_model(path, "openvino", "cpu", precision) as model:
        assert model.frames.describe() == f"openvino (CPU, {precision})"
        for style in (0, 5):
            cond = reference.styles()[style].cond
            for batch in photos(shared):
                expected = reference.frames.infer_tensor(batch, cond)
                got = model.frames.infer_tensor(batch, cond)
                error = np.abs(got - expected)
                assert error.max() <= PARITY_TOLERANCE[precision], (precision, error.max())
                if precision == "bf16":
                    assert error.mean() <= 0.005, error.mean()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_frames_converted_inside_the_graph_match_the_numpy_conversion(shared, precision):
    """uint8 BGR frames in and out of the compiled graph: the same as frames_to_batch → network → batch_to_frames
    (±1 for rounding in fp32; in bf16 the two graphs round differently, within the float parity tolerance) — in
    colour order too (a channel swap OpenVINO folded away once would show here)."""
    if precision == "bf16" and not has_bf16():
        pytest.skip("this CPU has no bf16 units")
    files = sorted((shared / "photos").glob("*.jpg"))[3:6]
    frames = [resize(image, 240, 320) for image in map(read_image, files)]
    with open_model("cin-tiny", "openvino", "cpu", precision) as model:
        cond = model.styles()[2].cond
        got = model.frames.infer(frames, cond)
        expected = batch_to_frames(model.frames.infer_tensor(frames_to_batch(frames), cond))
    assert [g.shape for g in got] == [f.shape for f in frames] and got[0].dtype == np.uint8
    difference = np.abs(np.stack(got).astype(int) - np.stack(expected).astype(int))
    if precision == "fp32":
        assert difference.max() <= 1 and difference.mean() < 0.05, (difference.max(), difference.mean())
    else:
        assert difference.max() <= 255 * PARITY_TOLERANCE["bf16"] and difference.mean() < 0.5, difference.mean()
    swapped = np.abs(np.stack(got).astype(int) - np.stack(expected)[..., ::-1].astype(int))
    assert swapped.mean() > 1  # the test can tell the two colour orders apart


def test_arbitrary_model_runs_encoder_and_stylizer_on_openvino(shared):
    with open_model("arbitrary", "openvino", "cpu", "fp32") as model, open_model("arbitrary", "onnxrt", "cpu") as ref:
        assert model.encoder.name == "openvino" and model.frames.name == "openvino"
        painting = read_image(shared / "styles" / "udnie.jpg")
        assert np.abs(model.encode(painting) - ref.encode(painting)).max() < 1e-3


def test_auto_picks_openvino_only_where_the_cpu_has_bf16_units():
    path = shipped_models()["cin-tiny"]
    assert choose_backend(path)[0] == ("openvino" if has_bf16() else "onnxrt")
    assert choose_backend(path, "onnxrt")[0] == "onnxrt"
    assert choose_backend(path, device="cuda")[0] != "openvino"


def test_one_compilation_per_frame_size_and_the_model_cache(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("RTSTYLE_CACHE", str(tmp_path))
    with open_model("cin-tiny", "openvino", "cpu") as model:
        cond = model.styles()[0].cond
        small, large = np.zeros((1, 3, 64, 96), np.float32), np.zeros((1, 3, 96, 128), np.float32)
        for batch in (small, large, small, large, small):
            model.frames.infer_tensor(batch, cond)
        assert len(model.frames._shared.by_shape) == 2
        copies = [model.frames.copy() for _ in range(2)]  # a file's workers share one throughput compilation
        assert copies[0]._shared is copies[1]._shared is not model.frames._shared
        assert copies[0]._shared.config["PERFORMANCE_HINT"] == "THROUGHPUT"
        first, second = (copy.infer_tensor(small, cond) for copy in copies)
        assert np.array_equal(first, second)
        for copy in copies:
            copy.close()
        assert len(copies[0]._shared.by_shape) == 1 and len(model.frames._shared.by_shape) == 2
    assert any((tmp_path / "openvino").iterdir())  # compiled blobs cached for the next start


def test_run_says_which_backend_and_precision(shared, tmp_path):
    result = rtstyle("run", "--source", shared / "video" / "carphone_pristine.mp4", "--output", tmp_path / "o.mp4",
                     "--max-frames", 5, "--no-window")
    assert result.returncode == 0, result.stderr
    expected = "openvino (CPU, bf16)" if has_bf16() else "onnxrt (CPUExecutionProvider)"
    assert expected in result.stdout, result.stdout
