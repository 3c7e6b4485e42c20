"""int8 on the CPU: is post-training quantization worth shipping? Speed and quality against bf16, same run.

    python benchmarks/bench_int8.py                          # the shipped CIN models
    python benchmarks/bench_int8.py --models runs/x/model.onnx

For each model: `rtstyle export MODEL.onnx --format onnx --precision int8`'s quantization (export/int8.py: ONNX
Runtime's static quantizer, QDQ, every convolution, weights per channel, activations calibrated on training photos —
never the held-out ones) writes an int8 copy; OpenVINO runs the original
in bf16 and the copy with int8 convolutions (the rest in bf16) on 640×480 float tensors, alternating, so both see
the same machine. Quality: the held-out photos × every style through both, scored with the VGG-16 training loss in
fp32 — the issue's rule is to keep int8 only if its style and content losses change by ≤ 5 %, ours also that it
is ≥ 10 % faster — and a picture per
model (a bf16 output, the int8 output, their difference ×8) to look for banding.
Writes int8-cpu.json/.md/.png (--name: another stem).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED, finish, markdown_table, median_rate  # noqa: E402

from rtstyle.images import read_image, write_image  # noqa: E402
from rtstyle.model import open_model, shipped_models  # noqa: E402
from rtstyle.processing import fit_within, frames_to_batch, resize  # noqa: E402

KEEP_IF_WITHIN = 0.05  # the rule: style and content losses may change by at most 5 %…
WORTH_A_FILE = 1.10  # …and an extra file is worth shipping from 10 % faster


def alternating_rates(runs: dict, rounds: int, seconds: float) -> dict[str, float]:
    """Median fps of each run, measured in alternating rounds so that a slower moment hits both."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            rates[name].append(median_rate(run, 1, seconds, warmup=2))
    return {name: statistics.median(values) for name, values in rates.items()}


def scored_losses(outputs: dict, photos: list[np.ndarray], paintings: dict) -> dict[str, dict[str, float]]:
    """{label: {(style, photo index): frame}} → {label: mean content and style loss in fp32}."""
    import torch
    from rtstyle_train.losses import LossConfig, PerceptualLoss
    from rtstyle_train.vgg import load_vgg16

    loss = PerceptualLoss(load_vgg16("relu4_3"), LossConfig())
    scores = {}
    with torch.no_grad():
        targets = {name: loss.style_targets(image) for name, image in paintings.items()}
        contents = [loss.content_targets(torch.from_numpy(frames_to_batch([photo]))) for photo in photos]
        for label, frames in outputs.items():
            parts = {"content": [], "style": []}
            for (style, index), frame in frames.items():
                _, scored = loss(torch.from_numpy(frames_to_batch([frame])), contents[index], targets[style])
                for key in parts:
                    parts[key].append(scored[key].item())
            scores[label] = {key: statistics.mean(values) for key, values in parts.items()}
    return scores


