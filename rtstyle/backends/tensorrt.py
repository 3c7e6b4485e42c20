"""Native TensorRT engines (rtstyle header + serialized engine), TensorRT 10 API, device memory through torch.

Frames go to the GPU as uint8 and are converted there; inputs and outputs live in device buffers that are reused while
the frame size stays the same, and everything runs on the backend's own CUDA stream.
"""
from __future__ import annotations

import numpy as np

from rtstyle.backends.base import Backend
from rtstyle.errors import RtstyleError
from rtstyle.meta import ModelMeta, unpack_engine


class TensorRTBackend(Backend):
    name = "tensorrt"
    runtime, extra = "tensorrt", "gpu"

    def _load(self) -> ModelMeta:
        try:
            import tensorrt as trt
            import torch
        except ImportError as exc:
            raise RtstyleError(f"TensorRT engines need {exc.name}: pip install 'rtstyle[gpu]'") from None
        if not torch.cuda.is_available():
            raise RtstyleError("TensorRT engines need an NVIDIA GPU, and torch sees none")
        from rtstyle.backends.cuda_frames import CudaFrames

        meta, serialized = unpack_engine(self.path.read_bytes(), str(self.path))
        self._trt, self._torch = trt, torch
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(serialized)
        if self._engine is None:
            raise RtstyleError(f"{self.path} was built for another TensorRT version or GPU; rebuild it with "
                               f"`rtstyle export MODEL.onnx --format tensorrt` (this is TensorRT {trt.__version__})")
        self._context = self._engine.create_execution_context()
        self._device = torch.device("cuda" if self.device == "auto" else self.device)
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        self._dtypes = {n: self._torch_dtype(self._engine.get_tensor_dtype(n)) for n in names}
        self._frames = CudaFrames(self._device, self._dtypes["image"])
        self._outputs: dict[tuple, object] = {}
        return meta

    def _torch_dtype(self, trt_dtype):
        trt, torch = self._trt, self._torch
        return {trt.float32: torch.float32, trt.float16: torch.float16, trt.bfloat16: torch.bfloat16}[trt_dtype]

    def _run(self, images, cond):
        """Device tensors in, device tensor (B,3,H,W) out (valid once self._frames.stream is synchronised)."""
        torch, context = self._torch, self._context
        stream = self._frames.stream
        with torch.cuda.stream(stream):
            images = images.to(self._dtypes["image"]).contiguous()
            context.set_input_shape("image", tuple(images.shape))
            context.set_tensor_address("image", images.data_ptr())
            if cond is not None:
                cond = cond.to(self._dtypes["style"]).contiguous()
                context.set_input_shape("style", tuple(cond.shape))
                context.set_tensor_address("style", cond.data_ptr())
            shape = tuple(images.shape)
            if shape not in self._outputs:
                self._outputs = {shape: torch.empty(shape, dtype=self._dtypes["output"], device=self._device)}
            output = self._outputs[shape]
            context.set_tensor_address("output", output.data_ptr())
            if not context.execute_async_v3(stream.cuda_stream):
                raise RtstyleError("TensorRT failed to run the engine")
        return output

    def _cond_to_device(self, cond: np.ndarray | None):
        return None if cond is None else self._torch.from_numpy(cond).to(self._device, non_blocking=True)

    def _infer(self, batch: np.ndarray, cond: np.ndarray | None) -> np.ndarray:
        with self._torch.cuda.stream(self._frames.stream):
            images = self._torch.from_numpy(batch).to(self._device, non_blocking=True)
            out = self._run(images, self._cond_to_device(cond)).float().cpu()
        return out.numpy()

    def _infer_frames(self, frames: list[np.ndarray], cond: np.ndarray | None) -> list[np.ndarray]:
        images = self._frames.upload(frames)
        with self._torch.cuda.stream(self._frames.stream):
            cond_device = self._cond_to_device(cond)
        return self._frames.download(self._run(images, cond_device))

    def _close(self) -> None:
        self._context = self._engine = self._runtime = None
        self._outputs = {}


BACKEND = TensorRTBackend
