"""Johnson et al. 2016: one painting per network, trained with the perceptual loss."""
from __future__ import annotations

import torch
from torch import nn

from rtstyle.errors import RtstyleError
from rtstyle.meta import ModelMeta
from rtstyle.models import create_model

from .data import Style
from .loop import Conditioning, Family
from .losses import PerceptualLoss


class FeedForwardFamily(Family):
    name = "feedforward"

    def __init__(self, style: Style):
        self.style = style
        self.targets: dict[str, torch.Tensor] = {}

    def build_model(self, variant: str) -> nn.Module:
        return create_model("feedforward", variant)

    def check_resume(self, meta: ModelMeta) -> None:
        if meta.training.get("styles", [{}])[0].get("sha256") != self.style.sha256:
            raise RtstyleError(f"the checkpoint was trained on another painting than {self.style.path}")

    def prepare(self, loss_fn: PerceptualLoss, device: torch.device) -> None:
        self.targets = loss_fn.style_targets(self.style.image.to(device))  # (1,C,C) each, broadcast over the batch

    def conditioning(self, model, batch, generator, device) -> Conditioning:
        return Conditioning(None, self.targets)

    def sample_columns(self, model, device):
        return [(self.style.name, None)]

    def meta(self, variant: str) -> ModelMeta:
        return ModelMeta("feedforward", variant, style_names=[self.style.name])

    def style_records(self) -> list[dict]:
        return [{"name": self.style.name, "file": self.style.path.name, "sha256": self.style.sha256}]
