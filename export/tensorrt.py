"""Build a TensorRT engine from an rtstyle ONNX file: fp16 by default, an optimisation profile covering the sizes the
user asks for, a timing cache, the model's metadata in a header (rtstyle.meta.pack_engine), and a check against
onnxruntime after the build. Written against the TensorRT 10 Python API; `tensorrt` is imported only when building.

fp16 safety: instance-norm statistics overflow fp16 (x² > 65504 once |x| > 256). An fp16 ONNX file already computes
them in fp32 (Casts in the graph), so it builds as a strongly typed network that follows the graph's types. An fp32
ONNX file built for fp16 gets the FP16 flag with every layer of the norm modules pinned to fp32.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rtstyle.errors import RtstyleError
from rtstyle.files import atomic_output
from rtstyle.meta import ONNX_META_KEY, PARITY_TOLERANCE, ModelMeta, meta_from_onnx, pack_engine

NORM_MODULE = "rtstyle.models.norms."  # class path of the modules whose layers stay fp32
PRESETS = {"240p": (240, 426), "360p": (360, 640), "480p": (480, 854), "540p": (540, 960), "720p": (720, 1280),
           "1080p": (1080, 1920), "1440p": (1440, 2560), "2160p": (2160, 3840), "4k": (2160, 3840)}


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'480p,720p,1920x1080' → [(480, 854), (720, 1280), (1080, 1920)] as (height, width); WxH like video tools."""
    sizes = []
    for item in filter(None, (part.strip().lower() for part in text.split(","))):
        if item in PRESETS:
            sizes.append(PRESETS[item])
        elif re.fullmatch(r"\d+x\d+", item):
            width, height = map(int, item.split("x"))
            sizes.append((height, width))
        else:
            raise RtstyleError(f"unknown size {item!r}: use {', '.join(PRESETS)} or WIDTHxHEIGHT")
    if not sizes:
        raise RtstyleError("no sizes given")
    return sizes


