"""Ghiasi et al. 2017: a style-prediction network and a transformer with predicted norms, trained together on many
paintings so that unseen ones work too. Each sample of a batch gets a random crop of a random painting; with few
paintings, random scales, flips and hue rotations (a rotation of the YIQ colour plane) widen the set of styles seen.

Distillation (`distill_from`, Magenta's arbitrary-style recipe): a trained CIN model of the same variant already
knows good norm parameters for its paintings. For crops of those paintings (not recoloured), the predicted scales
and shifts are also pulled towards the CIN model's rows for that painting; and every predicted norm starts from the
mean of the CIN rows. The predictor then speaks the CIN model's norm language, so its guess for a new painting is
a good start for `rtstyle learn --guess-from`. With `freeze_stylizer` the stylizer's convolutions do not train at all
(only the predictor and the norms' projections): started from a CIN model, every predicted style is then exactly a
new row of that model, as `rtstyle learn` would train one (Dumoulin et al. §4: a CIN network's convolutions serve
new styles through their norm parameters alone)."""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rtstyle.errors import RtstyleError
from rtstyle.meta import ModelMeta
from rtstyle.models import create_model
from rtstyle.models.checkpoint import load_checkpoint
from rtstyle.models.norms import ConditionalInstanceNorm, PredictedInstanceNorm

