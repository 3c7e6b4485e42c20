"""Export a checkpoint to self-describing ONNX files, checked against PyTorch (timm's `check_forward`).

- Dynamic batch, height and width; inputs "image" (B,3,H,W) float RGB in [0,1] and, for CIN models, "style" (B,N)
  style weights; output "output", same layout. Image and style batches are equal (tile a frame to stylize it N ways).
- The arbitrary family becomes two files: an encoder (image → "style" (B,D) embedding; run when the style changes)
  and a stylizer (image + style embedding → output; run per frame).
- fp32 or fp16 (fp16 inputs and outputs; the instance-norm statistics stay in fp32 inside the graph), or int8 (the
  fp32 graph quantized, export/int8.py; float inputs and outputs).
- ModelMeta in metadata_props["rtstyle"], so loaders never ask what the file is.
- Every file is written under a temporary name and renamed only after the ONNX checker and an onnxruntime-vs-PyTorch
  comparison on random and real images at two sizes pass: max abs error < 1e-3 (fp32) or 2e-2 (fp16) on [0,1]; for
  int8 the mean abs error < 2e-2.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.resources
import io
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rtstyle.errors import RtstyleError
from rtstyle.files import atomic_output
from rtstyle.formats import component_path
from rtstyle.images import read_image
from rtstyle.meta import INT8_MEAN_TOLERANCE, ONNX_META_KEY, PARITY_TOLERANCE, ModelMeta, components_of
from rtstyle.models.checkpoint import load_checkpoint
from rtstyle.processing import frames_to_batch, resize

CHECK_SIZES = ((192, 256), (250, 333))  # (height, width): one even, one odd
SAMPLE_IMAGE = importlib.resources.files("rtstyle") / "assets" / "sample.jpg"
OPSET = 18


@dataclass
class Component:
    name: str  # model | encoder | stylizer
    module: nn.Module
    inputs: tuple[str, ...]  # ("image",) or ("image", "style")
    output: str  # "output", or "style" for the encoder


@dataclass
class ExportReport:
    path: Path
    component: str
    precision: str
    seconds: float
    size_bytes: int
    max_errors: dict[str, float]  # check case → max abs error against PyTorch fp32


def components(model: nn.Module, meta: ModelMeta) -> list[Component]:
    """What to export, in `components_of(meta.family)`'s order."""
    parts = {"encoder": lambda: Component("encoder", model.predictor, ("image",), "style"),
             "stylizer": lambda: Component("stylizer", model.transformer, ("image", "style"), "output"),
             "model": lambda: Component("model", model, ("image", "style") if meta.style_dim else ("image",),
                                        "output")}
    return [parts[name]() for name in components_of(meta.family)]


def export_onnx(checkpoint: str | Path, output: str | Path | None = None, precisions: tuple[str, ...] = ("fp32",),
                log: Callable[[str], None] = print, calibration: str | Path | None = None) -> list[ExportReport]:
    """calibration: a folder of photos for int8 (see export/int8.py for the default)."""
    checkpoint = Path(checkpoint)
    base = Path(output) if output else checkpoint.with_suffix(".onnx")
    if base.suffix != ".onnx":
        raise RtstyleError(f"ONNX output must end in .onnx: {base}")
    model, meta, _ = load_checkpoint(checkpoint)
    cases = check_cases(model, meta)
    reports = []
    for precision in precisions:
        if precision not in ("fp32", "fp16", "int8"):
            raise RtstyleError(f"unknown precision {precision!r}: use fp32, fp16 or int8")
        if precision == "int8" and meta.family == "arbitrary":
            raise RtstyleError("int8 export is for one-file models (feedforward, cin), not arbitrary-style ones")
        for part in components(model, meta):
            path = component_path(base, part.name, precision)
            log(f"exporting {path.name} ({meta.family} {meta.variant} {part.name}, {precision})…")
            start = time.perf_counter()
            part_meta = replace(meta, component=part.name, precision=precision)
            with atomic_output(path) as tmp:
                if precision == "int8":
                    errors = export_int8(part, part_meta, tmp, cases[part.name], calibration)
                else:
                    export_component(part, part_meta, tmp)
                    errors = check_export(tmp, part, precision, cases[part.name])
            seconds = time.perf_counter() - start
            reports.append(ExportReport(path, part.name, precision, seconds, path.stat().st_size, errors))
            limit = (f"mean {errors['mean']:.2e}, limit {INT8_MEAN_TOLERANCE:.0e}" if precision == "int8"
                     else f"limit {PARITY_TOLERANCE[precision]:.0e}")
            log(f"  {path} {path.stat().st_size / 1e6:.2f} MB in {seconds:.1f} s; max abs error vs PyTorch "
                f"{max(errors.values()):.2e} ({limit})")
    return reports


