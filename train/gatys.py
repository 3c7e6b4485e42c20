"""Gatys et al. 2016 ("Image Style Transfer Using Convolutional Neural Networks"): optimise the pixels of an image so
its VGG-16 features match a photo's content and a painting's Gram matrices. Slow, offline and the best a given loss can
do, which makes it the quality yardstick for the feed-forward networks (`quality_vs_gatys`).

Options: L-BFGS (default) or Adam, start from the content or from noise, coarse-to-fine over several scales, and
colour preservation by luminance-only transfer (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
Transfer"). Images are (1,3,H,W) float RGB in [0,1].
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from rtstyle.progress import Progress

from .losses import LossConfig, PerceptualLoss

# RGB ↔ YIQ (NTSC); Y is luminance, I and Q carry the colour.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


@dataclass
class GatysConfig:
    iterations: int = 300  # per scale
    optimizer: str = "lbfgs"  # or "adam"
    learning_rate: float | None = None  # default: 1.0 for L-BFGS, 0.02 for Adam
    init: str = "content"  # or "noise"
    scales: int = 1  # coarse-to-fine levels; each coarser level halves the size
    preserve_color: bool = False
    seed: int = 0
    loss: LossConfig = field(default_factory=LossConfig)  # the training loss: comparable by design


@dataclass
class GatysResult:
    image: torch.Tensor  # (1,3,H,W) float RGB in [0,1]
    history: list[dict[str, float]]  # per iteration: "scale", "total" and the loss parts


def rgb_to_yiq(images: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(images), images)


def yiq_to_rgb(images: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YIQ).to(images), images)


def _luminance_images(content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey (3 equal channels) versions of both images, the style's luminance matched to the content's mean and
    spread (Hertzmann et al. 2001 luminance remapping)."""
    yc, ys = rgb_to_yiq(content)[:, :1], rgb_to_yiq(style)[:, :1]
    ys = (ys - ys.mean()) / (ys.std() + 1e-6) * yc.std() + yc.mean()
    return yc.expand(-1, 3, -1, -1).clamp(0, 1), ys.expand(-1, 3, -1, -1).clamp(0, 1)


def _resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)


def _scaled(size, level: int) -> tuple[int, int]:
    return max(16, round(size[0] / 2 ** level)), max(16, round(size[1] / 2 ** level))


def _record(history: list, on_step: Callable | None, record: dict[str, float]) -> None:
    history.append(record)
    if on_step:
        on_step(record)


def _optimise(start: torch.Tensor, loss_fn: PerceptualLoss, content_targets: dict, style_targets: dict,
              config: GatysConfig, report: Callable[[dict[str, float]], None]) -> torch.Tensor:
    """`config.iterations` steps of the optimiser on the pixels of `start`; each loss evaluation is reported."""
    image = start.detach().requires_grad_(True)

    def evaluate() -> torch.Tensor:
        optimizer.zero_grad()
        total, parts = loss_fn(image, content_targets, style_targets)
        total.backward()
        report({"total": total.item(), **{k: v.item() for k, v in parts.items()}})
        return total

    if config.optimizer == "lbfgs":
        # One L-BFGS iteration per step, one loss evaluation each (no line search, as in Johnson's neural-style).
        optimizer = torch.optim.LBFGS([image], lr=config.learning_rate or 1.0, max_iter=1, history_size=50,
                                      tolerance_grad=-1, tolerance_change=-1)
        for _ in range(config.iterations):
            optimizer.step(evaluate)
    else:
        optimizer = torch.optim.Adam([image], lr=config.learning_rate or 0.02)
        for _ in range(config.iterations):
            evaluate()
            optimizer.step()
            with torch.no_grad():
                image.clamp_(0, 1)
    return image.detach()


def run_gatys(content: torch.Tensor, style: torch.Tensor, vgg, config: GatysConfig | None = None,
              on_step: Callable[[dict[str, float]], None] | None = None) -> GatysResult:
    """Stylize `content` (1,3,H,W) with `style` (1,3,h,w); both in [0,1] on the device of `vgg`. The output has the
    content's size; the painting is used at the size given."""
    config = config or GatysConfig()
    if config.optimizer not in ("lbfgs", "adam") or config.init not in ("content", "noise"):
        raise ValueError("optimizer must be 'lbfgs' or 'adam' and init 'content' or 'noise'")
    loss_fn = PerceptualLoss(vgg, config.loss)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    target_content, target_style = (_luminance_images(content, style) if config.preserve_color else (content, style))
    history: list[dict[str, float]] = []
    image = None
    for level in reversed(range(config.scales)):  # coarsest first; each level halves the size
        size = _scaled(content.shape[-2:], level)
        c = _resize(target_content, size)
        s = _resize(target_style, _scaled(style.shape[-2:], level))
        if image is None:
            image = c.clone() if config.init == "content" else torch.rand(c.shape, generator=generator).to(c)
        else:
            image = _resize(image, size)
        scale = config.scales - 1 - level
        image = _optimise(image, loss_fn, loss_fn.content_targets(c), loss_fn.style_targets(s), config,
                          lambda record, scale=scale: _record(history, on_step, {"scale": float(scale), **record}))
    result = image.detach().clamp(0, 1)
    if config.preserve_color:
        yiq = rgb_to_yiq(content)
        yiq[:, :1] = rgb_to_yiq(result)[:, :1]
        result = yiq_to_rgb(yiq).clamp(0, 1)
    return GatysResult(result, history)


def run_gatys_with_progress(content: torch.Tensor, style: torch.Tensor, vgg, config: GatysConfig) -> GatysResult:
    with Progress(total=config.iterations * config.scales, label="gatys") as bar:
        def show(record: dict[str, float]) -> None:
            bar.update(1, scale=f"{int(record['scale']) + 1}/{config.scales}", total=record["total"],
                       content=record["content"], style=record["style"], tv=record.get("tv", 0.0))
        return run_gatys(content, style, vgg, config, on_step=show)


def quality_vs_gatys(output: torch.Tensor, content: torch.Tensor, style: torch.Tensor, vgg,
                     loss: LossConfig, config: GatysConfig | None = None,
                     reference: torch.Tensor | None = None) -> dict:
    """A model's output for (content, style) scored against the Gatys optimum for the same pair, same loss.

    Returns the model's and Gatys's loss parts and the ratios model / Gatys for the content loss, the summed style
    loss and the style loss of every layer on its own ("style/relu1_2"…: the shallow layers dominate the sum). Lower
    is better; 1.0 is as good as the offline reference. output and content are (1,3,H,W) of the same size, in
    [0,1]. Pass `reference` (an earlier result's "reference") to score another model against the same optimum
    without optimising again.
    """
    config = replace(config or GatysConfig(), loss=loss)
    loss_fn = PerceptualLoss(vgg, loss)
    content_targets, style_targets = loss_fn.content_targets(content), loss_fn.style_targets(style)
    if reference is None:
        reference = run_gatys(content, style, vgg, config).image
    with torch.no_grad():
        _, model_parts = loss_fn(output, content_targets, style_targets)
        _, gatys_parts = loss_fn(reference, content_targets, style_targets)
    model = {k: v.item() for k, v in model_parts.items()}
    gatys = {k: v.item() for k, v in gatys_parts.items()}
    keys = ["content", "style"] + [key for key in model if key.startswith("style/")]
    ratio = {key: model[key] / max(gatys[key], 1e-12) for key in keys}
    return {"model": model, "gatys": gatys, "ratio": ratio, "reference": reference}
