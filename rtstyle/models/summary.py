"""Size and cost of the network variants: parameters and multiply-accumulates (MACs) per frame."""
from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from rtstyle.models.registry import FAMILIES, VARIANTS, create_model


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: torch.nn.Module, height: int, width: int, family: str) -> int:
    """Convolution and matrix MACs of one (1,3,height,width) frame through the per-frame network (for the arbitrary
    family the stylizer; its style encoder runs once per style change)."""
    net = model.transformer if family == "arbitrary" else model
    x = torch.zeros(1, 3, height, width)
    cond = {"feedforward": None, "cin": torch.ones(1, 1), "arbitrary": torch.zeros(1, 100)}[family]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(x, cond)
    return counter.get_total_flops() // 2  # FlopCounterMode counts 2 FLOPs per multiply-accumulate


def variant_table(height: int = 480, width: int = 640) -> list[dict]:
    rows = []
    for name, variant in VARIANTS.items():
        for family in FAMILIES:
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


def variants_command(args: argparse.Namespace) -> None:
    rows = variant_table(args.height, args.width)
    print(f"{'variant':8} {'family':12} {'params':>10} {'GMACs @' + f'{args.width}x{args.height}':>17}  notes")
    for row in rows:
        encoder = row["encoder_params"]
        note = f"+ style encoder {encoder / 1e6:.2f} M params, run per style" if encoder else ""
        print(f"{row['variant']:8} {row['family']:12} {row['params'] / 1e6:9.3f}M {row['gmacs']:17.2f}  {note}")
    print()
    for name, variant in VARIANTS.items():
        print(f"{name}: {variant.summary}")
    print("cin params are for one style; each further style adds a scale and shift per norm channel.")
