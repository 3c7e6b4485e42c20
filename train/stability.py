"""Stability for video, learnt from still images: the compound regularization of ReReVST (Wang et al. 2020,
"Consistent Video Style Transfer via Relaxation and Regularization").

A training image is warped by a random smooth flow and lightly noised; the network must commute with the warp:
    L = mean ‖ f(W(x) + Δ) − W(f(x)) ‖²
so small motions and sensor noise between video frames no longer change the stylization (flicker).
Images are (B,3,H,W) float RGB in [0,1].
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_flow(batch: int, height: int, width: int, generator: torch.Generator, max_shift: float = 6.0,
                max_rotation_deg: float = 2.0, max_zoom: float = 0.03, local: float = 2.0) -> torch.Tensor:
    """(B,2,H,W) backward flow in pixels: a random global motion (shift, rotation, zoom, as a camera makes) plus a
    smooth local field (as objects make), its amplitude up to `local` pixels."""
    g = generator
    u = lambda *shape: torch.rand(*shape, generator=g) * 2 - 1  # noqa: E731  uniform in [-1, 1]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32) - (height - 1) / 2,
                            torch.arange(width, dtype=torch.float32) - (width - 1) / 2, indexing="ij")
    angle = u(batch, 1, 1) * math.radians(max_rotation_deg)
    zoom = u(batch, 1, 1) * max_zoom
    cos, sin = torch.cos(angle) * (1 + zoom), torch.sin(angle) * (1 + zoom)
    dx = cos * xs - sin * ys - xs + u(batch, 1, 1) * max_shift
    dy = sin * xs + cos * ys - ys + u(batch, 1, 1) * max_shift
    coarse = u(batch, 2, 4, 4) * local
    field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)
    return torch.stack([dx, dy], dim=1) + field


def warp(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample `images` (B,C,H,W) at pixel + flow (B,2,H,W; x then y, in pixels), bilinear, borders repeated."""
    b, _, h, w = images.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=images.device, dtype=flow.dtype),
                            torch.arange(w, device=images.device, dtype=flow.dtype), indexing="ij")
    gx = (xs + flow[:, 0]) / max(w - 1, 1) * 2 - 1
    gy = (ys + flow[:, 1]) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).to(images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)


def stability_loss(model, content: torch.Tensor, output: torch.Tensor, cond: torch.Tensor | None,
                   generator: torch.Generator, noise_std: float = 0.02,
                   shard: tuple[slice, int] | None = None) -> torch.Tensor:
    """‖ f(W(x) + Δ) − W(f(x)) ‖², mean over pixels; `output` is f(content) from the main pass. shard: (rows, batch)
    when `content` is these rows of a larger batch (data-parallel training): motion and noise are drawn for the
    whole batch, as one process would, and these rows kept."""
    b, c, h, w = content.shape
    rows, batch = shard or (slice(0, b), b)
    flow = random_flow(batch, h, w, generator)[rows].to(content.device)
    noise = torch.randn((batch, c, h, w), generator=generator)[rows].to(content.device) * noise_std
    moved = model((warp(content, flow) + noise).clamp(0, 1), cond)
    return (moved.float() - warp(output.float(), flow)).square().mean()
