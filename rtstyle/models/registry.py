"""Named network variants and the three model families, built by one factory (timm's `create_model` pattern).

Every model is called as `model(image, cond)`: image (B,3,H,W) float RGB in [0,1], cond as the family needs it
(None; a (B,N) style-weight vector; a (B,D) style embedding from `model.predictor`).
"""
from __future__ import annotations

import torch
from torch import nn

from rtstyle.models.antialiased import AntialiasedNet
from rtstyle.models.layers import NormFactory
from rtstyle.models.norms import ConditionalInstanceNorm, InstanceNorm, PredictedInstanceNorm
from rtstyle.models.predictor import StylePredictor
from rtstyle.models.transformer import TransformerNet, Variant

VARIANTS: dict[str, Variant] = {}


def register_variant(variant: Variant) -> Variant:
    VARIANTS[variant.name] = variant
    return variant


register_variant(Variant(
    "tiny", "real time on a laptop CPU: 4×4 patchify stem, residual blocks at 1/8 resolution, sub-pixel output",
    widths=(16, 48), residual_blocks=3, stem_kernel=4, stem_stride=4, output_kernel=3, output_shuffle=4,
    max_side=8192))
register_variant(Variant(
    "fast", "real time on a CPU without a stride grid: blur-pooled 1/2 and 1/4 levels, 5 residual blocks at 1/4, "
    "bilinear upsampling with skips, full-resolution 3×3 output", widths=(16, 32, 48), residual_blocks=5,
    body="antialiased", max_side=8192))
register_variant(Variant(
    "fast2", "fast with a 1/8 level: 2 residual blocks at 1/4 (48 channels) and 3 at 1/8 (96), which see twice as far "
    "for the painting's larger forms at 6 % of fast's frame rate", widths=(16, 32, 48, 96), residual_blocks=2,
    coarse_blocks=3, body="antialiased", max_side=8192))
register_variant(Variant(
    "fast-detail", "fast with a bottleneck residual block at 1/2 resolution (32 → 16 → 32 channels) for the finer "
    "brush texture (relu2_2), at 12 % more MACs (an experiment: no gain yet, MODELS.md)", widths=(16, 32, 48),
    residual_blocks=5, detail_blocks=1, body="antialiased", max_side=8192))
register_variant(Variant(
    "fast-fine", "fast with a bottleneck residual block at full resolution (16 → 8 → 16 channels) before the output, "
    "for the 1–2 px brush texture, at 12 % more MACs (an experiment: no gain yet, MODELS.md)", widths=(16, 32, 48),
    residual_blocks=5, fine_blocks=1, body="antialiased", max_side=8192))
register_variant(Variant(
    "antialiased-base", "fast's grid-free body at base's widths (32/64/128 channels), 6× fast's MACs: what base's "
    "capacity scores without texture locked to a stride grid (an experiment: no better than fast on new photos, "
    "MODELS.md)", widths=(32, 64, 128), residual_blocks=5, body="antialiased", max_side=8192))
register_variant(Variant(
    "base", "Johnson et al. 2016: 32/64/128 channels, 5 residual blocks, 9×9 end convolutions",
    widths=(32, 64, 128), residual_blocks=5))

FAMILIES = {
    "feedforward": "one style per model, instance norm (Johnson et al. 2016)",
    "cin": "N styles in one model, conditional instance norm; mixes styles (Dumoulin et al. 2017)",
    "arbitrary": "any painting: a style-prediction network sets the norm parameters (Ghiasi et al. 2017)",
}


class ArbitraryStyleNet(nn.Module):
    """Style predictor + transformer with predicted norms. Export splits them into an encoder (run when the style
    changes) and a stylizer (run per frame)."""

    def __init__(self, variant: Variant, style_dim: int = 100):
        super().__init__()
        self.predictor = StylePredictor(style_dim)
        self.transformer = build_body(variant, lambda channels: PredictedInstanceNorm(channels, style_dim))

    @property
    def variant(self) -> Variant:
        return self.transformer.variant

    def forward(self, image: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return self.transformer(image, embedding)

    def embed(self, style: torch.Tensor, content: torch.Tensor | None = None, strength: float = 1.0) -> torch.Tensor:
        """Style embedding of a painting (B,3,H,W), weakened towards the content image's own embedding when
        strength < 1 (Ghiasi et al. §4: interpolating the two embeddings)."""
        embedding = self.predictor(style)
        if content is None or strength >= 1.0:
            return embedding
        return strength * embedding + (1.0 - strength) * self.predictor(content)


BODIES = {"johnson": TransformerNet, "antialiased": AntialiasedNet}


def build_body(variant: Variant, make_norm: NormFactory) -> nn.Module:
    """The transform network of `variant`, with `make_norm(channels)` as its normalization layer."""
    return BODIES[variant.body](variant, make_norm)


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; expected one of {', '.join(VARIANTS)}") from None


def create_model(family: str, variant: str = "base", *, num_styles: int = 1, style_dim: int = 100) -> nn.Module:
    """An untrained model of `family` ("feedforward", "cin", "arbitrary") and `variant` (a name in VARIANTS)."""
    spec = get_variant(variant)
    if family == "feedforward":
        return build_body(spec, InstanceNorm)
    if family == "cin":
        if num_styles < 1:
            raise ValueError("a cin model needs at least one style")
        return build_body(spec, lambda channels: ConditionalInstanceNorm(channels, num_styles))
    if family == "arbitrary":
        return ArbitraryStyleNet(spec, style_dim)
    raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
