"""The Backend interface: one inference front over PyTorch, ONNX Runtime and TensorRT (Polygraphy's BaseRunner:
public methods validate and wrap a private hook; lifetimes are context managers).

    with load_backend("model.onnx") as backend:
        stylized = backend.infer(frames, cond=backend.conditioning(style="starry_night"))

Frames are uint8 (H,W,3) BGR; tensors float32 (B,3,H,W) RGB in [0,1]; cond is float32 (B,N) style weights for CIN
models, (B,D) style embeddings for arbitrary-style stylizers, None for single-style models.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from rtstyle.errors import DeviceOutOfMemory, RtstyleError
from rtstyle.meta import ModelMeta
from rtstyle.processing import batch_to_frames, frames_to_batch


class Backend(ABC):
    name = "backend"

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None):
        """Stores the configuration only; `load()` (or `with`) opens the model. threads: CPU threads for one
        inference (ONNX Runtime on the CPU; others ignore it)."""
        self.path = Path(path)
        self.device = device
        self.threads = threads
        self.meta: ModelMeta | None = None

    # lifetime -------------------------------------------------------------------------------------------------
    def load(self) -> Backend:
        if self.meta is None:
            if not self.path.is_file():
                raise RtstyleError(f"model file not found: {self.path}")
            self.meta = self._load()
            if self.meta.component == "encoder":
                self.close()
                raise RtstyleError(f"{self.path} is a style encoder; load its stylizer to stylize frames")
        return self

    def close(self) -> None:
        if self.meta is not None:
            self._close()
            self.meta = None

    def __enter__(self) -> Backend:
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # inference ------------------------------------------------------------------------------------------------
    def infer(self, frames: list[np.ndarray], cond: np.ndarray | None = None) -> list[np.ndarray]:
        """Stylize same-size uint8 BGR frames; returns uint8 BGR frames of the same size."""
        if not frames:
            return []
        height, width = frames[0].shape[:2]
        if any(f.shape != frames[0].shape for f in frames) or frames[0].ndim != 3 or frames[0].shape[2] != 3:
            raise RtstyleError("frames of one batch must all be (H,W,3) and the same size")
        cond = self._check(len(frames), height, width, cond)
        try:
            return self._infer_frames(frames, cond)
        except Exception as exc:
            if is_out_of_memory(exc):
                raise DeviceOutOfMemory(f"out of device memory at {width}x{height} (batch {len(frames)})") from None
            raise

    def infer_tensor(self, batch: np.ndarray, cond: np.ndarray | None = None) -> np.ndarray:
        """float32 (B,3,H,W) RGB in [0,1] → same layout (for checks and benchmarks of the network alone)."""
        b, c, height, width = batch.shape
        if c != 3:
            raise RtstyleError(f"expected (B,3,H,W) images, got {batch.shape}")
        return self._infer(np.ascontiguousarray(batch, dtype=np.float32), self._check(b, height, width, cond))

    def warmup(self, height: int, width: int, batch: int = 1, runs: int = 2) -> None:
        """Run a few frames so that lazy initialisation (kernels, allocations, autotuning) is paid up front."""
        frames = [np.zeros((height, width, 3), np.uint8)] * batch
        cond = self.default_conditioning(batch)
        for _ in range(runs):
            self.infer(frames, cond)

    def default_conditioning(self, batch: int = 1) -> np.ndarray | None:
        """The first style (CIN), a neutral embedding (arbitrary), or None."""
        meta = self._loaded()
        if meta.family == "cin":
            return np.repeat(np.eye(1, meta.style_dim, dtype=np.float32), batch, axis=0)
        if meta.family == "arbitrary":
            return np.zeros((batch, meta.style_dim), np.float32)
        return None

    # hooks ----------------------------------------------------------------------------------------------------
    @abstractmethod
    def _load(self) -> ModelMeta:
        """Open the model (importing the runtime library here) and return its metadata."""

    @abstractmethod
    def _infer(self, batch: np.ndarray, cond: np.ndarray | None) -> np.ndarray:
        """float32 (B,3,H,W) [+ cond] → float32 (B,3,H,W), both on the host."""

    def _infer_frames(self, frames: list[np.ndarray], cond: np.ndarray | None) -> list[np.ndarray]:
        """uint8 frames → uint8 frames. GPU backends override this to convert on the device."""
        return batch_to_frames(self._infer(frames_to_batch(frames), cond))

    def _close(self) -> None:  # noqa: B027 - optional hook: backends with nothing to release skip it
        """Release the runtime's resources."""

    # checks ---------------------------------------------------------------------------------------------------
    def _loaded(self) -> ModelMeta:
        if self.meta is None:
            raise RuntimeError(f"{type(self).__name__} used before load()")
        return self.meta

    def _check(self, batch: int, height: int, width: int, cond: np.ndarray | None) -> np.ndarray | None:
        meta = self._loaded()
        if min(height, width) < meta.min_size or max(height, width) > meta.max_size:
            raise RtstyleError(f"unsupported size {width}x{height}: this model takes sides from {meta.min_size} "
                               f"to {meta.max_size} pixels")
        profile = meta.profile
        if profile:
            lo, hi = profile["min"], profile["max"]
            if not (lo[0] <= batch <= hi[0] and lo[1] <= height <= hi[1] and lo[2] <= width <= hi[2]):
                raise RtstyleError(f"unsupported size {width}x{height} (batch {batch}) for this engine: it was built "
                                   f"for {lo[2]}x{lo[1]} … {hi[2]}x{hi[1]}, batch {lo[0]} … {hi[0]}")
        if meta.style_dim == 0:
            if cond is not None:
                raise RtstyleError("this model has one built-in style and takes no style input")
            return None
        if cond is None:
            raise RtstyleError(f"this {meta.family} model needs a style input of width {meta.style_dim}")
        cond = np.asarray(cond, dtype=np.float32)
        if cond.ndim == 1:
            cond = cond[None]
        if cond.shape[1] != meta.style_dim:
            raise RtstyleError(f"style input has width {cond.shape[1]}; this model takes {meta.style_dim}")
        if cond.shape[0] == 1 and batch > 1:
            cond = np.repeat(cond, batch, axis=0)
        if cond.shape[0] != batch:
            raise RtstyleError(f"{cond.shape[0]} style inputs for {batch} frames")
        return np.ascontiguousarray(cond)


def is_out_of_memory(exc: BaseException) -> bool:
    """Out-of-memory errors as each runtime spells them (torch.cuda.OutOfMemoryError, ONNX Runtime's "Failed to
    allocate memory", CUDA's "out of memory")."""
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or "outofmemory" in text or "out of memory" in text \
        or "failed to allocate" in text
