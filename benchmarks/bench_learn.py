"""`rtstyle learn` against its goal: a painting the model never saw, learned in ≤ 10 minutes on this CPU to the
multi-style models' quality bar (style loss ≤ 2.0× a Gatys optimisation's, summed, on the held-out photos).

    python benchmarks/bench_learn.py --painting ../corpus/eval/klimt_the_kiss.png --model checkpoints/cin-fast.pt
    python benchmarks/bench_learn.py --painting P --model M --guess-from runs/arbitrary-fast/model.pt

Runs the command as a user would (a subprocess, its wall time measured, `--minutes` as its budget), once from the
old styles' mean and, with `--guess-from`, once from the arbitrary model's prediction; then scores the new style on
the five held-out photos against Gatys (references cached like bench_quality's). Writes learn-cpu.json/.md and a
picture: the painting, then each run's results on the photos.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import BAR, against_gatys  # noqa: E402
from common import RESULTS, SHARED, finish, markdown_table  # noqa: E402

from rtstyle.images import read_image, write_image  # noqa: E402
from rtstyle.model import open_model  # noqa: E402
from rtstyle.processing import fit_within, frames_to_batch, resize  # noqa: E402


def learn(args, output: Path, guess: Path | None) -> dict:
    command = [sys.executable, "-m", "rtstyle", "learn", str(args.painting), "--model", str(args.model), "-o",
               str(output), "--minutes", str(args.minutes), "--name", "learned"]
    command += ["--steps", str(args.steps)] if args.steps else []
    command += ["--guess-from", str(guess)] if guess else ["--from-mean"]
    began = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"rtstyle learn failed: {result.stderr.strip()}")
    kept = re.search(r"keeping step (\d+)", result.stdout)
    return {"start": "arbitrary model's guess" if guess else "old styles' mean", "wall_seconds": seconds,
            "stopped_early_at_step": int(kept.group(1)) if kept else None, "log": result.stdout[-2000:]}


def score(path: Path, painting: Path, photos: list[Path], size: int, iterations: int) -> tuple[dict, list]:
    import torch
    from rtstyle_train.vgg import load_vgg16

    vgg = load_vgg16("relu4_3")
    with open_model(path, "onnxrt", "cpu") as model:
        meta = model.meta
        styles, index = model.parse_style("learned")
        cond = styles[index].cond
        style_side = meta.training.get("style_size") or 2 * size
        image = read_image(painting)
        style = torch.from_numpy(frames_to_batch([resize(image, *fit_within(*image.shape[:2], style_side))]))
        ratios, outputs = {"style": [], "content": [], "layers": []}, []
        for photo_path in photos:
            photo = read_image(photo_path)
            photo = resize(photo, *fit_within(*photo.shape[:2], size))
            out = model.frames.infer([photo], cond)[0]
            outputs.append(out)
            content = torch.from_numpy(frames_to_batch([photo]))
            report = against_gatys(out, photo_path, painting, content, style, vgg, iterations)
            ratios["style"].append(report["ratio"]["style"])
            ratios["content"].append(report["ratio"]["content"])
            ratios["layers"].append({k.split("/")[1]: v for k, v in report["ratio"].items() if k.startswith("style/")})
    layers = {key: float(np.mean([r[key] for r in ratios["layers"]])) for key in ratios["layers"][0]}
    return {"style_ratio": float(np.mean(ratios["style"])), "content_ratio": float(np.mean(ratios["content"])),
            "worst_layer_ratio": max(layers.values()), "layer_ratios": layers}, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--painting", type=Path, required=True, help="a painting the model was not trained on")
    parser.add_argument("--model", required=True, help="the cin model's checkpoint (.pt)")
    parser.add_argument("--guess-from", type=Path, help="an arbitrary-style checkpoint: also learn from its guess")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--name", default="learn-cpu", help="results file name (default learn-cpu)")
    parser.add_argument("--steps", type=int, help="learn's --steps (default: its own)")
    parser.add_argument("--starts", choices=["both", "guess"], default="both",
                        help="with --guess-from: also learn from the old styles' mean (both, the default) or not")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--gatys-iterations", type=int, default=100)
    args = parser.parse_args()
    from rtstyle_train.data import HELD_OUT_PHOTOS

    started = time.perf_counter()
    photos = [SHARED / "photos" / name for name in HELD_OUT_PHOTOS]
    rows, strips = [], []
    with tempfile.TemporaryDirectory() as tmp:
        starts = [args.guess_from] if args.guess_from else []
        starts = starts if starts and args.starts == "guess" else [None, *starts]
        for guess in starts:
            output = Path(tmp) / f"learned-{'guess' if guess else 'mean'}.onnx"
            row = learn(args, output, guess)
            scores, outputs = score(output, args.painting, photos, args.size, args.gatys_iterations)
            row.update(scores)
            row["meets_bar"] = "yes" if (row["style_ratio"] <= BAR["style"] and row["content_ratio"] <= BAR["content"]
                                         and row["wall_seconds"] <= 60 * args.minutes) else "no"
            rows.append(row)
            strips.append(np.concatenate([resize(o, 160, 160 * o.shape[1] // o.shape[0]) for o in outputs], axis=1))
            print({k: v for k, v in row.items() if k != "log"}, flush=True)
    painting = read_image(args.painting)
    width = max(s.shape[1] for s in strips)
    top = resize(painting, 160, min(width, 160 * painting.shape[1] // painting.shape[0]))
    picture = np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0))) for p in [top, *strips]], axis=0)
    write_image(RESULTS / f"{args.name}.png", picture)
    table = (f"`rtstyle learn {args.painting.name} --model {args.model} --minutes {args.minutes:g}"
             f"{f' --steps {args.steps}' if args.steps else ''}`, scored on the "
             f"{len(photos)} held-out photos at {args.size} px against Gatys; {args.name}.png: the painting, then each "
             "run's results\n\n"
             + markdown_table(rows, [("start", "started from"), ("wall_seconds", "wall time s"),
                                     ("stopped_early_at_step", "stopped early at step"),
                                     ("style_ratio", "style × Gatys"), ("worst_layer_ratio", "worst layer ×"),
                                     ("content_ratio", "content ×"), ("meets_bar", "meets the bar")]))
    finish(args.name, started, table, also=f" and {args.name}.png", rows=rows, painting=str(args.painting),
           model=str(args.model))


if __name__ == "__main__":
    main()
