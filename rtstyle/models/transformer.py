"""The image transform network: one body for all three families, with the normalization injected.

Johnson et al. 2016 ("Perceptual Losses for Real-Time Style Transfer"): a stem convolution, strided-convolution
downsampling, residual blocks at the lowest resolution, nearest-upsample + convolution back up, and an output
convolution. A `Variant` (registry.py) sets widths, depths and kernels. CPU-oriented variants start with a 4×4
stride-4 "patchify" stem (space-to-depth folded into a convolution) and end with a sub-pixel convolution (Shi et al.
2016) so that no layer runs at full resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rtstyle.models.layers import ConvNormReLU, NormFactory, PaddedConv, ResidualBlock, UpsampleConvNormReLU

MIN_SIZE = 16  # smallest input side every variant accepts


@dataclass(frozen=True)
class Variant:
    """Shape of a transform network.

    widths: channels per resolution level. Level 0 is at 1/stem_stride of the input; each further level halves the
    resolution with a stride-2 convolution; the residual blocks run at the last level (the antialiased body: at 1/4,
    and `coarse_blocks` more at 1/8 when it has a fourth width).
    stem_stride: 1 (a stem_kernel×stem_kernel convolution at full resolution) or 4 (a 4×4 stride-4 convolution).
    output_shuffle: 1 (an output_kernel convolution to RGB) or 4 (a convolution to 3·16 channels, then pixel shuffle).
    """

    name: str
    summary: str
    widths: tuple[int, ...]
    residual_blocks: int
    coarse_blocks: int = 0  # antialiased body with a fourth width: residual blocks at 1/8 resolution
    detail_blocks: int = 0  # antialiased body: bottleneck residual blocks at 1/2 resolution, for the brush texture
    fine_blocks: int = 0  # antialiased body: bottleneck residual blocks at full resolution, before the output
    stem_kernel: int = 9
    stem_stride: int = 1
    output_kernel: int = 9
    output_shuffle: int = 1
    padding: str = "reflect"
    body: str = "johnson"  # "johnson" (TransformerNet, this file) or "antialiased" (antialiased.py)
    max_side: int = 4096  # largest frame side the runtime accepts: beyond it activations outgrow common memory


def icnr_(weight: torch.Tensor, factor: int) -> None:
    """Initialise a sub-pixel convolution so that it starts out as nearest upsampling + convolution, which avoids
    checkerboard artefacts at initialisation (Aitken et al. 2017, "Checkerboard artifact free sub-pixel
    convolution")."""
    out_ch = weight.shape[0] // (factor * factor)
    base = torch.empty(out_ch, *weight.shape[1:])
    nn.init.kaiming_uniform_(base, a=5 ** 0.5)  # PyTorch's default Conv2d initialisation
    with torch.no_grad():
        weight.copy_(base.repeat_interleave(factor * factor, dim=0))


class TransformerNet(nn.Module):
    """(B,3,H,W) float RGB in [0,1] + conditioning → (B,3,H,W) float RGB in [0,1], for any H, W ≥ MIN_SIZE.

    `cond` is what the injected norm needs: None for instance norm, a (B,N) style-weight vector for conditional
    instance norm, a (B,D) style embedding for predicted norms. A batch-1 image with a batch-N `cond` is stylized N
    ways in one pass.
    """

    def __init__(self, variant: Variant, make_norm: NormFactory):
        super().__init__()
        if variant.stem_stride not in (1, 4) or variant.stem_stride != variant.output_shuffle:
            raise ValueError("stem_stride and output_shuffle must both be 1 or both be 4")
        self.variant = variant
        w, pad = variant.widths, variant.padding
        if variant.stem_stride == 1:
            self.stem = ConvNormReLU(3, w[0], variant.stem_kernel, 1, pad, make_norm)
        else:
            self.stem = ConvNormReLU(3, w[0], 4, 4, "none", make_norm)  # patchify: kernel = stride
        self.down = nn.ModuleList(ConvNormReLU(w[i], w[i + 1], 3, 2, pad, make_norm) for i in range(len(w) - 1))
        self.residuals = nn.ModuleList(ResidualBlock(w[-1], pad, make_norm) for _ in range(variant.residual_blocks))
        self.up = nn.ModuleList(UpsampleConvNormReLU(w[i + 1], w[i], pad, make_norm)
                                for i in reversed(range(len(w) - 1)))
        f = variant.output_shuffle
        self.output = PaddedConv(w[0], 3 * f * f, variant.output_kernel, 1, "reflect" if f == 1 else pad)
        if f > 1:
            icnr_(self.output.conv.weight, f)


    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None and x.shape[0] == 1 and cond.shape[0] > 1:
            x = x.expand(cond.shape[0], -1, -1, -1)
        height, width = x.shape[-2], x.shape[-1]
        s = self.variant.stem_stride
        if s > 1:  # the patchify stem needs a multiple of its stride: reflect-pad, crop at the end
            x = F.pad(x, [0, (s - width % s) % s, 0, (s - height % s) % s], mode="reflect")
        y = self.stem(x, cond)
        sizes = []
        for block in self.down:
            sizes.append(y.shape[-2:])
            y = block(y, cond)
        for block in self.residuals:
            y = block(y, cond)
        for block, size in zip(self.up, reversed(sizes)):
            y = block(y, cond, size)
        y = self.output(y)
        if self.variant.output_shuffle > 1:
            y = F.pixel_shuffle(y, self.variant.output_shuffle)
        return torch.sigmoid(y[..., :height, :width])
