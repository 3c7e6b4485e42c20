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

`--curve N` instead trains one CIN model N steps in fp32 and N steps on the fast path from the same seed and data, and
N steps in fp32 from another seed; scores the three trained models the same way (fp32 loss on the held-out photos)
and compares: the fast path must not cost quality, i.e. land no further from fp32 than another fp32 run does
(train-curve-cpu.json/.md and a PNG of the curves).
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
from rtstyle_train.data import HELD_OUT_PHOTOS, load_styles  # noqa: E402
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


def loss_curve(variant: str, precision: str, seed: int, steps: int, size: int, styles, folder: Path
               ) -> tuple[list[dict], Path]:
    """(the loss history, the checkpoint) of `steps` CIN steps, the held-out photos kept out."""
    settings = TrainSettings(content=str(SHARED / "photos"), out=str(folder / f"{precision}-{seed}"), variant=variant,
                             size=size, style_size=2 * size, batch_size=4, steps=steps, checkpoint_every=10**9,
                             precision=precision, seed=seed, exclude=HELD_OUT_PHOTOS)
    checkpoint = train(ConditionalFamily(styles), settings, torch.device("cpu"))
    return torch.load(checkpoint, weights_only=True)["training_state"]["history"], checkpoint


def held_out_losses(checkpoint: Path, styles, size: int) -> dict[str, float]:
    """The trained model's outputs for the held-out photos × every style, scored in fp32 with the training loss:
    the loss a run reports is computed in its own precision, this one is the same yardstick for every run."""
    from rtstyle_train.losses import LossConfig, PerceptualLoss
    from rtstyle_train.vgg import load_vgg16

    from rtstyle.images import read_image
    from rtstyle.model import open_model
    from rtstyle.processing import fit_within, frames_to_batch, resize

    loss = PerceptualLoss(load_vgg16("relu4_3"), LossConfig())
    photos = [read_image(SHARED / "photos" / name) for name in HELD_OUT_PHOTOS]
    batches = [torch.from_numpy(frames_to_batch([resize(p, *fit_within(*p.shape[:2], size))])) for p in photos]
    parts: dict[str, list[float]] = {"content": [], "style": []}
    with open_model(checkpoint, "torch", "cpu") as model, torch.no_grad():
        paintings = {painting.name: painting.image for painting in styles}
        for style in model.styles():
            style_targets = loss.style_targets(paintings[style.label])
            for batch in batches:
                output = torch.from_numpy(model.frames.infer_tensor(batch.numpy(), style.cond))
                _, scored = loss(output, loss.content_targets(batch), style_targets)
                for key in parts:
                    parts[key].append(scored[key].item())
    values = {key: statistics.mean(v) for key, v in parts.items()}
    return {**values, "total": values["content"] + values["style"]}


def compare_curves(args, fast: str, info: dict) -> None:
    """fp32 and the fast path from the same seed and batches, and fp32 from another seed: how far two fp32
    trainings land apart is the yardstick for the fast path's difference."""
    styles = load_styles([SHARED / "styles"], 2 * args.size)
    runs = {"fp32": ("fp32", 0), fast: (fast, 0), "fp32 seed 1": ("fp32", 1)}
    curves, held_out = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (precision, seed) in runs.items():
            curves[label], checkpoint = loss_curve(args.variants[0], precision, seed, args.curve, args.size, styles,
                                                   Path(tmp))
            held_out[label] = held_out_losses(checkpoint, styles, 2 * args.size)
    report_curves(curves, held_out, fast, args.variants[0], args.size, info, vars(args))


def report_curves(curves: dict, held_out: dict, fast: str, variant: str, size: int, info: dict,
                  settings: dict) -> None:
    """Tables: the mean reported loss over the last fifth of the steps per run, and the trained models scored on
    the held-out photos in fp32 — the fast path's difference from fp32 next to the other fp32 seed's (run-to-run
    noise). A picture of the curves smoothed over 25 steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(curves)
    seeded = labels[2]
    steps = len(curves["fp32"])
    tail = max(2, steps // 5)

    def change(a: float, b: float) -> str:
        return f"{100 * (a / b - 1):+.1f} %"

    reported, scored = [], []
    for key in ("total", "content", "style", "stability"):
        means = {label: statistics.mean(r[key] for r in curves[label][-tail:]) for label in labels}
        reported.append({"loss": key, **{label: f"{means[label]:.4f}" for label in labels},
                         "fast": change(means[fast], means["fp32"]), "seed": change(means[seeded], means["fp32"])})
    for key in ("total", "content", "style"):
        values = {label: held_out[label][key] for label in labels}
        ours, noise = values[fast] / values["fp32"] - 1, values[seeded] / values["fp32"] - 1
        scored.append({"loss": key, **{label: f"{values[label]:.4f}" for label in labels},
                       "fast": change(values[fast], values["fp32"]), "seed": change(values[seeded], values["fp32"]),
                       "verdict": "within run-to-run noise" if abs(ours) <= abs(noise) else
                       ("better" if ours < 0 else "worse than run-to-run noise")})
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    window = 25
    for (label, history), colour in zip(curves.items(), ("tab:blue", "tab:red", "tab:green")):
        x = [r["step"] for r in history]
        for key, style in (("total", "-"), ("style", "--")):
            y = [r[key] for r in history]
            smooth = [statistics.mean(y[max(0, i - window + 1):i + 1]) for i in range(len(y))]
            ax.plot(x, smooth, style, color=colour, lw=1.5, label=f"{label} {key}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(f"cin {variant}, {size} px crops, batch 4, {window}-step means: fp32 vs {fast} ({info['cpu']})",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "train-curve-cpu.png")
    columns = [("loss", "loss"), *[(label, label) for label in labels], ("fast", f"{fast} vs fp32"),
               ("seed", f"{seeded} vs fp32")]
    table = (f"cin {variant}, {steps} steps, {size} px crops, batch 4; `{fast}` and `fp32` share seed and batches, "
             f"`{seeded}` is the run-to-run yardstick.\n\nThe trained models on the {len(HELD_OUT_PHOTOS)} held-out "
             f"photos × every style at {2 * size} px, scored in fp32 (mean per image):\n\n"
             + markdown_table(scored, columns + [("verdict", "verdict")])
             + f"\n\nThe loss each run reported (in its own precision), mean of the last {tail} steps:\n\n"
             + markdown_table(reported, columns))
    write_results("train-curve-cpu", {"machine": info, "settings": settings, "rows": scored, "reported": reported,
                                      "held_out": held_out, "curves": curves}, table)
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
