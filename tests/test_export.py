"""ONNX export of every family, read back by a plain onnxruntime session; TensorRT pieces up to the TensorRT calls."""
from __future__ import annotations

import importlib.util
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import assert_one_line_error, make_checkpoint, rtstyle
from rtstyle_export.tensorrt import PRESETS, fp32_node_names, make_profile, parse_sizes

from rtstyle.errors import RtstyleError
from rtstyle.formats import FORMATS, format_of
from rtstyle.images import read_image
from rtstyle.meta import ModelMeta, pack_engine, unpack_engine
from rtstyle.models.norms import ConditionalInstanceNorm
from rtstyle.processing import batch_to_frames, frames_to_batch, resize


def plain_session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_feedforward_runs_in_plain_onnxruntime_like_pytorch(exported, photo):
    model, _, reports = exported["feedforward"]
    frame = resize(read_image(photo), 240, 360)
    batch = frames_to_batch([frame])
    got = plain_session(reports[0].path).run(None, {"image": batch})[0]
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    assert np.abs(got - expected).max() < 1e-3
    assert np.array_equal(batch_to_frames(got)[0].shape, frame.shape)


@pytest.mark.parametrize("size", [(64, 64), (181, 243), (480, 640)])
def test_cin_dynamic_sizes_and_batches(exported, size):
    model, meta, reports = exported["cin"]
    session = plain_session(reports[0].path)
    for batch in (1, 3):
        images = torch.rand(batch, 3, *size)
        weights = torch.softmax(torch.randn(batch, 3), dim=1)
        got = session.run(None, {"image": images.numpy(), "style": weights.numpy()})[0]
        with torch.no_grad():
            expected = model(images, weights).numpy()
        assert got.shape == (batch, 3, *size)
        assert np.abs(got - expected).max() < 1e-3


def test_cin_fp16_variant_is_close_and_typed(exported):
    model, _, reports = exported["cin"]
    fp16 = next(r for r in reports if r.precision == "fp16")
    assert fp16.path.name == "cin.fp16.onnx" and fp16.size_bytes < 0.75 * reports[0].size_bytes
    session = plain_session(fp16.path)
    assert session.get_inputs()[0].type == "tensor(float16)"
    images, weights = torch.rand(1, 3, 96, 128), torch.tensor([[0.0, 1.0, 0.0]])
    got = session.run(None, {"image": images.half().numpy(), "style": weights.half().numpy()})[0]
    with torch.no_grad():
        expected = model(images, weights).numpy()
    assert np.abs(got.astype(np.float32) - expected).max() < 2e-2


def test_arbitrary_exports_encoder_and_stylizer(exported, painting, photo):
    model, meta, reports = exported["arbitrary"]
    paths = {r.component: r.path for r in reports}
    assert set(paths) == {"encoder", "stylizer"}
    assert paths["encoder"].name == "arbitrary.encoder.onnx"
    style = frames_to_batch([resize(read_image(painting), 200, 256)])
    content = frames_to_batch([resize(read_image(photo), 150, 226)])
    embedding = plain_session(paths["encoder"]).run(None, {"image": style})[0]
    got = plain_session(paths["stylizer"]).run(None, {"image": content, "style": embedding})[0]
    with torch.no_grad():
        expected = model(torch.from_numpy(content), model.predictor(torch.from_numpy(style))).numpy()
    assert embedding.shape == (1, 8)
    assert np.abs(got - expected).max() < 1e-3


def test_metadata_survives_the_round_trip(exported):
    for family, (_, meta, reports) in exported.items():
        for report in reports:
            props = {p.key: p.value for p in onnx.load(str(report.path)).metadata_props}
            read = ModelMeta.from_json(props["rtstyle"])
            assert (read.family, read.variant, read.style_names) == (family, "tiny", meta.style_names)
            assert read.component == report.component and read.precision == report.precision
            assert read.training == {"steps": 0}
            session_meta = plain_session(report.path).get_modelmeta().custom_metadata_map["rtstyle"]
            assert ModelMeta.from_json(session_meta) == read


