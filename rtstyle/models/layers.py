"""Building blocks of the transform network (Johnson et al. 2016), each taking an injected normalization.

Every block's `forward(x, cond)` passes `cond` (the style conditioning, or None) to its norm layers, so one body
serves instance norm, conditional instance norm and predicted norm parameters alike (magenta's `normalizer_fn`).
Tensors are (B,C,H,W) float throughout.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

NormFactory = Callable[[int], nn.Module]  # channels -> norm module with forward(x, cond)


class PaddedConv(nn.Module):
    """Convolution with 'same' padding ("reflect" or "zeros") or none ("none", for kernel = stride patchify stems).
    Reflection padding avoids the dark frame that zero padding leaves around stylized images; zero padding costs
    nothing inside the convolution and is used where the border is far from the output."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: str = "reflect"):
        super().__init__()
        if padding not in ("reflect", "zeros", "none"):
            raise ValueError(f"padding must be 'reflect', 'zeros' or 'none', not {padding!r}")
        self.pad = 0 if padding == "none" else kernel_size // 2
        self.reflect = padding == "reflect" and self.pad > 0
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding=0 if self.reflect else self.pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reflect:
            x = F.pad(x, [self.pad] * 4, mode="reflect")
        return self.conv(x)


class ConvNormReLU(nn.Module):
    """conv → norm(cond) → ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, padding: str, make_norm: NormFactory):
        super().__init__()
        self.conv = PaddedConv(in_ch, out_ch, kernel_size, stride, padding)
        self.norm = make_norm(out_ch)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x), cond))


class ResidualBlock(nn.Module):
    """conv-norm-ReLU-conv-norm plus identity, as in Johnson et al. (after He et al. 2016)."""

    def __init__(self, channels: int, padding: str, make_norm: NormFactory):
        super().__init__()
        self.conv1 = PaddedConv(channels, channels, 3, 1, padding)
        self.norm1 = make_norm(channels)
        self.conv2 = PaddedConv(channels, channels, 3, 1, padding)
        self.norm2 = make_norm(channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x), cond))
        return x + self.norm2(self.conv2(y), cond)


class UpsampleConvNormReLU(nn.Module):
    """Nearest-neighbour upsampling to an exact size, then conv → norm → ReLU. Replaces transposed convolution,
    which leaves checkerboard artefacts (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts")."""

    def __init__(self, in_ch: int, out_ch: int, padding: str, make_norm: NormFactory):
        super().__init__()
        self.block = ConvNormReLU(in_ch, out_ch, 3, 1, padding, make_norm)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        return self.block(F.interpolate(x, size=size, mode="nearest"), cond)
