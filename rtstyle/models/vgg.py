"""VGG-16 convolution layers (Simonyan & Zisserman 2015) in plain PyTorch, returning ReLU outputs by name.

Only the architecture lives here; `rtstyle_train.vgg` loads the ImageNet weights. The weights follow the Caffe
convention (0–255 pixels minus the ImageNet mean, no std division), so `forward` takes (B,3,H,W) float RGB in [0,1]
and converts internally.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

# (name, in_channels, out_channels) in order; a 2×2 max pool follows the last conv of every block.
CONVS = [
    ("conv1_1", 3, 64), ("conv1_2", 64, 64),
    ("conv2_1", 64, 128), ("conv2_2", 128, 128),
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256),
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512),
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512),
]
LAYER_NAMES = [name.replace("conv", "relu") for name, _, _ in CONVS]
POOL_AFTER = {"conv1_2", "conv2_2", "conv3_3", "conv4_3"}
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)


class VGG16Features(nn.Module):
    """VGG-16 up to `last` (a relu name); `forward(x, layers)` returns {relu name: (B,C,h,w)} for the named layers,
    running only as deep as the deepest of them."""

    def __init__(self, last: str = "relu5_3"):
        super().__init__()
        if last not in LAYER_NAMES:
            raise ValueError(f"unknown VGG-16 layer {last!r}; expected one of {', '.join(LAYER_NAMES)}")
        depth = LAYER_NAMES.index(last) + 1
        self.convs = nn.ModuleDict({name: nn.Conv2d(i, o, 3, padding=1) for name, i, o in CONVS[:depth]})
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_RGB).view(1, 3, 1, 1), persistent=False)

    @property
    def last(self) -> str:
        return LAYER_NAMES[len(self.convs) - 1]

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """x: (B,3,H,W) float RGB in [0,1] (not modified)."""
        wanted = set(layers)
        unknown = wanted - set(LAYER_NAMES[: len(self.convs)])
        if unknown:
            raise ValueError(f"layers {sorted(unknown)} are not in this VGG-16 (it stops at {self.last})")
        deepest = max(LAYER_NAMES.index(name) for name in wanted)
        out = {}
        y = x * 255.0 - self.mean
        for index, (name, conv) in enumerate(self.convs.items()):
            y = F.relu(conv(y))
            relu = LAYER_NAMES[index]
            if relu in wanted:
                out[relu] = y
            if index == deepest:
                break
            if name in POOL_AFTER:
                y = F.max_pool2d(y, 2)
        return out
