"""Normalization layers injected into the transformer body. Each has `forward(x, cond)` on (B,C,H,W) float.

- InstanceNorm: one style (Ulyanov et al. 2016); `cond` is ignored.
- ConditionalInstanceNorm: N styles (Dumoulin et al. 2017); `cond` is a (B,N) style-weight vector: one-hot selects a
  style, other weights interpolate the per-style scale and shift.
- PredictedInstanceNorm: any style (Ghiasi et al. 2017); `cond` is a (B,D) style embedding that a linear layer maps to
  this layer's scale and shift.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5


def instance_normalize(x: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) → zero mean, unit variance per sample and channel, same dtype.

    The statistics are taken in float32: in float16, x² overflows once |x| > 256. In PyTorch this is the native
    fused kernel (about twice as fast to train as the reductions, and under bf16 autocast it keeps the statistics in
    float32); an ONNX export writes plain reductions instead, so the graph carries the same arithmetic on every
    backend rather than each runtime's own InstanceNormalization.
    """
    if not torch.onnx.is_in_onnx_export():
        return F.instance_norm(x, eps=EPS)
    xf = x.float()
    mean = xf.mean(dim=(2, 3), keepdim=True)
    centred = xf - mean
    var = (centred * centred).mean(dim=(2, 3), keepdim=True)
    return (centred * torch.rsqrt(var + EPS)).to(x.dtype)


def _scale_shift(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """x (B,C,H,W) · gamma + beta, with gamma and beta (B,C) or (C,)."""
    shape = (gamma.shape[0], -1, 1, 1) if gamma.dim() == 2 else (1, -1, 1, 1)
    return x * gamma.reshape(shape).to(x.dtype) + beta.reshape(shape).to(x.dtype)


class InstanceNorm(nn.Module):
    """Affine instance norm for single-style networks."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return _scale_shift(instance_normalize(x), self.weight, self.bias)


class ConditionalInstanceNorm(nn.Module):
    """Instance norm with one (scale, shift) pair per style; a style-weight vector blends them linearly."""

    def __init__(self, channels: int, num_styles: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_styles, channels))
        self.bias = nn.Parameter(torch.zeros(num_styles, channels))

    @property
    def num_styles(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is None:
            raise ValueError("conditional instance norm needs a (B, num_styles) style-weight vector")
        cond = cond.to(self.weight.dtype)
        return _scale_shift(instance_normalize(x), cond @ self.weight, cond @ self.bias)


class PredictedInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are a linear function of a style embedding (Ghiasi et al. 2017)."""

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.to_gamma = nn.Linear(style_dim, channels)
        self.to_beta = nn.Linear(style_dim, channels)
        # Start as plain instance norm (scale 1, shift 0) whatever the embedding.
        nn.init.zeros_(self.to_gamma.weight)
        nn.init.ones_(self.to_gamma.bias)
        nn.init.zeros_(self.to_beta.weight)
        nn.init.zeros_(self.to_beta.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is None:
            raise ValueError("predicted instance norm needs a (B, style_dim) style embedding")
        cond = cond.to(self.to_gamma.weight.dtype)
        return _scale_shift(instance_normalize(x), self.to_gamma(cond), self.to_beta(cond))
