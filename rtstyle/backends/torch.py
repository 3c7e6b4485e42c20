"""PyTorch on CPU or CUDA, straight from a training checkpoint (.pt). On CUDA: fp16, channels-last, frames converted
on the device (the production path for users who have PyTorch)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from rtstyle.backends.base import Backend
from rtstyle.errors import RtstyleError
from rtstyle.meta import ModelMeta


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None, half: bool | None = None):
        super().__init__(path, device, threads)
        self.half = half  # default: fp16 on CUDA, fp32 on CPU

    def _load(self) -> ModelMeta:
        try:
            import torch
        except ImportError:
            raise RtstyleError("checkpoints (.pt) need torch: pip install 'rtstyle[train]', or export the model "
                               "to ONNX") from None
        from rtstyle.models.checkpoint import load_checkpoint

        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RtstyleError("device cuda asked for, but this torch has no CUDA GPU")
        if device not in ("cpu",) and not device.startswith("cuda"):
            raise RtstyleError(f"unknown device {self.device!r} for PyTorch: use auto, cpu or cuda")
        self._torch, self._device = torch, torch.device(device)
        model, meta, _ = load_checkpoint(self.path, map_location=self._device)
        cuda = self._device.type == "cuda"
        self._dtype = torch.float16 if (self.half if self.half is not None else cuda) else torch.float32
        self._encoder = model.predictor if meta.family == "arbitrary" else None
        net = model.transformer if meta.family == "arbitrary" else model
        self._net = net.to(self._dtype)
        if cuda:
            from rtstyle.backends.cuda_frames import CudaFrames

            self._net = self._net.to(memory_format=torch.channels_last)
            self._frames = CudaFrames(self._device, self._dtype)
        component = "stylizer" if meta.family == "arbitrary" else "model"
        return replace(meta, component=component, precision="fp16" if self._dtype == torch.float16 else "fp32")

    def _run(self, images, cond: np.ndarray | None):
        torch = self._torch
        cond_t = None if cond is None else torch.from_numpy(cond).to(self._device, self._dtype)
        with torch.inference_mode():
            return self._net(images.to(self._dtype), cond_t)

    def _infer(self, batch: np.ndarray, cond: np.ndarray | None) -> np.ndarray:
        images = self._torch.from_numpy(batch).to(self._device)
        return self._run(images, cond).float().cpu().numpy()

    def _infer_frames(self, frames: list[np.ndarray], cond: np.ndarray | None) -> list[np.ndarray]:
        if self._device.type != "cuda":
            return super()._infer_frames(frames, cond)
        images = self._frames.upload(frames)
        with self._torch.cuda.stream(self._frames.stream):
            out = self._run(images.contiguous(memory_format=self._torch.channels_last), cond)
        return self._frames.download(out)

    def encode_style(self, painting: np.ndarray) -> np.ndarray:
        """Arbitrary family: float32 (1,3,H,W) painting → (1,D) style embedding."""
        if self._encoder is None:
            raise RtstyleError("only arbitrary-style models take a painting as style")
        with self._torch.inference_mode():
            return self._encoder(self._torch.from_numpy(painting).to(self._device)).float().cpu().numpy()

    def _close(self) -> None:
        self._net = self._encoder = None
