"""`rtstyle variants`: the network variants with their size and cost per frame, from their definitions
(rtstyle.models.summary counts them). Needs torch, as the definitions are PyTorch modules; nothing else."""
from __future__ import annotations

import argparse

from rtstyle.models.registry import VARIANTS
from rtstyle.models.summary import variant_table


def variants_command(args: argparse.Namespace) -> None:
    rows = variant_table(args.height, args.width)
    width = max(len("variant"), *(len(name) for name in VARIANTS))
    print(f"{'variant':{width}} {'family':12} {'params':>10} {'GMACs @' + f'{args.width}x{args.height}':>17}  notes")
    for row in rows:
        encoder = row["encoder_params"]
        note = f"+ style encoder {encoder / 1e6:.2f} M params, run per style" if encoder else ""
        print(f"{row['variant']:{width}} {row['family']:12} {row['params'] / 1e6:9.3f}M {row['gmacs']:17.2f}  {note}")
    print()
    for name, variant in VARIANTS.items():
        print(f"{name}: {variant.summary}")
    print("cin params are for one style; each further style adds a scale and shift per norm channel.")
