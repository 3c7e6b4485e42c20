"""Style prediction network for arbitrary styles (Ghiasi et al. 2017, "Exploring the structure of a real-time,
arbitrary neural artistic stylization network").

Painting (B,3,H,W) float RGB in [0,1] → style embedding (B,D). Ghiasi et al. pool an ImageNet network's features and
project them through a ~100-d bottleneck; here the frozen network is VGG-16 up to relu3_3 (1.7 M parameters, so the
exported encoder stays small), and the pooled statistics are each channel's mean and standard deviation at
relu1_2, relu2_2 and relu3_3: the same statistics that carry style in AdaIN (Huang & Belongie 2017).
"""
from __future__ import annotations

import torch
from torch import nn

from rtstyle.models.vgg import VGG16Features

FEATURE_LAYERS = ("relu1_2", "relu2_2", "relu3_3")
FEATURE_CHANNELS = 64 + 128 + 256


class StylePredictor(nn.Module):
    """Frozen VGG-16 features → log(1 + mean, std per channel) → linear bottleneck of `style_dim`."""

    def __init__(self, style_dim: int = 100):
        super().__init__()
        self.features = VGG16Features(last=FEATURE_LAYERS[-1]).requires_grad_(False)
        self.bottleneck = nn.Linear(2 * FEATURE_CHANNELS, style_dim)

    @property
    def style_dim(self) -> int:
        return self.bottleneck.out_features

    def train(self, mode: bool = True) -> StylePredictor:
        super().train(mode)
        self.features.eval()  # frozen: never in training mode
        return self

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        feats = self.features(style, FEATURE_LAYERS)
        stats = []
        for name in FEATURE_LAYERS:
            f = feats[name].flatten(2)  # (B,C,h·w), ReLU outputs ≥ 0
            stats += [f.mean(dim=2), f.std(dim=2, unbiased=False)]
        # log1p evens out the very different scales of the layers' statistics
        return self.bottleneck(torch.log1p(torch.cat(stats, dim=1)))
