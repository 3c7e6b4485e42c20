"""Ghiasi et al. 2017: a style-prediction network and a transformer with predicted norms, trained together on many
paintings so that unseen ones work too. Each sample of a batch gets a random crop of a random painting; with few
paintings, random scales, flips and hue rotations (a rotation of the YIQ colour plane) widen the set of styles seen."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rtstyle.errors import RtstyleError
from rtstyle.meta import ModelMeta
from rtstyle.models import create_model

from .data import Style
from .gatys import rgb_to_yiq, yiq_to_rgb
from .loop import Conditioning, Family
from .losses import PerceptualLoss
from .vgg import vgg16_state_dict


def rotate_hue(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) RGB in [0,1], angles (B,) in radians → the same images with their hues turned."""
    yiq = rgb_to_yiq(images)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    return yiq_to_rgb(torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)).clamp(0, 1)


def adjust_contrast_saturation(images: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) RGB in [0,1], factors (B,) → a new tensor: each image's contrast scaled about its mean luminance,
    then its saturation scaled about each pixel's grey (1 leaves an image as it is, 0 makes it flat / grey)."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    luma = (images * weights).sum(1, keepdim=True)  # (B,1,H,W)
    mean = luma.mean(dim=(2, 3), keepdim=True)
    c = contrast.to(images).view(-1, 1, 1, 1)
    out = mean + c * (images - mean)
    grey = mean + c * (luma - mean)  # the grey of the contrast-scaled image
    return (grey + saturation.to(images).view(-1, 1, 1, 1) * (out - grey)).clamp(0, 1)


class ArbitraryFamily(Family):
    name = "arbitrary"

    def __init__(self, styles: list[Style], crop_size: int = 256, style_dim: int = 100, hue_jitter: float = 0.5,
                 vgg_weights: str | None = None, tone_jitter: float = 0.5, tone_range: float = 1.5):
        if len(styles) < 2:
            raise RtstyleError("arbitrary-style training needs at least 2 paintings (a folder of them is best)")
        self.styles, self.crop_size, self.style_dim = styles, crop_size, style_dim
        self.hue_jitter = hue_jitter  # probability of a random hue rotation per crop
        self.tone_jitter = tone_jitter  # probability of random contrast and saturation factors per crop…
        self.tone_range = tone_range  # …each drawn log-uniformly from [1/tone_range, tone_range]
        self.vgg_weights = vgg_weights
        self.loss_fn: PerceptualLoss | None = None
        self.images: list[torch.Tensor] = []

    def build_model(self, variant: str) -> nn.Module:
        model = create_model("arbitrary", variant, style_dim=self.style_dim)
        convs = model.predictor.features.convs
        state = vgg16_state_dict(self.vgg_weights)
        convs.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in convs})
        return model

    def check_resume(self, meta: ModelMeta) -> None:
        trained = [s.get("sha256") for s in meta.training.get("styles", [])]
        if trained != [s.sha256 for s in self.styles]:
            raise RtstyleError("the checkpoint was trained on another set of paintings")

    def prepare(self, loss_fn: PerceptualLoss, device: torch.device) -> None:
        self.loss_fn = loss_fn
        self.images = [s.image.to(device) for s in self.styles]

    def style_crops(self, batch: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """(B,3,S,S): random crops of random paintings, covering ½ to all of the painting's shorter side, flipped half
        the time, with random hue rotations, contrast and saturation."""
        crops = []
        for _ in range(batch):
            image = self.images[int(torch.randint(len(self.images), (1,), generator=generator))]
            h, w = image.shape[-2:]
            side = int(min(h, w) * (0.5 + 0.5 * float(torch.rand(1, generator=generator))))
            y = int(torch.randint(h - side + 1, (1,), generator=generator))
            x = int(torch.randint(w - side + 1, (1,), generator=generator))
            crop = F.interpolate(image[..., y:y + side, x:x + side], size=(self.crop_size, self.crop_size),
                                 mode="bilinear", antialias=True, align_corners=False)
            if float(torch.rand(1, generator=generator)) < 0.5:
                crop = crop.flip(-1)
            crops.append(crop)
        crops = torch.cat(crops)
        jitter = (torch.rand(batch, generator=generator) < self.hue_jitter).float()
        angles = jitter * (torch.rand(batch, generator=generator) * 2 - 1) * math.pi
        crops = rotate_hue(crops, angles.to(device))
        toned = (torch.rand(batch, generator=generator) < self.tone_jitter).float()
        spread = math.log(self.tone_range)
        contrast, saturation = (torch.exp(toned * (torch.rand(batch, generator=generator) * 2 - 1) * spread)
                                for _ in range(2))
        return adjust_contrast_saturation(crops, contrast, saturation)

    def conditioning(self, model, batch, generator, device) -> Conditioning:
        crops = self.style_crops(batch, generator, device)
        return Conditioning(model.predictor(crops), self.loss_fn.style_targets(crops))

    def sample_columns(self, model, device):
        return [(s.name, model.predictor(image)) for s, image in list(zip(self.styles, self.images))[:8]]

    def meta(self, variant: str) -> ModelMeta:
        return ModelMeta("arbitrary", variant, style_dim=self.style_dim)

    def style_records(self) -> list[dict]:
        return [{"name": s.name, "file": s.path.name, "sha256": s.sha256} for s in self.styles]