@dataclass
class Profile:
    """Shapes of one optimisation profile, each (batch, height, width)."""

    min: tuple[int, int, int]
    opt: tuple[int, int, int]
    max: tuple[int, int, int]

    def as_dict(self) -> dict:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def make_profile(sizes: list[tuple[int, int]], max_batch: int, meta: ModelMeta) -> Profile:
    """Smallest to largest requested size (each dimension on its own), optimised for the middle one by area."""
    for height, width in sizes:
        if not (meta.min_size <= min(height, width) and max(height, width) <= meta.max_size):
            raise RtstyleError(f"unsupported size {width}x{height}: sides must be {meta.min_size}…{meta.max_size}")
    if max_batch < 1:
        raise RtstyleError("--max-batch must be at least 1")
    by_area = sorted(sizes, key=lambda s: s[0] * s[1])
    opt = by_area[(len(by_area) - 1) // 2]
    return Profile((1, min(h for h, _ in sizes), min(w for _, w in sizes)), (1, *opt),
                   (max_batch, max(h for h, _ in sizes), max(w for _, w in sizes)))


def fp32_node_names(onnx_model) -> set[str]:
    """Names of the ONNX nodes that belong to normalization modules (from the exporter's class-hierarchy metadata)."""
    names = set()
    for node in onnx_model.graph.node:
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.class_hierarchy" and NORM_MODULE in prop.value:
                names.add(node.name)
    return names


def load_onnx(path: Path) -> tuple[object, ModelMeta]:
    """The ONNX model proto and its rtstyle metadata."""
    import onnx

    if not path.is_file():
        raise RtstyleError(f"model file not found: {path}")
    try:
        model = onnx.load(str(path))
    except Exception:
        raise RtstyleError(f"not an ONNX model (unreadable or truncated): {path}") from None
    props = {p.key: p.value for p in model.metadata_props}
    return model, meta_from_onnx(props.get(ONNX_META_KEY), str(path))


@dataclass
class EngineReport:
    path: Path
    seconds: float
    size_bytes: int
    precision: str
    profile: Profile
    max_errors: dict[str, float]
    tensorrt_version: str


def build_engine(onnx_path: str | Path, output: str | Path | None = None, sizes: list[tuple[int, int]] | None = None,
                 precision: str = "fp16", max_batch: int = 4, timing_cache: str | Path | None = None,
                 workspace_gb: float = 4.0, log: Callable[[str], None] = print) -> EngineReport:
    onnx_path = Path(onnx_path)
    onnx_model, meta = load_onnx(onnx_path)
    if meta.component == "encoder":
        raise RtstyleError("build engines for the stylizer; the encoder runs once per style change (use its ONNX)")
    output = Path(output) if output else onnx_path.with_suffix(".engine")
    profile = make_profile(sizes or [PRESETS["480p"], PRESETS["720p"], PRESETS["1080p"]], max_batch, meta)
    try:
        import tensorrt as trt
    except ImportError:
        raise RtstyleError("building TensorRT engines needs TensorRT 10: pip install 'rtstyle[gpu]' "
                           "(NVIDIA GPU and driver required)") from None
    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    typed = meta.precision == "fp16"  # the graph's own types already keep the norm statistics in fp32
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_model.SerializeToString()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RtstyleError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if precision == "fp16" and not typed:
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        keep = fp32_node_names(onnx_model)
        pinned = 0
        for index in range(network.num_layers):
            layer = network.get_layer(index)
            if any(name and (name in layer.name or name in getattr(layer, "metadata", "")) for name in keep):
                layer.precision = trt.float32
                for out in range(layer.num_outputs):
                    layer.set_output_type(out, trt.float32)
                pinned += 1
        log(f"  fp16 with {pinned} normalization layers pinned to fp32")
    elif precision == "fp32" and typed:
        raise RtstyleError(f"{onnx_path} is an fp16 graph; export an fp32 ONNX file for an fp32 engine")
    optimisation = builder.create_optimization_profile()
    image = network.get_input(0).name
    optimisation.set_shape(image, *[(b, 3, h, w) for b, h, w in (profile.min, profile.opt, profile.max)])
    if network.num_inputs > 1:
        style = network.get_input(1).name
        optimisation.set_shape(style, (1, meta.style_dim), (1, meta.style_dim), (max_batch, meta.style_dim))
    config.add_optimization_profile(optimisation)
    cache_path = Path(timing_cache) if timing_cache else output.with_suffix(".timing-cache")
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    (_, min_h, min_w), (_, opt_h, opt_w), (_, max_h, max_w) = profile.min, profile.opt, profile.max
    log(f"building {output.name}: {precision}, batch {profile.min[0]}…{profile.max[0]}, "
        f"{min_w}x{min_h} … {max_w}x{max_h} (opt {opt_w}x{opt_h})…")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RtstyleError("TensorRT failed to build the engine (see its messages above)")
    with atomic_output(cache_path) as tmp:
        tmp.write_bytes(memoryview(config.get_timing_cache().serialize()))
    engine_meta = replace(meta, precision=precision, profile=profile.as_dict(),
                          training={**meta.training, "tensorrt": trt.__version__})
    with atomic_output(output) as tmp:
        tmp.write_bytes(pack_engine(engine_meta, bytes(serialized)))
        errors = check_engine(tmp, onnx_path, meta, profile, precision)
    seconds = time.perf_counter() - start
    log(f"  {output} {output.stat().st_size / 1e6:.1f} MB in {seconds:.0f} s; max abs error vs onnxruntime "
        f"{max(errors.values()):.2e} (limit {PARITY_TOLERANCE[precision]:.0e})")
    return EngineReport(output, seconds, output.stat().st_size, precision, profile, errors, trt.__version__)


def check_engine(engine_path: Path, onnx_path: Path, meta: ModelMeta, profile: Profile, precision: str
                 ) -> dict[str, float]:
    """Run the engine through the runtime's TensorRT backend and onnxruntime (CPU) on the same inputs, at the
    profile's smallest and optimal sizes; RtstyleError with the numbers if they differ beyond the tolerance."""
    import onnxruntime as ort

    from rtstyle.backends.tensorrt import TensorRTBackend

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    dtype = np.float16 if meta.precision == "fp16" else np.float32
    rng = np.random.default_rng(0)
    errors = {}
    with TensorRTBackend(engine_path) as backend:
        for label, (_, height, width) in (("min", profile.min), ("opt", profile.opt)):
            image = rng.random((1, 3, height, width), dtype=np.float32)
            feeds = {"image": image.astype(dtype)}
            cond = None
            if meta.style_dim:
                cond = rng.random((1, meta.style_dim), dtype=np.float32)
                if meta.family == "cin":
                    cond /= cond.sum()
                feeds["style"] = cond.astype(dtype)
            expected = session.run(None, feeds)[0].astype(np.float32)
            got = backend.infer_tensor(image, cond)
            errors[f"{label} {width}x{height}"] = float(np.abs(got - expected).max())
    worst = max(errors, key=errors.get)
    if not errors[worst] < PARITY_TOLERANCE[precision]:
        raise RtstyleError(f"engine check failed: max abs error {errors[worst]:.3g} at {worst} exceeds "
                           f"{PARITY_TOLERANCE[precision]:g}")
    return errors
