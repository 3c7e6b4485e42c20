"""Resumable checkpoints small enough to commit. A run's model.pt holds the weights, the loss history and Adam's
state; for a big network Adam's two fp32 moments triple its size (`base`: 1.7 M parameters, ~20 MB). `split` writes
the weights and history to one file and the moments, in bf16, to NAME.adam.pt beside it (~7 MB each for `base`);
`train --resume` finds that file beside the checkpoint it continues, and Adam casts the moments back to fp32."""
from __future__ import annotations

from pathlib import Path

import torch

from rtstyle.errors import RtstyleError
from rtstyle.files import atomic_output
from rtstyle.models.checkpoint import read_checkpoint


def adam_file(checkpoint: str | Path) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".adam.pt")


def split(source: str | Path, target: str | Path, overwrite: bool = False) -> tuple[Path, Path]:
    """source (a run's model.pt) → target (weights, metadata, history) + adam_file(target) (moments in bf16)."""
    target = Path(target)
    if Path(source).resolve() in (target.resolve(), adam_file(target).resolve()):
        raise RtstyleError(f"the split files must not replace {source}: choose another --output")
    for path in (target, adam_file(target)):
        if path.exists() and not overwrite:
            raise RtstyleError(f"{path} exists: add --overwrite to replace it")
    payload = read_checkpoint(source)
    optimizer = payload["training_state"].pop("optimizer", None)
    if not optimizer:
        raise RtstyleError(f"{source} holds no optimizer state to split off (not a training run's checkpoint)")
    for values in optimizer["state"].values():
        for key, value in values.items():
            if torch.is_tensor(value) and value.is_floating_point() and value.dim() > 0:
                values[key] = value.to(torch.bfloat16)
    with atomic_output(target) as tmp:
        torch.save(payload, tmp)
    with atomic_output(adam_file(target)) as tmp:
        torch.save(optimizer, tmp)
    return target, adam_file(target)


def optimizer_state(checkpoint: str | Path, training_state: dict) -> dict | None:
    """The Adam state to resume with: inside the checkpoint, or split off beside it."""
    if training_state.get("optimizer"):
        return training_state["optimizer"]
    sibling = adam_file(checkpoint)
    return torch.load(sibling, map_location="cpu", weights_only=True) if sibling.is_file() else None


def split_command(args) -> None:
    target, moments = split(args.checkpoint, args.output, args.overwrite)
    sizes = ", ".join(f"{path} {path.stat().st_size / 2**20:.1f} MB" for path in (target, moments))
    print(f"wrote {sizes}; resume: copy both into RUN/ as model.pt and model.adam.pt, then train … --resume")
