"""int8 ONNX files: post-training static quantization of a checked fp32 export (ONNX Runtime's quantizer, QDQ format:
every convolution's weights per channel in int8, its input activations in uint8 with ranges calibrated on photos).

OpenVINO runs such a file with int8 convolutions (the rest in bf16 or fp32); ONNX Runtime runs it too. Measured in
benchmarks/bench_int8.py (same run, 640×480): cin-base 1.23× its bf16 speed with its style and content losses within
0.4 %; the small `fast` network gains nothing (its time is in full-resolution memory traffic, not in convolutions),
so the shipped int8 file is cin-base's only and it runs when asked for (`--precision int8`).

Calibration: photos from a folder (default: ../shared/photos less the quality benchmark's held-out five, when it
exists; otherwise the bundled sample photo, flipped and cropped), at 320×240, each with one style in turn.
"""
from __future__ import annotations

import importlib.resources
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from rtstyle.errors import RtstyleError
from rtstyle.files import atomic_output
from rtstyle.images import IMAGE_SUFFIXES, read_image
from rtstyle.meta import INT8_MEAN_TOLERANCE, ONNX_META_KEY, ModelMeta, meta_from_onnx
from rtstyle.processing import frames_to_batch, resize

SAMPLE_IMAGE = Path(str(importlib.resources.files("rtstyle") / "assets" / "sample.jpg"))

CALIBRATION_PHOTOS = 16
CALIBRATION_SIZE = (240, 320)  # (height, width)


