"""`rtstyle export`: checkpoint → ONNX, ONNX → TensorRT engine, or checkpoint → engine through an ONNX file.

Everything an export needs is checked before any slow work: the runtime it builds with, and every file it would
write (an existing one is replaced only with --overwrite, the intermediate ONNX of a TensorRT build included)."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from rtstyle.errors import RtstyleError
from rtstyle.files import check_output_path
from rtstyle.formats import FORMATS, component_path, format_of
from rtstyle.meta import components_of


def export_command(args: argparse.Namespace) -> None:
    source = Path(args.model)
    if not source.is_file():
        raise RtstyleError(f"model file not found: {source}")
    source_format, target = format_of(source), FORMATS[args.format]
    if source_format.name == target.name == "onnx" and args.precision == "int8":  # an fp32 ONNX file, quantized
        from .int8 import quantize_onnx_file

        output = Path(args.output) if args.output else component_path(source, "model", "int8")
        check_output_path(output, inputs=[source], overwrite=args.overwrite)
        quantize_onnx_file(source, output, args.calibration)
        return
    if target.made_from is None or source_format.name == target.name:
        raise RtstyleError(f"cannot export a {source_format.name} file to {target.name}")
    precisions = ("fp32", "fp16") if args.precision == "both" else (args.precision or _default_precision(target),)
    if target.name == "onnx":
        if source_format.name != "torch":
            raise RtstyleError(f"ONNX files are exported from training checkpoints (.pt), not {source.suffix} files "
                               "(an fp32 ONNX file can only be quantized: --precision int8)")
        from .onnx import export_onnx

        base = Path(args.output) if args.output else source.with_suffix(".onnx")
        _check_onnx_outputs(source, base, precisions, args.overwrite)
        export_onnx(source, base, precisions, calibration=args.calibration)
        return
    # TensorRT
    if len(precisions) != 1 or precisions[0] == "int8":
        raise RtstyleError("a TensorRT engine has one precision: --precision fp16 or fp32")
    from .tensorrt import build_engine, load_onnx, parse_sizes

    sizes = parse_sizes(args.sizes)
    onnx_file = source
    if source_format.name == "torch":  # through an ONNX file of the same precision, written beside the checkpoint
        base = source.with_suffix(".onnx")
        frame_part = _check_onnx_outputs(source, base, precisions, args.overwrite)[-1]
        onnx_file = component_path(base, frame_part, precisions[0])
    else:
        load_onnx(source)  # a broken file fails here, before anything else
    output = Path(args.output) if args.output else onnx_file.with_suffix(".engine")
    check_output_path(output, inputs=[source, onnx_file], overwrite=args.overwrite)
    if importlib.util.find_spec("tensorrt") is None:
        raise RtstyleError("building TensorRT engines needs TensorRT 10 and an NVIDIA GPU: pip install 'rtstyle[gpu]'")
    if source_format.name == "torch":
        from .onnx import export_onnx

        export_onnx(source, base, precisions)
    build_engine(onnx_file, output, sizes, precisions[0], args.max_batch, args.timing_cache)


def _default_precision(target) -> str:
    return "fp16" if target.gpu_only else "fp32"


def _check_onnx_outputs(source: Path, base: Path, precisions: tuple[str, ...], overwrite: bool) -> tuple[str, ...]:
    """Refuse now if an ONNX file the export would write exists (without --overwrite); returns the parts written
    (the one that stylizes frames last)."""
    from rtstyle.models.checkpoint import checkpoint_meta

    meta = checkpoint_meta(source)
    parts = components_of(meta.family)
    for precision in precisions:
        for part in parts:
            check_output_path(component_path(base, part, precision), inputs=[source], overwrite=overwrite)
    return parts
