"""Frames to and from a CUDA device for the GPU backends (PyTorch CUDA, TensorRT): frames travel as uint8 through
pinned host memory and are converted on the device, on the backend's own stream, in buffers reused across frames of
the same shape. Needs torch with CUDA."""
from __future__ import annotations

import numpy as np


class CudaFrames:
    def __init__(self, device, dtype):
        import torch

        self.torch = torch
        self.device, self.dtype = device, dtype
        self.stream = torch.cuda.Stream(device=device)
        self._host_in = self._host_out = None

    def _pinned(self, current, shape):
        if current is None or tuple(current.shape) != tuple(shape):
            current = self.torch.empty(shape, dtype=self.torch.uint8, pin_memory=True)
        return current

    def upload(self, frames: list[np.ndarray]):
        """[uint8 (H,W,3) BGR] → device tensor (B,3,H,W) RGB in [0,1] of the backend's dtype, on self.stream."""
        torch = self.torch
        b, (h, w, _) = len(frames), frames[0].shape
        self._host_in = self._pinned(self._host_in, (b, h, w, 3))
        host = self._host_in.numpy()
        for i, frame in enumerate(frames):
            host[i] = frame
        with torch.cuda.stream(self.stream):
            raw = self._host_in.to(self.device, non_blocking=True)
            return raw.flip(-1).permute(0, 3, 1, 2).to(self.dtype).mul_(1 / 255).contiguous()

    def download(self, images) -> list[np.ndarray]:
        """Device tensor (B,3,H,W) RGB in [0,1] → [uint8 (H,W,3) BGR]; waits for self.stream."""
        torch = self.torch
        with torch.cuda.stream(self.stream):
            raw = images.float().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).flip(-1)
            self._host_out = self._pinned(self._host_out, tuple(raw.shape))
            self._host_out.copy_(raw, non_blocking=True)
        self.stream.synchronize()
        return [frame.copy() for frame in self._host_out.numpy()]