def calibration_frames(folder: str | Path | None = None, sample: Path = SAMPLE_IMAGE) -> list[np.ndarray]:
    """uint8 BGR frames at CALIBRATION_SIZE to calibrate on."""
    from rtstyle_train.data import HELD_OUT_PHOTOS

    candidates = [Path(folder)] if folder else [Path(os.environ.get("RTSTYLE_SHARED", "../shared")) / "photos"]
    for candidate in candidates:
        if candidate.is_dir():
            files = sorted(p for p in candidate.iterdir()
                           if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in HELD_OUT_PHOTOS)
            if files:
                return [resize(read_image(p), *CALIBRATION_SIZE) for p in files[:CALIBRATION_PHOTOS]]
        if folder:
            raise RtstyleError(f"no photos to calibrate on in {candidate}")
    image = read_image(sample)
    height, width = image.shape[:2]
    crops = [image, image[: height * 3 // 4, : width * 3 // 4], image[height // 4:, width // 4:]]
    return [resize(np.ascontiguousarray(c), *CALIBRATION_SIZE) for crop in crops for c in (crop, crop[:, ::-1])]


def quantize(fp32_file: Path, target: Path, meta: ModelMeta, frames: list[np.ndarray],
             keep_fp32: Sequence[str] = (), nodes_to_quantize: Sequence[str] | None = None) -> None:
    """Write the int8 version of `fp32_file` to `target` (less the convolutions named in `keep_fp32`), its metadata
    saying int8."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if meta.component != "model":
        raise RtstyleError("int8 export is for one-file models (feedforward, cin), not arbitrary-style ones")
    eye = np.eye(max(1, meta.style_dim), dtype=np.float32)
    feeds = [{"image": frames_to_batch([frame]), **({"style": eye[i % len(eye)][None]} if meta.style_dim else {})}
             for i, frame in enumerate(frames)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(feeds)

        def get_next(self):
            return next(self.items, None)

    logging.disable(logging.WARNING)  # the quantizer advises "pre-processing" on the root logger; ours is done
    try:
        quantize_static(str(fp32_file), str(target), Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv"], per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=list(keep_fp32),
                        nodes_to_quantize=list(nodes_to_quantize) if nodes_to_quantize else None)
    finally:
        logging.disable(logging.NOTSET)
    proto = onnx.load(str(target))
    for entry in proto.metadata_props:
        if entry.key == ONNX_META_KEY:
            entry.value = meta.to_json()
    proto.doc_string = f"rtstyle {meta.family} {meta.variant} {meta.component} (int8)"
    onnx.save(proto, str(target))


def mean_error_against(fp32_file: Path, feeds: list[dict[str, np.ndarray]]) -> Callable[[Path], float]:
    """A function: an int8 file → its mean abs error against `fp32_file` over `feeds` (ONNX Runtime, CPU)."""
    import onnxruntime as ort

    reference = ort.InferenceSession(str(fp32_file), providers=["CPUExecutionProvider"])
    expected = [reference.run(None, feed)[0] for feed in feeds]

    def mean_error(int8_file: Path) -> float:
        session = ort.InferenceSession(str(int8_file), providers=["CPUExecutionProvider"])
        return float(np.mean([np.abs(session.run(None, feed)[0] - want).mean() for feed, want in zip(feeds, expected)]))

    return mean_error


def quantize_within_tolerance(fp32_file: Path, target: Path, meta: ModelMeta, frames: list[np.ndarray],
                              mean_error: Callable[[Path], float], log=print) -> tuple[float, list[str]]:
    """Quantize `fp32_file` into `target`; if its mean error is not under INT8_MEAN_TOLERANCE, keep in fp32 the
    convolutions that lose the most on their own, worst first, until it is (a trained network often has one layer,
    such as the last upsampling convolution, whose activations int8 cannot hold). Returns the error and the names
    kept in fp32; RtstyleError when even that does not get under the tolerance."""
    import onnx

    quantize(fp32_file, target, meta, frames)
    error = mean_error(target)
    if error < INT8_MEAN_TOLERANCE:
        return error, []
    convolutions = [node.name for node in onnx.load(str(fp32_file)).graph.node if node.op_type == "Conv"]
    log(f"  mean abs error {error:.3g} exceeds {INT8_MEAN_TOLERANCE:g}: measuring each of the {len(convolutions)} "
        f"convolutions quantized alone…")
    alone = {}
    for name in convolutions:
        quantize(fp32_file, target, meta, frames, nodes_to_quantize=[name])
        alone[name] = mean_error(target)
    kept: list[str] = []
    for name in sorted(alone, key=alone.get, reverse=True)[: len(convolutions) // 2]:
        kept.append(name)
        quantize(fp32_file, target, meta, frames, keep_fp32=kept)
        error = mean_error(target)
        log(f"  {name} kept in fp32 (alone it loses {alone[name]:.3g}): mean abs error {error:.3g}")
        if error < INT8_MEAN_TOLERANCE:
            return error, kept
    raise RtstyleError(f"int8 check failed: mean abs error {error:.3g} against {fp32_file.name} exceeds "
                       f"{INT8_MEAN_TOLERANCE:g} even with half the convolutions kept in fp32")


def quantize_onnx_file(source: Path, output: Path, calibration: str | Path | None = None,
                       log=print) -> float:
    """An fp32 ONNX model file → its int8 version at `output`, checked against it (ONNX Runtime, the bundled photo
    and random images at two sizes) by the mean abs error; returns that error."""
    import onnx

    try:
        proto = onnx.load(str(source))
    except Exception:
        raise RtstyleError(f"not a usable ONNX model (unreadable, truncated or invalid): {source}") from None
    meta = meta_from_onnx({p.key: p.value for p in proto.metadata_props}.get(ONNX_META_KEY), str(source))
    if meta.precision != "fp32":
        raise RtstyleError(f"int8 is made from an fp32 file; {source.name} is {meta.precision}")
    log(f"quantizing {source.name} → {output.name} (int8 convolutions, calibrated on photos)…")
    start = time.perf_counter()
    sample = read_image(SAMPLE_IMAGE)
    generator = np.random.default_rng(0)
    cases = [frames_to_batch([resize(sample, 192, 256)]), frames_to_batch([resize(sample, 250, 333)[:, ::-1]]),
             generator.random((1, 3, 192, 256), dtype=np.float32)]
    style = {"style": np.eye(meta.style_dim, dtype=np.float32)[:1]} if meta.style_dim else {}
    mean_error = mean_error_against(source, [{"image": image, **style} for image in cases])
    with atomic_output(output) as tmp:
        mean, kept = quantize_within_tolerance(source, tmp, replace(meta, precision="int8"),
                                               calibration_frames(calibration), mean_error, log)
    fp32_note = f"; {len(kept)} convolution(s) kept in fp32" if kept else ""
    log(f"  {output} {output.stat().st_size / 1e6:.2f} MB in {time.perf_counter() - start:.1f} s; mean abs error "
        f"vs {source.name} {mean:.2e} (limit {INT8_MEAN_TOLERANCE:.0e}){fp32_note}")
    return mean
