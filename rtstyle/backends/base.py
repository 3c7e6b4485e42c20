"""The Backend interface: one network file on one inference runtime (PyTorch, ONNX Runtime, OpenVINO, TensorRT),
after Polygraphy's BaseRunner: public methods validate and wrap a private hook; lifetimes are context managers.
Users do not build backends themselves: `rtstyle.model.open_model` (the front door) picks and loads them.

A backend runs either frames (role "frames": a one-file model or an arbitrary-style model's stylizer) or paintings
(role "encoder": an arbitrary-style model's style encoder). Frames are uint8 (H,W,3) BGR; tensors float32 (B,3,H,W)
RGB in [0,1]; cond is float32 (B,N) style weights for CIN models, (B,D) style embeddings for arbitrary-style
stylizers, None for single-style models; an encoder returns float32 (B,D) embeddings.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from rtstyle.errors import DeviceOutOfMemory, RtstyleError
from rtstyle.meta import ModelMeta
from rtstyle.processing import batch_to_frames, frames_to_batch

ROLES = ("frames", "encoder")


class Backend(ABC):
    name = "backend"
    runtime = ""  # the library `_load` imports
    extra = ""  # the pip extra that installs it ("" = always installed)

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None, role: str = "frames",
                 precision: str = "auto"):
        """Stores the configuration only; `load()` (or `with`) opens the model. threads: CPU threads for one
        inference (CPU runtimes; others ignore it). precision: what the runtime computes in, where it has a choice
        (OpenVINO: bf16 or fp32); "auto" lets the backend decide."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self.path = Path(path)
        self.device = device
        self.threads = threads
        self.role = role
        self.precision = precision
        self.meta: ModelMeta | None = None

    def describe(self) -> str:
        """What runs the model, for the user: e.g. "onnxrt (CPUExecutionProvider)"."""
        return self.name

    def parallel_copies_help(self) -> bool:
        """Whether several one-thread copies of this backend, each stylizing other frames, beat one (true only for
        runtimes that leave cores idle on one frame)."""
        return False

    # lifetime -------------------------------------------------------------------------------------------------
    def load(self) -> Backend:
        if self.meta is None:
            if not self.path.is_file():
                raise RtstyleError(f"model file not found: {self.path}")
            self.meta = self._load()
            if (self.meta.component == "encoder") != (self.role == "encoder"):
                component = self.meta.component
                self.close()
                if component == "encoder":
                    raise RtstyleError(f"{self.path} is a style encoder; load its stylizer to stylize frames")
                raise RtstyleError(f"{self.path} is not a style encoder")
        return self

    def copy(self, threads: int | None = None) -> Backend:
        """Another loaded backend on the same file and settings (for parallel workers)."""
        return type(self)(self.path, self.device, threads if threads is not None else self.threads, self.role,
                          self.precision).load()

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
        self._require("frames")
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
        self._require("frames")
        b, c, height, width = batch.shape
        if c != 3:
            raise RtstyleError(f"expected (B,3,H,W) images, got {batch.shape}")
        return self._infer(np.ascontiguousarray(batch, dtype=np.float32), self._check(b, height, width, cond))

    def encode(self, paintings: np.ndarray) -> np.ndarray:
        """Style encoder: float32 (B,3,H,W) paintings RGB in [0,1] → float32 (B,D) style embeddings."""
        self._require("encoder")
        b, c, height, width = paintings.shape
        meta = self._loaded()
        if c != 3 or min(height, width) < meta.min_size:
            raise RtstyleError(f"a painting must be at least {meta.min_size} pixels on each side")
        return self._infer(np.ascontiguousarray(paintings, dtype=np.float32), None)

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

    def _require(self, role: str) -> None:
        if self.role != role:
            raise RuntimeError(f"a {self.role} backend cannot {'encode paintings' if role == 'encoder' else 'stylize'}")

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


def check_graph_inputs(meta: ModelMeta, inputs: dict[str, object], path: Path) -> None:
    """The metadata must describe the graph: its input names ({name: style width or None}) and the width of its
    style input (a symbolic width is not checked)."""
    expected = {"image", "style"} if meta.style_dim and meta.component != "encoder" else {"image"}
    if set(inputs) != expected:
        raise RtstyleError(f"{path}: its metadata ({meta.family}) disagrees with its graph "
                           f"(inputs {', '.join(sorted(inputs))})")
    width = inputs.get("style")
    if isinstance(width, int) and width != meta.style_dim:
        raise RtstyleError(f"{path}: its metadata says {meta.style_dim} styles, its graph takes {width}")


def is_out_of_memory(exc: BaseException) -> bool:
    """Out-of-memory errors as each runtime spells them (torch.cuda.OutOfMemoryError, ONNX Runtime's "Failed to
    allocate memory", CUDA's "out of memory")."""
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or "outofmemory" in text or "out of memory" in text \
        or "failed to allocate" in text
