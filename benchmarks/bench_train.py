"""Training speed: steps per second for every family × variant, fp32 next to the fast path, same machine, same run.

    python benchmarks/bench_train.py                              # all families and variants (~6 min here)
    python benchmarks/bench_train.py --families cin --variants fast --steps 6
    python benchmarks/bench_train.py --curve 500 --variants fast --size 128    # same loss curve in both precisions?

The fast path is what `rtstyle train` picks by itself (`--precision auto`): bf16 autocast + channels-last where the
CPU has bf16 matrix units (AMX-BF16 / AVX512-BF16, read from its flags), fp32 elsewhere. A step is the shipped
models' recipe: batch 4 of 192 px crops, paintings at 384 px, VGG-16 loss to relu4_3, the stability regularizer,
Adam. Each configuration runs `--warmup` steps and then `--steps` timed ones; the fastest of them counts (on a shared
2-core machine any other process only ever slows a step down, so the fastest is the one least disturbed; data
loading is outside the timed part). Writes benchmarks/results/train-cpu.json and .md.

`--curve N` instead trains one CIN model N steps in fp32 and N steps on the fast path from the same seed and data,
and compares the loss curves (train-curve-cpu.json/.md and a PNG): the fast path must not cost quality.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED, machine, markdown_table, write_results  # noqa: E402
from rtstyle_train.arbitrary import ArbitraryFamily  # noqa: E402
from rtstyle_train.cin import ConditionalFamily  # noqa: E402
from rtstyle_train.data import load_styles  # noqa: E402
from rtstyle_train.feedforward import FeedForwardFamily  # noqa: E402
from rtstyle_train.loop import TrainSettings, train, training_precision  # noqa: E402

FAMILIES = {
    "feedforward": lambda styles: FeedForwardFamily(styles[3]),
    "cin": lambda styles: ConditionalFamily(styles),
    "arbitrary": lambda styles: ArbitraryFamily(styles, crop_size=192),
}


def step_seconds(family_name: str, variant: str, precision: str, steps: int, warmup: int, styles) -> float:
    """Wall time of the fastest training step after `warmup` steps."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = TrainSettings(content=str(SHARED / "photos"), out=tmp, variant=variant, size=192, style_size=384,
                                 batch_size=4, steps=warmup + steps, checkpoint_every=10**9, precision=precision)
        family = FAMILIES[family_name](styles)
        checkpoint = train(family, settings, torch.device("cpu"))
        history = torch.load(checkpoint, weights_only=True)["training_state"]["history"]
    return min(record["seconds"] for record in history[warmup:])


def loss_curve(variant: str, precision: str, steps: int, size: int, styles, folder: Path) -> list[dict]:
    settings = TrainSettings(content=str(SHARED / "photos"), out=str(folder / precision), variant=variant, size=size,
                             style_size=2 * size, batch_size=4, steps=steps, checkpoint_every=10**9,
                             precision=precision)
    checkpoint = train(ConditionalFamily(styles), settings, torch.device("cpu"))
    return torch.load(checkpoint, weights_only=True)["training_state"]["history"]


def compare_curves(args, fast: str, info: dict) -> None:
    """fp32 and the fast path, same seed and batches: the mean loss over the last fifth of the steps, per part."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = load_styles([SHARED / "styles"], 2 * args.size)
    variant = args.variants[0]
    with tempfile.TemporaryDirectory() as tmp:
        curves = {p: loss_curve(variant, p, args.curve, args.size, styles, Path(tmp)) for p in ("fp32", fast)}
    tail = max(1, len(curves["fp32"]) // 5)
    rows = []
    for key in ("total", "content", "style", "stability"):
        means = {p: statistics.mean(r[key] for r in curves[p][-tail:]) for p in curves}
        rows.append({"loss": key, "fp32": f"{means['fp32']:.4f}", fast: f"{means[fast]:.4f}",
                     "difference": f"{100 * (means[fast] / means['fp32'] - 1):+.1f} %"})
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for precision, history in curves.items():
        ax.plot([r["step"] for r in history], [r["total"] for r in history], label=f"{precision} total", lw=1)
        ax.plot([r["step"] for r in history], [r["style"] for r in history], "--", label=f"{precision} style", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(f"cin {variant}, {args.size} px crops, batch 4: fp32 vs {fast} ({info['cpu']})", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "train-curve-cpu.png")
    table = (f"cin {variant}, {args.curve} steps, {args.size} px crops, batch 4, same seed: mean loss over the last "
             f"{tail} logged points\n\n" + markdown_table(rows, [("loss", "loss"), ("fp32", "fp32"), (fast, fast),
                                                                  ("difference", "difference")]))
    write_results("train-curve-cpu", {"machine": info, "settings": vars(args), "rows": rows,
                                      "curves": curves}, table)
    print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--variants", nargs="+", default=["tiny", "fast", "base"])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per configuration (default 4)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--curve", type=int, metavar="STEPS", help="compare loss curves over STEPS steps instead")
    parser.add_argument("--size", type=int, default=128, help="crop size of --curve runs (default 128)")
    args = parser.parse_args()

    fast = training_precision("auto", torch.device("cpu"))
    info = machine()
    print(f"{info['cpu']}, bf16 units: {', '.join(info['bf16_flags']) or 'none'}; fast path = {fast}", flush=True)
    if args.curve:
        compare_curves(args, fast, info)
        return
    styles = load_styles([SHARED / "styles"], 384)
    rows = []
    for family in args.families:
        for variant in args.variants:
            row = {"family": family, "variant": variant, "fast_precision": fast}
            for label, precision in (("fp32", "fp32"), ("fast", fast)):
                seconds = step_seconds(family, variant, precision, args.steps, args.warmup, styles)
                row[f"{label}_s"], row[f"{label}_steps_per_s"] = seconds, 1 / seconds
            row["speedup"] = row["fp32_s"] / row["fast_s"]
            rows.append(row)
            print(f"{family:12s} {variant:5s} fp32 {row['fp32_s']:.2f} s/step  {fast} {row['fast_s']:.2f} s/step  "
                  f"{row['speedup']:.2f}×", flush=True)
    table = markdown_table(
        [{**r, "fp32_s": f"{r['fp32_s']:.2f}", "fast_s": f"{r['fast_s']:.2f}", "speedup": f"{r['speedup']:.2f}×"}
         for r in rows],
        [("family", "family"), ("variant", "variant"), ("fp32_s", "fp32 s/step"),
         ("fast_precision", "fast path"), ("fast_s", "fast s/step"), ("speedup", "speed-up")])
    json_path, md_path = write_results("train-cpu", {"machine": info, "settings": vars(args), "rows": rows}, table)
    print(f"\n{table}\n\nwrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