def bench(path: Path, args, folder: Path) -> tuple[dict, np.ndarray]:
    import torch
    from rtstyle_export.int8 import quantize_onnx_file
    from rtstyle_train.data import HELD_OUT_PHOTOS

    int8_path = folder / f"{path.stem}.int8.onnx"
    with open_model(path, "onnxrt", "cpu") as probe:
        styles = probe.styles()
    started = time.perf_counter()
    quantize_onnx_file(path, int8_path)  # as `rtstyle export MODEL.onnx --format onnx --precision int8` does
    quantized_in = time.perf_counter() - started
    tensor = np.random.default_rng(0).random((1, 3, 480, 640), dtype=np.float32)
    photos = [read_image(SHARED / "photos" / name) for name in HELD_OUT_PHOTOS[: args.photos]]
    photos = [resize(p, *fit_within(*p.shape[:2], args.size)) for p in photos]
    paintings = {}
    for style in styles:
        painting = SHARED / "styles" / f"{style.label}.jpg"
        image = read_image(painting)
        paintings[style.label] = torch.from_numpy(frames_to_batch([resize(image, *fit_within(*image.shape[:2],
                                                                                           2 * args.size))]))
    outputs = {}
    with open_model(path, "openvino", "cpu", "bf16") as bf16, open_model(int8_path, "openvino", "cpu", "bf16") as int8:
        cond = styles[0].cond
        rates = alternating_rates({"bf16": lambda: (bf16.frames.infer_tensor(tensor, cond), 1)[1],
                                   "int8": lambda: (int8.frames.infer_tensor(tensor, cond), 1)[1]},
                                  args.rounds, args.seconds)
        for label, model in (("bf16", bf16), ("int8", int8)):
            outputs[label] = {(style.label, i): model.frames.infer([photo], style.cond)[0]
                              for style in styles for i, photo in enumerate(photos)}
    scores = scored_losses(outputs, photos, paintings)
    change = {key: scores["int8"][key] / scores["bf16"][key] - 1 for key in ("content", "style")}
    pixel = np.concatenate([np.abs(outputs["int8"][key].astype(int) - outputs["bf16"][key].astype(int)).ravel()
                            for key in outputs["bf16"]])
    row = {"model": path.name, "bf16_fps": rates["bf16"], "int8_fps": rates["int8"],
           "speedup": rates["int8"] / rates["bf16"], "content_change": 100 * change["content"],
           "style_change": 100 * change["style"], "max_pixel_difference": int(pixel.max()),
           "mean_pixel_difference": float(pixel.mean()), "quantized_seconds": quantized_in,
           "int8_mb": int8_path.stat().st_size / 1e6,
           "keep": "yes" if max(abs(v) for v in change.values()) <= KEEP_IF_WITHIN
           and rates["int8"] >= WORTH_A_FILE * rates["bf16"] else "no"}
    print(row, flush=True)
    key = (styles[min(2, len(styles) - 1)].label, 0)
    a, b = outputs["bf16"][key], outputs["int8"][key]
    difference = np.clip(np.abs(a.astype(int) - b.astype(int)) * 8, 0, 255).astype(np.uint8)
    return row, np.concatenate([a, b, difference], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", type=Path, help="CIN ONNX files (default: the shipped CIN models)")
    parser.add_argument("--photos", type=int, default=5, help="held-out photos to score (default 5)")
    parser.add_argument("--size", type=int, default=256, help="long side of the scored photos (default 256)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--name", default="int8-cpu", help="results file stem (default int8-cpu)")
    args = parser.parse_args()
    from rtstyle.cpu import has_bf16

    if not has_bf16():
        raise SystemExit("this benchmark compares int8 with bf16: this CPU has no bf16 units")
    models = args.models or [p for name, p in shipped_models().items() if name.startswith("cin-")]
    started = time.perf_counter()
    rows, pictures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for path in models:
            row, picture = bench(path, args, Path(tmp))
            rows.append(row)
            pictures.append(picture)
    width = max(p.shape[1] for p in pictures)
    sheet = np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0))) for p in pictures], axis=0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_image(RESULTS / f"{args.name}.png", sheet)
    table = ("OpenVINO, 640×480 float tensors, batch 1; losses: held-out photos × every style, fp32 VGG-16; "
             f"{args.name}.png: per model a bf16 output, the int8 output, their difference ×8\n\n"
             + markdown_table(rows, [("model", "model"), ("bf16_fps", "bf16 fps"), ("int8_fps", "int8 fps"),
                                     ("speedup", "int8 / bf16"), ("content_change", "content loss change %"),
                                     ("style_change", "style loss change %"),
                                     ("max_pixel_difference", "max pixel diff"),
                                     ("mean_pixel_difference", "mean pixel diff"), ("keep", "keep int8?")]))
    finish(args.name, started, table, also=f" and {RESULTS / args.name}.png", rows=rows)


if __name__ == "__main__":
    main()
