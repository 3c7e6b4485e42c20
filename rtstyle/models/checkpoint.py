"""Checkpoints: weights + ModelMeta (+ training state for resuming) in one torch file, written atomically and read
with `torch.load(weights_only=True)` (no code runs while loading)."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from rtstyle.errors import RtstyleError
from rtstyle.files import atomic_output
from rtstyle.meta import CHECKPOINT_META_KEY, ModelMeta
from rtstyle.models.registry import create_model


def save_checkpoint(path: str | Path, model: nn.Module, meta: ModelMeta, training_state: dict | None = None) -> None:
    payload = {CHECKPOINT_META_KEY: meta.to_json(), "state_dict": model.state_dict(),
               "training_state": training_state or {}}
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The raw payload, checked to be an rtstyle checkpoint; RtstyleError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise RtstyleError(f"model file not found: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:
        raise RtstyleError(f"not an rtstyle checkpoint (unreadable or truncated): {path}") from None
    if not isinstance(payload, dict) or CHECKPOINT_META_KEY not in payload or "state_dict" not in payload:
        raise RtstyleError(f"not an rtstyle checkpoint (no rtstyle metadata): {path}")
    return payload


def checkpoint_meta(path: str | Path, payload: dict | None = None) -> ModelMeta:
    """A checkpoint's metadata (from `payload` when it is already read)."""
    payload = payload if payload is not None else read_checkpoint(path)
    return ModelMeta.from_json(payload[CHECKPOINT_META_KEY], source=str(path))


def model_from_meta(meta: ModelMeta) -> nn.Module:
    try:
        return create_model(meta.family, meta.variant, num_styles=max(1, len(meta.style_names)),
                            style_dim=meta.style_dim or 100)
    except ValueError as exc:
        raise RtstyleError(f"cannot build the model its metadata describes: {exc}") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, ModelMeta, dict]:
    """(model in eval mode, meta, training state) from a checkpoint written by `save_checkpoint`."""
    payload = read_checkpoint(path, map_location)
    meta = checkpoint_meta(path, payload)
    model = model_from_meta(meta)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError:
        raise RtstyleError(f"{path}: its weights do not match its metadata ({meta.family}, {meta.variant})") from None
    return model.to(map_location).eval(), meta, payload.get("training_state", {})
