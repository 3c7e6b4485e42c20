"""`rtstyle export`: checkpoint → ONNX, ONNX → TensorRT engine, or checkpoint → engine through an ONNX file."""
from __future__ import annotations

import argparse
from pathlib import Path

from rtstyle.errors import RtstyleError
from rtstyle.files import check_output_path
from rtstyle.formats import FORMATS, format_of


def export_command(args: argparse.Namespace) -> None:
    source = Path(args.model)
    if not source.is_file():
        raise RtstyleError(f"model file not found: {source}")
    source_format, target = format_of(source), FORMATS[args.format]
    if target.made_from is None or source_format.name == target.name:
        raise RtstyleError(f"cannot export a {source_format.name} file to {target.name}")
    precisions = ("fp32", "fp16") if args.precision == "both" else (args.precision or _default_precision(target),)
    if target.name == "onnx":
        if source_format.name != "torch":
            raise RtstyleError(f"ONNX files are exported from training checkpoints (.pt), not {source.suffix} files")
        from .onnx import export_onnx

        base = Path(args.output) if args.output else source.with_suffix(".onnx")
        _check_outputs(source, base, precisions, args.overwrite)
        export_onnx(source, base, precisions)
        return
    # TensorRT
    if len(precisions) != 1:
        raise RtstyleError("a TensorRT engine has one precision: --precision fp16 or fp32")
    from .tensorrt import build_engine, parse_sizes

    sizes = parse_sizes(args.sizes)
    onnx_file = source
    if source_format.name == "torch":  # go through an ONNX file of the same precision, written beside the checkpoint
        from .onnx import export_onnx

        reports = export_onnx(source, source.with_suffix(".onnx"), precisions)
        onnx_file = next(r.path for r in reports if r.component in ("model", "stylizer"))
    output = Path(args.output) if args.output else onnx_file.with_suffix(".engine")
    check_output_path(output, inputs=[source, onnx_file], overwrite=args.overwrite)
    build_engine(onnx_file, output, sizes, precisions[0], args.max_batch, args.timing_cache)


def _default_precision(target) -> str:
    return "fp16" if target.gpu_only else "fp32"


def _check_outputs(source: Path, base: Path, precisions: tuple[str, ...], overwrite: bool) -> None:
    from rtstyle.meta import ModelMeta
    from rtstyle.models.checkpoint import read_checkpoint

    from .onnx import output_path

    meta = ModelMeta.from_json(read_checkpoint(source)["rtstyle_meta"], str(source))
    parts = ("encoder", "stylizer") if meta.family == "arbitrary" else ("model",)
    for precision in precisions:
        for part in parts:
            check_output_path(output_path(base, part, precision), inputs=[source], overwrite=overwrite)
