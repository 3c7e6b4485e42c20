"""`rtstyle learn PAINTING`: teach a trained multi-style (CIN) model one more painting in minutes on a CPU.

Dumoulin et al. 2017 §4: a CIN network's convolutions are shared by all its styles; a new painting needs only its own
scale and shift per norm layer (~0.2 % of the weights). So only the new painting's row of every conditional norm
trains (cin.ConditionalFamily with `base=`: gradients are masked to the new rows), from the mean of the old styles,
or from an arbitrary-style model's prediction for the painting (`--guess-from`: Ghiasi et al.'s predictor, once it is
distilled to this model's norm parameters, starts the new row near its answer). The old styles' parameters, and so
their outputs, stay bit-identical: checked before anything is written.

Writes OUT.onnx (checked against PyTorch, runs with `rtstyle run/stylize --model OUT.onnx --style NAME`), its
checkpoint OUT.pt (resumable, extendable again) and OUT.preview.png (photos in the new style).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import torch
from torch import nn

from rtstyle.errors import RtstyleError
from rtstyle.files import check_output_path
from rtstyle.formats import model_stem
from rtstyle.images import read_image, write_image
from rtstyle.meta import ModelMeta
from rtstyle.model import ASSETS, DEFAULT_MODEL
from rtstyle.models.checkpoint import checkpoint_meta, load_checkpoint
from rtstyle.models.norms import ConditionalInstanceNorm, PredictedInstanceNorm
from rtstyle.paths import cache_dir

from .cin import ConditionalFamily
from .data import HELD_OUT_PHOTOS, Style, load_styles
from .losses import LossConfig
from .warm_start import transformer_of


def find_checkpoint(name_or_path: str | None) -> Path:
    """A CIN training checkpoint: a .pt path, or a model name looked up as checkpoints/NAME.pt (the repository's
    committed checkpoints) or ~/.cache/rtstyle/checkpoints/NAME.pt."""
    name = name_or_path or DEFAULT_MODEL
    path = Path(name)
    if path.suffix.lower() in (".onnx", ".engine"):
        raise RtstyleError(f"learn trains a PyTorch checkpoint (.pt), not {path.name}: pass --model MODEL.pt")
    if path.is_file():
        return path
    for candidate in (Path("checkpoints") / f"{name}.pt", cache_dir() / "checkpoints" / f"{name}.pt"):
        if candidate.is_file():
            return candidate
    raise RtstyleError(f"no checkpoint for {name!r}: learn needs a cin model's training checkpoint (.pt); pass "
                       f"--model PATH.pt (the shipped models are ONNX only; their checkpoints live in checkpoints/)")


@torch.no_grad()
def predictor_guess(path: str | Path, painting: torch.Tensor, variant: str) -> dict[str, tuple[torch.Tensor, ...]]:
    """{norm layer name: (gamma, beta)} that an arbitrary-style model predicts for `painting` ((1,3,H,W) RGB in
    [0,1]), to start the new style from. Meaningful where the predictor was distilled to a CIN model's norm space."""
    model, meta, _ = load_checkpoint(path)
    if meta.family != "arbitrary":
        raise RtstyleError(f"--guess-from needs an arbitrary-style model; {path} is {meta.family}")
    if meta.variant != variant:
        raise RtstyleError(f"--guess-from model is {meta.variant}; the model to extend is {variant}")
    embedding = model.predictor(painting)
    return {name: (module.to_gamma(embedding)[0], module.to_beta(embedding)[0])
            for name, module in model.transformer.named_modules() if isinstance(module, PredictedInstanceNorm)}


def find_guesser(base_path: Path, variant: str) -> Path | None:
    """The arbitrary-style checkpoint distilled from the cin model at `base_path` (arbitrary-VARIANT.pt beside it, in
    checkpoints/ or in the cache), if there is one: its prediction for a painting is a better start than the old
    styles' mean."""
    for folder in dict.fromkeys((base_path.parent, Path("checkpoints"), cache_dir() / "checkpoints")):
        candidate = folder / f"arbitrary-{variant}.pt"
        if candidate.is_file():
            meta = checkpoint_meta(candidate)
            if meta.family == "arbitrary" and meta.training.get("distilled_from") == base_path.name:
                return candidate
    return None