def export_int8(part: Component, meta: ModelMeta, path: Path, cases, calibration: str | Path | None
                ) -> dict[str, float]:
    """The fp32 graph exported and checked, then quantized into `path` and checked by its mean error."""
    import tempfile

    from .int8 import calibration_frames, mean_error_against, quantize_within_tolerance

    with tempfile.TemporaryDirectory() as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        export_component(part, replace(meta, precision="fp32"), fp32)
        check_export(fp32, part, "fp32", cases)
        feeds = [{key: value.numpy() for key, value in zip(part.inputs, inputs)} for _, inputs in cases]
        quantize_within_tolerance(fp32, path, meta, calibration_frames(calibration), mean_error_against(fp32, feeds))
    return check_export(path, part, "int8", cases)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """torch.onnx's dynamo exporter prints progress and warnings meant for its developers; keep our output readable."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def export_component(part: Component, meta: ModelMeta, path: Path) -> None:
    """Trace `part.module` with dynamic shapes and write it with its metadata to `path`."""
    import onnx
    from torch.export import Dim

    module = copy.deepcopy(part.module).eval()
    dtype = torch.float16 if meta.precision == "fp16" else torch.float32
    module = module.to(dtype)
    batch = Dim("batch", min=1, max=256)
    height = Dim("height", min=meta.min_size, max=meta.max_size)
    width = Dim("width", min=meta.min_size, max=meta.max_size)
    example = [torch.rand(2, 3, 64, 80, dtype=dtype)]
    shapes: list[dict] = [{0: batch, 2: height, 3: width}]
    if "style" in part.inputs:
        example.append(torch.rand(2, meta.style_dim, dtype=dtype))
        shapes.append({0: batch})
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(module, tuple(example), input_names=list(part.inputs),
                                        output_names=[part.output], dynamic_shapes=tuple(shapes),
                                        opset_version=OPSET, dynamo=True)
    except ImportError as exc:
        raise RtstyleError(f"ONNX export needs {exc.name}: pip install 'rtstyle[train]'") from None
    proto = program.model_proto
    for node in proto.graph.node:  # keep the module class of each node (TensorRT pins norm layers by it), drop traces
        kept = [(p.key, p.value) for p in node.metadata_props if p.key == "pkg.torch.onnx.class_hierarchy"]
        del node.metadata_props[:]
        for key, value in kept:
            node.metadata_props.add(key=key, value=value)
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_META_KEY, meta.to_json()
    proto.producer_name = "rtstyle"
    proto.doc_string = f"rtstyle {meta.family} {meta.variant} {meta.component} ({meta.precision})"
    onnx.save(proto, str(path))


def check_cases(model: nn.Module, meta: ModelMeta) -> dict[str, list[tuple[str, tuple[torch.Tensor, ...]]]]:
    """Inputs per component: a random and a real image at two sizes, with real conditioning (one-hot and a mix of
    styles; the embedding of a real painting-like image)."""
    generator = torch.Generator().manual_seed(0)
    sample = read_image(SAMPLE_IMAGE)
    images = []
    for height, width in CHECK_SIZES:
        images.append((f"random {height}x{width}", torch.rand(2, 3, height, width, generator=generator)))
        real = torch.from_numpy(frames_to_batch([resize(sample, height, width)]))
        images.append((f"photo {height}x{width}", torch.cat([real, real.flip(-1)])))
    if meta.family == "feedforward":
        return {"model": [(name, (x,)) for name, x in images]}
    if meta.family == "cin":
        n = meta.style_dim
        weights = torch.stack([torch.nn.functional.one_hot(torch.tensor(0), n).float(), torch.full((n,), 1.0 / n)])
        return {"model": [(name, (x, weights)) for name, x in images]}
    with torch.no_grad():
        embedding = model.predictor(images[1][1])  # the photo as a style: a real embedding, batch 2
    return {"encoder": [(name, (x,)) for name, x in images],
            "stylizer": [(name, (x, embedding)) for name, x in images]}


def check_export(path: Path, part: Component, precision: str, cases: list[tuple[str, tuple[torch.Tensor, ...]]]
                 ) -> dict[str, float]:
    """onnx checker, then onnxruntime (CPU) against PyTorch fp32 on every case; RtstyleError with the numbers if
    any error exceeds the precision's tolerance."""
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise RtstyleError(f"exported graph fails the ONNX checker: {str(exc).splitlines()[0]}") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    dtype = np.float16 if precision == "fp16" else np.float32
    errors, means = {}, []
    for name, inputs in cases:
        with torch.no_grad():
            expected = part.module(*inputs).numpy()
        feeds = {key: value.numpy().astype(dtype) for key, value in zip(part.inputs, inputs)}
        got = session.run(None, feeds)[0].astype(np.float32)
        if got.shape != expected.shape:
            raise RtstyleError(f"export check failed: {part.name} {precision} gives shape {got.shape} for {name}, "
                               f"PyTorch {expected.shape}")
        errors[name] = float(np.abs(got - expected).max())
        means.append(float(np.abs(got - expected).mean()))
    if precision == "int8":
        mean = float(np.mean(means))
        if not mean < INT8_MEAN_TOLERANCE:
            raise RtstyleError(f"export check failed: {part.name} int8 mean abs error {mean:.3g} exceeds "
                               f"{INT8_MEAN_TOLERANCE:g}")
        return {**errors, "mean": mean}
    worst = max(errors, key=errors.get)
    if not errors[worst] < PARITY_TOLERANCE[precision]:  # also catches NaN
        raise RtstyleError(f"export check failed: {part.name} {precision} max abs error {errors[worst]:.3g} on "
                           f"{worst} exceeds {PARITY_TOLERANCE[precision]:g} (all: "
                           + ", ".join(f"{k} {v:.2g}" for k, v in errors.items()) + ")")
    return errors
