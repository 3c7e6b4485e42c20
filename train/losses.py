"""Perceptual losses on named VGG-16 features: content (feature reconstruction), Gram-matrix style, and total
variation (Gatys et al. 2016; Johnson et al. 2016). Every loss returns `(total, parts)` so the parts can be logged and
plotted; `parts` holds each weighted term as a detached scalar tensor, keyed "content", "style", "style/<layer>", "tv".

Images are (B,3,H,W) float RGB in [0,1]; features are {relu name: (B,C,H,W)}.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from rtstyle.models.vgg import VGG16Features

# Median Gram loss between a photo and a painting at each of Johnson et al.'s style layers (C·H·W-normalised Grams of
# Caffe-scale VGG features; 7 photos × 8 paintings from ../shared at 256 px). Each layer's default weight is the
# reciprocal, so every layer starts out pulling about equally: with equal weights relu4_3, 2000× smaller, would be
# ignored and the large-scale structure of the style lost.
TYPICAL_STYLE_LOSS = {"relu1_2": 1.55e9, "relu2_2": 5.9e9, "relu3_3": 5.6e9, "relu4_3": 2.8e6}
# The relu3_3 content loss between two unrelated photos is ~1.6e5; weighted 5e-6, losing the content entirely costs
# ~0.8 against ~4 for a fully wrong style. Chosen by eye from Gatys results over 1e-4 … 2.5e-6: higher weights kept
# the photo almost untouched, lower ones lost its objects.
DEFAULT_CONTENT_WEIGHT = 5e-6


def _default_style_layers() -> dict[str, float]:
    return {name: 1.0 / typical for name, typical in TYPICAL_STYLE_LOSS.items()}


@dataclass
class LossConfig:
    """Layers and weights of the perceptual loss. The same config drives training and the Gatys reference, so
    their losses are comparable (the quality yardstick)."""

    content_layers: dict[str, float] = field(default_factory=lambda: {"relu3_3": 1.0})
    style_layers: dict[str, float] = field(default_factory=_default_style_layers)
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float = 1.0
    tv_weight: float = 10.0
    activation_shift: float = 0.0  # Novak & Nikulin 2016 use -1: Gram of (F + shift) favours sparse features

    @property
    def layers(self) -> list[str]:
        return sorted(set(self.content_layers) | set(self.style_layers))


def gram_matrix(features: torch.Tensor, shift: float = 0.0) -> torch.Tensor:
    """(B,C,H,W) → (B,C,C) float32: G = F·Fᵀ / (C·H·W) (Johnson et al. eq. 3), on F + shift (Novak & Nikulin).
    Always computed in float32, also under bf16 autocast: a Gram sums H·W products, beyond bf16's 8-bit mantissa."""
    b, c, h, w = features.shape
    with torch.autocast(features.device.type, enabled=False):
        # (B,H·W,C) without a copy for channels-last features (the fast CPU layout), then Fᵀ·F: the same Gram,
        # ~1.6× faster there than F·Fᵀ on a (B,C,H·W) copy
        f = features.float().permute(0, 2, 3, 1).reshape(b, h * w, c)
        if shift:
            f = f + shift
        return torch.bmm(f.transpose(1, 2), f) / (c * h * w)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (β = 2 in Mahendran & Vedaldi 2015)."""
    dx = images[..., :, 1:] - images[..., :, :-1]
    dy = images[..., 1:, :] - images[..., :-1, :]
    return dx.square().mean() + dy.square().mean()


class PerceptualLoss(nn.Module):
    """Content + style + TV loss against precomputed targets, using a frozen VGG-16."""

    def __init__(self, vgg: VGG16Features, config: LossConfig | None = None):
        super().__init__()
        self.vgg = vgg
        self.config = config or LossConfig()

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.vgg(images, self.config.layers)

    @torch.no_grad()
    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.vgg(content, self.config.content_layers)
        return {name: feats[name] for name in self.config.content_layers}

    @torch.no_grad()
    def style_targets(self, styles: torch.Tensor) -> dict[str, torch.Tensor]:
        """(S,3,H,W) paintings → {layer: (S,C,C) Gram matrices}."""
        feats = self.vgg(styles, self.config.style_layers)
        return {name: gram_matrix(feats[name], self.config.activation_shift) for name in self.config.style_layers}

    def forward(self, output: torch.Tensor, content_targets: dict[str, torch.Tensor],
                style_targets: dict[str, torch.Tensor], style_scale: torch.Tensor | None = None,
                content_scale: torch.Tensor | None = None, teacher_targets: dict[str, torch.Tensor] | None = None,
                teacher_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """output (B,3,H,W); content targets {layer: (B,C,H,W)}; style targets {layer: (B or 1,C,C)};
        style_scale and content_scale (B,) multiply each sample's style and content loss (per-style weights of a
        multi-style model). teacher_targets: the content layers' features of a stronger model's stylization of the
        same photos in the same styles; the "teacher" term is then a content loss towards them (feature
        distillation), weighted teacher_weight × the content weight."""
        cfg = self.config
        feats = self.features(output)
        parts: dict[str, torch.Tensor] = {}
        parts["content"] = cfg.content_weight * self._content(feats, content_targets, content_scale)
        total = parts["content"]
        if teacher_targets is not None:
            parts["teacher"] = teacher_weight * cfg.content_weight * self._content(feats, teacher_targets)
            total = total + parts["teacher"]
        style = 0.0
        for name, w in cfg.style_layers.items():
            diff = gram_matrix(feats[name], cfg.activation_shift) - style_targets[name]
            per_sample = diff.square().sum(dim=(1, 2))  # squared Frobenius norm
            if style_scale is not None:
                per_sample = per_sample * style_scale
            layer = cfg.style_weight * w * per_sample.mean()
            parts[f"style/{name}"] = layer
            style = style + layer
        parts["style"] = style
        total = total + style
        if cfg.tv_weight:
            parts["tv"] = cfg.tv_weight * total_variation(output)
            total = total + parts["tv"]
        return total, {name: value.detach() for name, value in parts.items()}

    def _content(self, feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                 scale: torch.Tensor | None = None) -> torch.Tensor:
        """The content layers' weighted mean squared feature difference (per sample × scale, then the batch mean)."""
        content = 0.0
        for name, w in self.config.content_layers.items():
            per_sample = (feats[name].float() - targets[name].float()).square().flatten(1).mean(1)
            if scale is not None:
                per_sample = per_sample * scale
            content = content + w * per_sample.mean()
        return content