class OutOfTime(Exception):
    """Raised between steps once the time budget is spent; learning keeps its last checkpoint."""


class LearnFamily(ConditionalFamily):
    """ConditionalFamily adding one painting, its norm rows optionally started from a guess, within a time budget
    (checked before each step: on a busy machine learning stops early rather than late)."""

    def __init__(self, style: Style, base: tuple[nn.Module, ModelMeta], guess: dict | None = None,
                 deadline: float = float("inf"), style_scale: float = 1.0):
        super().__init__([style], {style.name: style_scale}, base=base)
        self.guess, self.deadline = guess, deadline

    def conditioning(self, model, batch, generator, device):
        if time.perf_counter() > self.deadline:
            raise OutOfTime
        return super().conditioning(model, batch, generator, device)

    def build_model(self, variant: str) -> nn.Module:
        model = super().build_model(variant)
        if self.guess:
            norms = {name: m for name, m in transformer_of(model).named_modules()
                     if isinstance(m, ConditionalInstanceNorm)}
            if set(norms) != set(self.guess) or any(norms[n].weight.shape[1] != g.shape[0]
                                                    for n, (g, _) in self.guess.items()):
                raise RtstyleError("--guess-from: its norm layers do not match the model's")
            with torch.no_grad():
                for name, (gamma, beta) in self.guess.items():
                    norms[name].weight[len(self.old_names):] = gamma
                    norms[name].bias[len(self.old_names):] = beta
        return model


def usual_style_scale(meta: ModelMeta) -> float:
    """The mean of the style-loss scales the model's own paintings were trained with (1 where none was given): a new
    painting is learned as strongly as the model's paintings were, on average."""
    records = meta.training.get("styles") or [{}]
    return sum(float(r.get("style_scale", 1.0)) for r in records) / len(records)


def check_old_styles_kept(base: nn.Module, checkpoint: Path) -> None:
    """Every weight of `base` is in the new checkpoint unchanged, bit for bit (CIN tables: their first rows)."""
    new = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    for key, old in base.state_dict().items():
        if not torch.equal(new[key][:old.shape[0]] if new[key].shape != old.shape else new[key], old):
            raise RuntimeError(f"learning changed {key}, which the old styles use")


