"""PyTorch on CPU or CUDA, straight from a training checkpoint (.pt). On CUDA: fp16, channels-last, frames converted
on the device (the production path for users who have PyTorch)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from rtstyle.backends.base import Backend
from rtstyle.errors import RtstyleError
from rtstyle.meta import ModelMeta


class TorchBackend(Backend):
    """A checkpoint holds a whole model: for the arbitrary family, role "frames" runs its stylizer (transformer) and
    role "encoder" its style predictor. Precision: fp16 on CUDA, fp32 on the CPU (or as asked)."""

    name = "torch"
    runtime, extra = "torch", "train"

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
        if self.precision not in ("auto", "fp16", "fp32"):
            raise RtstyleError(f"the torch backend runs fp16 or fp32, not {self.precision}")
        half = self.precision == "fp16" or (self.precision == "auto" and cuda)
        self._dtype = torch.float16 if half else torch.float32
        two_parts = hasattr(model, "predictor")  # an arbitrary-style model: style predictor + transformer
        net = (model.predictor if self.role == "encoder" else model.transformer) if two_parts else model
        self._net = net.to(self._dtype).eval()
        if cuda:
            from rtstyle.backends.cuda_frames import CudaFrames

            self._net = self._net.to(memory_format=torch.channels_last)
            self._frames = CudaFrames(self._device, self._dtype)
        component = ("encoder" if self.role == "encoder" else "stylizer") if two_parts else "model"
        return replace(meta, component=component, precision="fp16" if half else "fp32")

    def _run(self, images, cond: np.ndarray | None):
        torch = self._torch
        cond_t = None if cond is None else torch.from_numpy(cond).to(self._device, self._dtype)
        with torch.inference_mode():
            return self._net(images.to(self._dtype)) if self.role == "encoder" else self._net(images.to(self._dtype),
                                                                                              cond_t)

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

    def _close(self) -> None:
        self._net = None


BACKEND = TorchBackend
