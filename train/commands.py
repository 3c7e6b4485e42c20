"""The training-side CLI commands (`rtstyle gatys`, …): argument checking, file I/O and progress around the
algorithms in this package."""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import torch

from rtstyle.errors import RtstyleError
from rtstyle.files import check_output_path
from rtstyle.images import read_image, write_image
from rtstyle.models.vgg import LAYER_NAMES
from rtstyle.processing import batch_to_frames, fit_within, frames_to_batch, resize

from .gatys import GatysConfig, run_gatys_with_progress
from .losses import LossConfig
from .plots import plot_losses
from .vgg import load_vgg16


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RtstyleError(f"device {name} asked for, but this torch has no CUDA GPU")
    try:
        return torch.device(name)
    except RuntimeError:
        raise RtstyleError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None


def parse_layer_weights(text: str, option: str) -> dict[str, float]:
    """'relu1_2=1,relu3_3=0.5' → {'relu1_2': 1.0, 'relu3_3': 0.5}; a bare name has weight 1."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in LAYER_NAMES:
            raise RtstyleError(f"{option}: unknown VGG-16 layer {name!r} (use relu1_1 … relu5_3)")
        try:
            weights[name] = float(value) if value else 1.0
        except ValueError:
            raise RtstyleError(f"{option}: weight of {name} is not a number: {value!r}") from None
    if not weights:
        raise RtstyleError(f"{option}: no layers given")
    return weights


def load_image_tensor(path: str, max_side: int | None, device: torch.device) -> torch.Tensor:
    """(1,3,H,W) float RGB in [0,1], the long side reduced to `max_side`."""
    frame = read_image(path)
    if max_side:
        frame = resize(frame, *fit_within(*frame.shape[:2], max_side))
    return torch.from_numpy(frames_to_batch([frame])).to(device)


def gatys_command(args: argparse.Namespace) -> None:
    if args.size < 16 or (args.style_size is not None and args.style_size < 16):
        raise RtstyleError("--size and --style-size must be at least 16 pixels")
    if args.iterations < 1:
        raise RtstyleError("--iterations must be at least 1")
    output = check_output_path(args.output, inputs=[args.content, args.style], overwrite=args.overwrite)
    if args.loss_curve:
        check_output_path(args.loss_curve, inputs=[args.content, args.style, output], overwrite=args.overwrite)
    device = pick_device(args.device)
    content = load_image_tensor(args.content, args.size, device)
    style = load_image_tensor(args.style, args.style_size or args.size, device)
    loss = LossConfig()
    overrides = {
        "content_weight": args.content_weight, "style_weight": args.style_weight, "tv_weight": args.tv_weight,
        "activation_shift": args.activation_shift,
        "content_layers": args.content_layers and parse_layer_weights(args.content_layers, "--content-layers"),
        "style_layers": args.style_layers and parse_layer_weights(args.style_layers, "--style-layers"),
    }
    loss = replace(loss, **{key: value for key, value in overrides.items() if value is not None})
    scales = args.scales or max(1, 1 + math.floor(math.log2(max(content.shape[-2:]) / 256)))
    config = GatysConfig(iterations=args.iterations, optimizer=args.optimizer, learning_rate=args.lr, init=args.init,
                         scales=scales, preserve_color=args.preserve_color, seed=args.seed, loss=loss)
    vgg = load_vgg16(max(loss.layers, key=LAYER_NAMES.index), weights=args.vgg_weights, device=device)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    result = run_gatys_with_progress(content, style, vgg, config)
    seconds = time.perf_counter() - start
    write_image(output, batch_to_frames(result.image.cpu().numpy())[0])
    last = result.history[-1]
    print(f"wrote {output} ({content.shape[-1]}×{content.shape[-2]}) in {seconds:.0f} s on {device}: "
          f"content {last['content']:.4g}, style {last['style']:.4g} (from {result.history[0]['style']:.4g}), "
          f"tv {last.get('tv', 0.0):.4g}")
    if args.loss_curve:
        plot_losses(result.history, args.loss_curve, title=f"Gatys: {args.content} × {args.style}")
        print(f"wrote {args.loss_curve}")


def train_command(args: argparse.Namespace) -> None:
    from .arbitrary import ArbitraryFamily
    from .cin import ConditionalFamily
    from .data import load_styles
    from .distributed import main_process
    from .feedforward import FeedForwardFamily
    from .loop import TrainSettings, train

    for option in ("steps", "size", "batch_size", "checkpoint_every"):
        if getattr(args, option) < 1:
            raise RtstyleError(f"--{option.replace('_', '-')} must be at least 1")
    if args.size < 32:
        raise RtstyleError("--size must be at least 32 pixels")
    if not 1.0 <= args.max_zoom <= 8.0:
        raise RtstyleError(f"--max-zoom must be between 1 and 8, not {args.max_zoom:g}")
    if not 0.0 <= args.colour_jitter <= 1.0:
        raise RtstyleError(f"--colour-jitter must be between 0 and 1, not {args.colour_jitter:g}")
    style_size = args.style_size or 2 * args.size
    device = pick_device(args.device)
    variant = args.variant
    if args.family == "feedforward":
        styles = load_styles([args.style], style_size)
        if len(styles) != 1:
            raise RtstyleError("feedforward trains one painting: give one image to --style (use cin for several)")
        family = FeedForwardFamily(styles[0])
    elif args.family == "cin":
        from rtstyle.models.checkpoint import load_checkpoint

        scales = dict(_parse_scale(item, "--style-scale") for item in args.style_scale)
        content_scales = dict(_parse_scale(item, "--content-scale") for item in args.content_scale)
        teacher = None
        if args.teacher:
            if not args.teacher_weight > 0:
                raise RtstyleError(f"--teacher-weight must be above 0, not {args.teacher_weight:g}")
            teacher = load_checkpoint(args.teacher)[:2]
        if args.base:
            if args.init_from:
                raise RtstyleError("--from keeps the model's own layers; it cannot be combined with --init-from")
            if args.styles or bool(args.add_style) == bool(args.refine_style):
                raise RtstyleError("with --from, name the new paintings with --add-style or the model's own to "
                                   "polish with --refine-style (one of them, not --styles)")
            base_model, base_meta, _ = load_checkpoint(args.base)
            variant = base_meta.variant
            family = ConditionalFamily(load_styles(args.add_style or args.refine_style, style_size), scales,
                                       base=(base_model, base_meta), content_scale=content_scales,
                                       refine=bool(args.refine_style), teacher=teacher)
        else:
            if not args.styles or args.add_style or args.refine_style:
                raise RtstyleError("give the paintings with --styles (--add-style and --refine-style need --from "
                                   "MODEL)")
            family = ConditionalFamily(load_styles(args.styles, style_size), scales, content_scale=content_scales,
                                       teacher=teacher)
    else:
        family = ArbitraryFamily(load_styles(args.styles, style_size), crop_size=args.size, style_dim=args.style_dim,
                                 vgg_weights=args.vgg_weights, distill_from=args.distill_from,
                                 distill_weight=args.distill_weight, freeze_stylizer=args.freeze_stylizer)
    loss = replace(LossConfig(), **{k: v for k, v in {"content_weight": args.content_weight, "style_weight":
                                                     args.style_weight, "tv_weight": args.tv_weight}.items()
                                    if v is not None})
    out = args.out or f"runs/{args.family}-{variant}-{family.style_records()[-1]['name']}"
    settings = TrainSettings(content=args.content, out=out, exclude=tuple(args.exclude), variant=variant,
                             size=args.size, style_size=style_size, max_zoom=args.max_zoom,
                             colour_jitter=args.colour_jitter,
                             batch_size=args.batch_size, steps=args.steps, lr=args.lr, anneal_from=args.anneal_from,
                             seed=args.seed,
                             checkpoint_every=args.checkpoint_every, workers=args.workers,
                             vgg_weights=args.vgg_weights, init_from=args.init_from,
                             new_layers_lr=args.new_layers_lr, precision=args.precision,
                             teacher=getattr(args, "teacher", None),
                             teacher_weight=getattr(args, "teacher_weight", 1.0),
                             loss=loss)
    if args.new_layers_lr is not None and (args.new_layers_lr <= 0 or not args.init_from):
        raise RtstyleError("--new-layers-lr needs --init-from and a rate above 0")
    if args.stability_weight is not None:
        settings.stability_weight = args.stability_weight
    start = time.perf_counter()
    checkpoint = train(family, settings, device, resume=args.resume)
    if main_process():  # under torchrun, rank 0 wrote it
        print(f"wrote {checkpoint} (+ losses.png, samples.png) in {time.perf_counter() - start:.0f} s on {device}")


def _parse_scale(item: str, option: str) -> tuple[str, float]:
    name, _, value = item.partition("=")
    try:
        number = float(value)
    except ValueError:
        raise RtstyleError(f"{option} wants NAME=NUMBER, not {item!r}") from None
    if not number > 0:
        raise RtstyleError(f"{option} wants a number above 0, not {item!r}")
    return name, number