def test_bad_model_files_give_one_line_errors(tmp_path, exported, photo):
    checkpoint = tmp_path / "model.pt"
    make_checkpoint(checkpoint, "feedforward")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:5000])
    assert_one_line_error(rtstyle("export", truncated, "--format", "onnx"), "not an rtstyle checkpoint", "truncated")
    not_a_model = tmp_path / "photo.pt"
    not_a_model.write_bytes(photo.read_bytes())
    assert_one_line_error(rtstyle("export", not_a_model, "--format", "onnx"), "not an rtstyle checkpoint")
    assert_one_line_error(rtstyle("export", photo, "--format", "onnx"), "not a model file")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    assert_one_line_error(rtstyle("export", tmp_path / "foreign.pt", "--format", "onnx"), "no rtstyle metadata")
    broken_onnx = tmp_path / "broken.onnx"
    broken_onnx.write_bytes(exported["cin"][2][0].path.read_bytes()[:3000])
    assert_one_line_error(rtstyle("export", broken_onnx, "--format", "tensorrt"), "not an ONNX model")
    assert_one_line_error(rtstyle("export", checkpoint, "--format", "onnx", "--precision", "fp64"), "invalid choice",
                          code=2)


def test_export_command_writes_and_refuses_to_overwrite(tmp_path):
    checkpoint = tmp_path / "cin.pt"
    make_checkpoint(checkpoint, "cin")
    result = rtstyle("export", checkpoint, "--format", "onnx")
    assert result.returncode == 0, result.stderr
    assert "max abs error vs PyTorch" in result.stdout and (tmp_path / "cin.onnx").is_file()
    assert_one_line_error(rtstyle("export", checkpoint, "--format", "onnx"), "exists", "--overwrite")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="checks the path without TensorRT")
def test_tensorrt_export_refuses_to_replace_its_onnx_and_fails_fast_without_tensorrt(tmp_path):
    checkpoint = tmp_path / "model.pt"
    make_checkpoint(checkpoint, "cin")
    onnx_file = tmp_path / "model.fp16.onnx"  # the ONNX file the TensorRT build goes through
    onnx_file.write_bytes(b"the user's own file")
    assert_one_line_error(rtstyle("export", checkpoint, "--format", "tensorrt"), "model.fp16.onnx", "exists")
    start = time.perf_counter()
    result = rtstyle("export", checkpoint, "--format", "tensorrt", "--overwrite")
    assert_one_line_error(result, "needs TensorRT")
    assert time.perf_counter() - start < 10  # no ONNX export (~15 s) before saying so
    assert onnx_file.read_bytes() == b"the user's own file"


def test_format_table_drives_suffixes_and_backends():
    assert format_of("a/model.onnx").name == "onnx" and format_of("x.ENGINE").backends == ("tensorrt",)
    with pytest.raises(RtstyleError, match="not a model file"):
        format_of("clip.mp4")
    assert {f.made_from for f in FORMATS.values()} == {None, "torch", "onnx"}


# TensorRT: everything up to the TensorRT calls runs here; the build itself is a gpu test.

def test_sizes_and_profiles():
    assert parse_sizes("480p,720p,1920x1080") == [PRESETS["480p"], PRESETS["720p"], (1080, 1920)]
    with pytest.raises(RtstyleError, match="unknown size"):
        parse_sizes("huge")
    meta = ModelMeta("cin", "tiny", ["a"], 1)
    profile = make_profile(parse_sizes("1080p,480p,720p"), 4, meta)
    assert profile.min == (1, 480, 854) and profile.opt == (1, 720, 1280) and profile.max == (4, 1080, 1920)
    with pytest.raises(RtstyleError, match="unsupported size"):
        make_profile([(10000, 10000)], 1, meta)


def test_norm_layers_are_found_for_fp32_pinning(exported):
    model = onnx.load(str(exported["cin"][2][0].path))
    names = fp32_node_names(model)
    ops = {n.op_type for n in model.graph.node if n.name in names}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert {"ReduceMean", "Sub", "Mul"} <= ops  # the statistics and the normalisation itself
    assert all(n.name in names for n in model.graph.node if n.op_type == "ReduceMean")  # every statistic in fp32
    assert not any(n.name in names for n in convs)  # convolutions run in fp16
    norm_layers = sum(isinstance(m, ConditionalInstanceNorm) for m in exported["cin"][0].modules())
    assert len(names) >= 4 * norm_layers