def content_folder(given: str | None, scratch: Path) -> tuple[Path, tuple[str, ...]]:
    """(photos to learn on, names to leave out): --content, else the shared photos (less the quality benchmark's
    held-out ones), else the bundled sample photo and frames of the bundled clip."""
    if given:
        return Path(given), ()
    roots = [Path(os.environ["RTSTYLE_SHARED"])] if os.environ.get("RTSTYLE_SHARED") else []
    for root in [*roots, Path("../shared")]:
        if (root / "photos").is_dir():
            return root / "photos", HELD_OUT_PHOTOS
    import cv2

    folder = scratch / "photos"
    folder.mkdir()
    shutil.copy(str(ASSETS / "sample.jpg"), folder / "sample.jpg")
    clip = cv2.VideoCapture(str(ASSETS / "sample.mp4"))
    count = int(clip.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
    for i in range(8):
        clip.set(cv2.CAP_PROP_POS_FRAMES, i * count // 8)
        ok, frame = clip.read()
        if ok:
            write_image(folder / f"frame{i}.jpg", frame)
    clip.release()
    return folder, ()


def learn_command(args: argparse.Namespace) -> None:
    from rtstyle_export.onnx import export_onnx

    from .commands import pick_device
    from .loop import DEFAULT_STABILITY_WEIGHT, TrainSettings, train

    for option in ("steps", "size", "batch_size"):
        if getattr(args, option) < 1:
            raise RtstyleError(f"--{option.replace('_', '-')} must be at least 1")
    if args.size < 32:
        raise RtstyleError("--size must be at least 32 pixels")
    if args.minutes <= 0:
        raise RtstyleError("--minutes must be more than 0")
    if args.style_scale is not None and args.style_scale <= 0:
        raise RtstyleError("--style-scale must be more than 0")
    read_image(args.painting)  # a missing or broken painting fails before anything slow
    base_path = find_checkpoint(args.model)
    base_model, base_meta, _ = load_checkpoint(base_path)
    if base_meta.family != "cin":
        raise RtstyleError(f"learn adds a painting to a cin model; {base_path} is {base_meta.family}")
    name = args.name or re.sub(r"[^A-Za-z0-9_-]+", "_", Path(args.painting).stem)
    if name in base_meta.style_names:
        raise RtstyleError(f"{base_path.name} already has a style named {name!r}: choose another with --name")
    output = Path(args.output or f"{model_stem(base_path)}+{name}.onnx")
    if output.suffix != ".onnx":
        raise RtstyleError(f"-o names the model to write, ending in .onnx (its .pt is written beside it): {output}")
    outputs = [output, output.with_suffix(".pt"), output.with_name(f"{model_stem(output)}.preview.png")]
    for path in outputs:
        check_output_path(path, inputs=[args.painting, base_path], overwrite=args.overwrite)

    trained = base_meta.training or {}
    size = args.size
    style_size = args.style_size or trained.get("style_size") or 2 * size  # the old styles' brush scale
    known = {f.name for f in fields(LossConfig)}
    loss = LossConfig(**{k: v for k, v in trained.get("loss", {}).items() if k in known})
    if args.style_weight is not None:
        loss.style_weight = args.style_weight
    style = load_styles([args.painting], style_size)[0]
    style.name = name
    guesser = None if args.from_mean else args.guess_from or find_guesser(base_path, base_meta.variant)
    guess = predictor_guess(guesser, style.image, base_meta.variant) if guesser else None
    device = pick_device(args.device)
    start = time.perf_counter()
    budget = 60 * args.minutes
    # the export (15 s measured for cin-fast on a busy 2-core machine) comes after the deadline
    scale = usual_style_scale(base_meta) if args.style_scale is None else args.style_scale
    family = LearnFamily(style, (base_model, base_meta), guess, deadline=start + budget - min(60.0, budget / 10),
                         style_scale=scale)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.stem}.learn-") as scratch:
        content, exclude = content_folder(args.content, Path(scratch))
        settings = TrainSettings(content=str(content), out=str(Path(scratch) / "run"), exclude=exclude,
                                 variant=base_meta.variant, size=size, style_size=style_size,
                                 batch_size=args.batch_size, steps=args.steps, lr=args.lr,
                                 stability_weight=trained.get("stability_weight", DEFAULT_STABILITY_WEIGHT),
                                 seed=args.seed, checkpoint_every=max(5, args.steps // 20),  # a stop loses ≤ 5 %
                                 vgg_weights=args.vgg_weights,
                                 precision=args.precision, loss=loss)
        print(f"learning {name!r} ({args.painting}) into {base_path.name} ({base_meta.variant}, "
              f"{len(base_meta.style_names)} styles): {args.steps} steps at {size} px, style scale {scale:.3g}, "
              f"only its norm rows train, "
              f"from {f'the prediction of {guesser}' if guesser else 'the old styles’ mean'}", flush=True)
        checkpoint = Path(settings.out) / "model.pt"
        try:
            train(family, settings, device)
        except OutOfTime:
            if not checkpoint.exists():
                raise RtstyleError(f"no step finished within --minutes {args.minutes}: this machine is too busy "
                                   "or slow; give more minutes or a smaller --size") from None
            steps = load_checkpoint(checkpoint)[2]["step"]
            print(f"time budget of {args.minutes:g} minutes reached: keeping step {steps} of {args.steps}", flush=True)
        check_old_styles_kept(base_model, checkpoint)
        os.replace(checkpoint, outputs[1])
        os.replace(checkpoint.parent / "samples.png", outputs[2])
    learned = time.perf_counter() - start
    export_onnx(outputs[1], output, log=lambda line: None)
    print(f"wrote {output} ({len(base_meta.style_names) + 1} styles: {', '.join(base_meta.style_names)}, "
          f"+ {name}), {outputs[1].name} and the preview {outputs[2].name}; learned in {learned:.0f} s, "
          f"{time.perf_counter() - start:.0f} s with the export. Try: rtstyle stylize PHOTO --model {output} "
          f"--style {name}")
