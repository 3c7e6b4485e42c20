"""Size and cost of the network variants: parameters and multiply-accumulates (MACs) per frame."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from rtstyle.models.registry import FAMILIES, VARIANTS, create_model


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: torch.nn.Module, height: int, width: int, family: str) -> int:
    """Convolution and matrix MACs of one (1,3,height,width) frame through the per-frame network (for the arbitrary
    family the stylizer; its style encoder runs once per style change). Works on a model on PyTorch's meta device,
    where only shapes are computed: counting a 47-GMAC network then takes milliseconds, not seconds."""
    net = model.transformer if family == "arbitrary" else model
    device = next(net.parameters()).device
    x = torch.zeros(1, 3, height, width, device=device)
    cond = {"feedforward": None, "cin": torch.ones(1, 1, device=device),
            "arbitrary": torch.zeros(1, 100, device=device)}[family]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(x, cond)
    return counter.get_total_flops() // 2  # FlopCounterMode counts 2 FLOPs per multiply-accumulate


def variant_table(height: int = 480, width: int = 640) -> list[dict]:
    rows = []
    for name, variant in VARIANTS.items():
        for family in FAMILIES:
            with torch.device("meta"):  # shapes only: no weights initialised, no arithmetic
                model = create_model(family, name, num_styles=1)
            per_frame = model.transformer if family == "arbitrary" else model
            rows.append({
                "variant": name, "family": family,
                "params": count_parameters(per_frame),
                "encoder_params": count_parameters(model.predictor) if family == "arbitrary" else 0,
                "gmacs": count_macs(model, height, width, family) / 1e9,
                "summary": variant.summary,
            })
    return rows