def test_engine_header_round_trip_and_errors():
    meta = ModelMeta("cin", "base", ["a", "b"], 2, precision="fp16", profile={"min": [1, 16, 16]})
    blob = pack_engine(meta, b"\x01engine-bytes")
    read, engine = unpack_engine(blob)
    assert read == meta and bytes(engine) == b"\x01engine-bytes"
    with pytest.raises(RtstyleError, match="no rtstyle header"):
        unpack_engine(b"plain TensorRT engine")
    with pytest.raises(RtstyleError, match="truncated"):
        unpack_engine(blob[:20])


def test_fp16_graph_stays_finite_on_bright_and_dark_frames(exported):
    """fp16 safety: saturated and black frames (the largest and smallest activations) give finite output."""
    session = plain_session(next(r for r in exported["cin"][2] if r.precision == "fp16").path)
    for value in (0.0, 1.0):
        images = np.full((1, 3, 128, 128), value, np.float16)
        out = session.run(None, {"image": images, "style": np.eye(1, 3, dtype=np.float16)})[0]
        assert np.isfinite(out).all()


@pytest.mark.gpu
def test_tensorrt_engine_builds_and_matches(tmp_path, exported):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (NVIDIA GPU machines only)")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from rtstyle_export.tensorrt import build_engine

    source = next(r for r in exported["cin"][2] if r.precision == "fp16").path
    report = build_engine(source, tmp_path / "cin.engine", parse_sizes("240p,360p"), "fp16", 2, log=lambda _: None)
    assert max(report.max_errors.values()) < 2e-2