from .data import Style
from .gatys import rgb_to_yiq, yiq_to_rgb
from .loop import Conditioning, Family
from .losses import PerceptualLoss
from .vgg import vgg16_state_dict
from .warm_start import transformer_of


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
                 vgg_weights: str | None = None, tone_jitter: float = 0.5, tone_range: float = 1.5,
                 distill_from: str | None = None, distill_weight: float = 1.0, freeze_stylizer: bool = False):
        if len(styles) < 2:
            raise RtstyleError("arbitrary-style training needs at least 2 paintings (a folder of them is best)")
        self.styles, self.crop_size, self.style_dim = styles, crop_size, style_dim
        self.hue_jitter = hue_jitter  # probability of a random hue rotation per crop
        self.tone_jitter = tone_jitter  # probability of random contrast and saturation factors per crop…
        self.tone_range = tone_range  # …each drawn log-uniformly from [1/tone_range, tone_range]
        self.vgg_weights = vgg_weights
        self.loss_fn: PerceptualLoss | None = None
        self.images: list[torch.Tensor] = []
        self.cin_norms = self._cin_norms(distill_from) if distill_from else None
        self.distill_weight = distill_weight
        self.freeze_stylizer = freeze_stylizer  # train only the predictor and the norms' projections

    def _cin_norms(self, path: str) -> dict:
        """{"norms": {layer name: (scales (S,C), shifts (S,C))}, "rows": painting index → CIN row or -1}."""
        model, meta, _ = load_checkpoint(path)
        if meta.family != "cin":
            raise RtstyleError(f"--distill-from needs a cin model; {path} is {meta.family}")
        norms = {name: (m.weight.detach().clone(), m.bias.detach().clone())
                 for name, m in transformer_of(model).named_modules() if isinstance(m, ConditionalInstanceNorm)}
        rows = [meta.style_names.index(s.name) if s.name in meta.style_names else -1 for s in self.styles]
        if max(rows) < 0:
            raise RtstyleError(f"--distill-from: {path} knows none of the training paintings "
                               f"({', '.join(meta.style_names)})")
        return {"norms": norms, "rows": torch.tensor(rows), "variant": meta.variant, "path": path}

    def build_model(self, variant: str) -> nn.Module:
        model = create_model("arbitrary", variant, style_dim=self.style_dim)
        convs = model.predictor.features.convs
        state = vgg16_state_dict(self.vgg_weights)
        convs.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in convs})
        if self.cin_norms:
            if self.cin_norms["variant"] != variant:
                raise RtstyleError(f"--distill-from model is {self.cin_norms['variant']}; this run trains {variant}")
            predicted = self._predicted_norms(model)
            if set(predicted) != set(self.cin_norms["norms"]):
                raise RtstyleError("--distill-from: its norm layers do not match this network's")
            with torch.no_grad():  # start every predicted norm at the CIN rows' mean
                for name, module in predicted.items():
                    scales, shifts = self.cin_norms["norms"][name]
                    module.to_gamma.bias.copy_(scales.mean(0))
                    module.to_beta.bias.copy_(shifts.mean(0))
        if self.freeze_stylizer:  # the convolutions stay as --init-from left them: a CIN model's, say
            projections = {id(p) for m in self._predicted_norms(model).values() for p in m.parameters()}
            for parameter in model.transformer.parameters():
                parameter.requires_grad_(id(parameter) in projections)
        return model

    @staticmethod
    def _predicted_norms(model: nn.Module) -> dict[str, PredictedInstanceNorm]:
        return {name: m for name, m in model.transformer.named_modules() if isinstance(m, PredictedInstanceNorm)}

    def check_resume(self, meta: ModelMeta) -> None:
        trained = [s.get("sha256") for s in meta.training.get("styles", [])]
        if trained != [s.sha256 for s in self.styles]:
            raise RtstyleError("the checkpoint was trained on another set of paintings")

    def prepare(self, loss_fn: PerceptualLoss, device: torch.device) -> None:
        self.loss_fn = loss_fn
        self.images = [s.image.to(device) for s in self.styles]
        if self.cin_norms:
            self.cin_norms["norms"] = {k: (g.to(device), b.to(device)) for k, (g, b) in self.cin_norms["norms"].items()}

    def style_crops(self, batch: int, generator: torch.Generator, device: torch.device
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(crops (B,3,S,S), painting indices (B,), recoloured (B,) bool): random crops of random paintings, covering
        ½ to all of the painting's shorter side, flipped half the time, with random hue rotations, contrast and
        saturation."""
        crops, chosen = [], []
        for _ in range(batch):
            chosen.append(int(torch.randint(len(self.images), (1,), generator=generator)))
            image = self.images[chosen[-1]]
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
        recoloured = (jitter > 0) | (toned > 0)
        return adjust_contrast_saturation(crops, contrast, saturation), torch.tensor(chosen), recoloured

    def conditioning(self, model, batch, generator, device) -> Conditioning:
        crops, chosen, recoloured = self.style_crops(batch, generator, device)
        embedding = model.predictor(crops)
        auxiliary = {}
        if self.cin_norms:
            auxiliary["distill"] = self.distill_weight * self.distillation(model, embedding, chosen, recoloured)
        return Conditioning(embedding, self.loss_fn.style_targets(crops), auxiliary=auxiliary)

    def distillation(self, model, embedding: torch.Tensor, chosen: torch.Tensor,
                     recoloured: torch.Tensor) -> torch.Tensor:
        """Mean squared distance, over the norm layers, between the predicted scales and shifts and the CIN
        model's rows, for the samples whose painting it knows and that were not recoloured (0 if none)."""
        rows = self.cin_norms["rows"][chosen]
        keep = (rows >= 0) & ~recoloured
        if not keep.any():
            return embedding.sum() * 0.0
        picked, rows = embedding[keep.to(embedding.device)], rows[keep]
        terms = []
        for name, module in self._predicted_norms(model).items():
            scales, shifts = self.cin_norms["norms"][name]
            terms.append(F.mse_loss(module.to_gamma(picked).float(), scales[rows])
                         + F.mse_loss(module.to_beta(picked).float(), shifts[rows]))
        return torch.stack(terms).mean()

    def sample_columns(self, model, device):
        return [(s.name, model.predictor(image)) for s, image in list(zip(self.styles, self.images))[:8]]

    def meta(self, variant: str) -> ModelMeta:
        meta = ModelMeta("arbitrary", variant, style_dim=self.style_dim)
        if self.cin_norms:
            meta.training["distilled_from"] = Path(self.cin_norms["path"]).name
        return meta

    def style_records(self) -> list[dict]:
        return [{"name": s.name, "file": s.path.name, "sha256": s.sha256} for s in self.styles]