def test_the_fast_variant_exports_and_runs_on_every_cpu_backend(tmp_path, photo):
    """The grid-free CPU default: blur-pools and bilinear resizes at odd frame sizes survive export, and ONNX Runtime
    and OpenVINO agree with PyTorch."""
    from rtstyle_export.onnx import export_onnx

    from rtstyle.model import open_model

    checkpoint = tmp_path / "fast.pt"
    make_checkpoint(checkpoint, "cin", variant="fast")
    report = export_onnx(checkpoint, tmp_path / "fast.onnx", log=lambda _: None)[0]
    frame = resize(read_image(photo), 77, 101)
    with open_model(checkpoint, "torch", "cpu") as reference:
        cond = reference.styles()[1].cond
        expected = reference.frames.infer_tensor(frames_to_batch([frame]), cond)
    backends = ["onnxrt"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
    for backend in backends:
        with open_model(report.path, backend, "cpu", "fp32") as model:
            got = model.frames.infer_tensor(frames_to_batch([frame]), cond)
        assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-3, backend


def test_int8_export_stays_close_and_runs_only_when_asked(tmp_path, photo):
    """`--precision int8` writes NAME.int8.onnx (quantized convolutions, its metadata saying int8) beside nothing
    else; `open_model(..., precision="int8")` picks it on ONNX Runtime and OpenVINO and its frames stay within the
    int8 mean tolerance of the fp32 file; a model without one, and the arbitrary family, get one-line errors."""
    from rtstyle.meta import INT8_MEAN_TOLERANCE
    from rtstyle.model import open_model

    checkpoint = tmp_path / "cin.pt"
    make_checkpoint(checkpoint, "cin")
    result = rtstyle("export", checkpoint, "--format", "onnx", "--precision", "int8")
    assert result.returncode == 0, result.stderr
    int8 = tmp_path / "cin.int8.onnx"
    assert int8.is_file() and not (tmp_path / "cin.onnx").exists() and "mean" in result.stdout
    proto = onnx.load(str(int8))
    assert ModelMeta.from_json({p.key: p.value for p in proto.metadata_props}["rtstyle"]).precision == "int8"
    assert any(node.op_type == "QuantizeLinear" for node in proto.graph.node)
    result = rtstyle("export", checkpoint, "--format", "onnx")
    assert result.returncode == 0, result.stderr
    fp32 = tmp_path / "cin.onnx"
    frame = resize(read_image(photo), 120, 160)
    with open_model(fp32, "onnxrt", "cpu") as reference:
        cond = reference.styles()[1].cond
        expected = reference.frames.infer_tensor(frames_to_batch([frame]), cond)
    backends = ["onnxrt"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
    for backend in backends:
        with open_model(fp32, backend, "cpu", "int8") as model:
            assert model.frames.path == int8 and model.frames.meta.precision == "int8"
            got = model.frames.infer_tensor(frames_to_batch([frame]), cond)
        assert np.abs(got - expected).mean() < INT8_MEAN_TOLERANCE, backend
        assert np.abs(got - expected).max() > 0  # it is not the fp32 file
    other = tmp_path / "other.onnx"
    other.write_bytes(fp32.read_bytes())
    with pytest.raises(RtstyleError, match="no int8 version of other.onnx"):
        open_model(other, "onnxrt", "cpu", "int8")
    result = rtstyle("export", other, "--format", "onnx", "--precision", "int8")  # from an fp32 ONNX file
    assert result.returncode == 0, result.stderr
    with open_model(other, "onnxrt", "cpu", "int8") as model:
        assert model.frames.path.name == "other.int8.onnx"
    assert_one_line_error(rtstyle("export", other, "--format", "onnx", "--precision", "int8"), "exists")
    arbitrary = tmp_path / "arbitrary.pt"
    make_checkpoint(arbitrary, "arbitrary")
    assert_one_line_error(rtstyle("export", arbitrary, "--format", "onnx", "--precision", "int8"), "int8",
                          "one-file models")


def test_int8_calibrates_on_the_shared_photos_or_else_the_bundled_one(tmp_path, monkeypatch, shared):
    from rtstyle_export.int8 import CALIBRATION_PHOTOS, CALIBRATION_SIZE, calibration_frames

    frames = calibration_frames(shared / "photos")
    assert len(frames) == CALIBRATION_PHOTOS and frames[0].shape == (*CALIBRATION_SIZE, 3)
    monkeypatch.setenv("RTSTYLE_SHARED", str(tmp_path))  # no photos there: the bundled photo, cropped and flipped
    frames = calibration_frames()
    assert len(frames) == 6 and not np.array_equal(frames[0], frames[1])
    with pytest.raises(RtstyleError, match="no photos to calibrate on"):
        calibration_frames(tmp_path)


def test_int8_keeps_in_fp32_the_convolutions_int8_cannot_hold(tmp_path, monkeypatch):
    """When the all-int8 file misses the tolerance, the export measures each convolution quantized alone and keeps
    the worst in fp32 until it passes: here the tolerance is set just under the all-int8 file's own error."""
    import rtstyle_export.int8 as int8
    from rtstyle_export.onnx import export_onnx

    checkpoint = tmp_path / "cin.pt"
    make_checkpoint(checkpoint, "cin")
    fp32 = export_onnx(checkpoint, tmp_path / "cin.onnx", log=lambda _: None)[0].path
    proto = onnx.load(str(fp32))
    meta = ModelMeta.from_json({p.key: p.value for p in proto.metadata_props}["rtstyle"])
    frames = [resize(read_image(int8.SAMPLE_IMAGE), *int8.CALIBRATION_SIZE)]
    feeds = [{"image": frames_to_batch(frames), "style": np.eye(meta.style_dim, dtype=np.float32)[:1]}]
    mean_error = int8.mean_error_against(fp32, feeds)
    all_int8 = tmp_path / "all.int8.onnx"
    int8.quantize(fp32, all_int8, meta, frames)
    full = mean_error(all_int8)
    monkeypatch.setattr(int8, "INT8_MEAN_TOLERANCE", full * 0.9)
    target = tmp_path / "cin.int8.onnx"
    error, kept = int8.quantize_within_tolerance(fp32, target, meta, frames, mean_error, log=lambda _: None)
    assert kept and error < full * 0.9 and error == pytest.approx(mean_error(target))
    graph = onnx.load(str(target)).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    weights = {node.name: node.input[1] for node in graph.node if node.op_type == "Conv"}
    assert {name for name, weight in weights.items() if weight not in dequantized} == set(kept)
