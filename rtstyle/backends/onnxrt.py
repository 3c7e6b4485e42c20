"""ONNX Runtime: CPU everywhere; CUDA and TensorRT execution providers where onnxruntime-gpu is installed.

`device="auto"` takes the fastest provider available: TensorRT > CUDA > CPU.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rtstyle.backends.base import Backend, check_graph_inputs
from rtstyle.errors import RtstyleError
from rtstyle.meta import ONNX_META_KEY, ModelMeta, meta_from_onnx

PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
DEVICE_PROVIDERS = {"cpu": ("CPUExecutionProvider",), "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
                    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")}


class OnnxRuntimeBackend(Backend):
    name = "onnxrt"
    runtime, extra = "onnxruntime", ""

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None, role: str = "frames",
                 precision: str = "auto"):
        super().__init__(path, device, threads, role, precision)
        self.providers: list[str] = []

    def parallel_copies_help(self) -> bool:
        return self.providers[:1] == ["CPUExecutionProvider"]

    def describe(self) -> str:
        return f"onnxrt ({', '.join(self.providers)})" if self.providers else self.name

    def _load(self) -> ModelMeta:
        import onnxruntime as ort

        available = ort.get_available_providers()
        wanted = PROVIDER_ORDER if self.device == "auto" else DEVICE_PROVIDERS.get(self.device.split(":")[0])
        if wanted is None:
            raise RtstyleError(f"unknown device {self.device!r} for ONNX Runtime: use auto, cpu, cuda or tensorrt")
        if wanted[0] not in available and self.device != "auto":
            raise RtstyleError(f"ONNX Runtime has no {wanted[0]} here (install onnxruntime-gpu: pip install "
                               f"'rtstyle[gpu]'); available: {', '.join(available)}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            options.intra_op_num_threads = self.threads
        providers = [self._provider_entry(p) for p in wanted if p in available]
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception:
            raise RtstyleError(f"not a usable ONNX model (unreadable, truncated or invalid): {self.path}") from None
        self.providers = self._session.get_providers()
        meta = meta_from_onnx(self._session.get_modelmeta().custom_metadata_map.get(ONNX_META_KEY), str(self.path))
        self._check_graph(meta)
        self._dtype = np.float16 if meta.precision == "fp16" else np.float32
        return meta

    def _provider_entry(self, provider: str):
        if provider == "TensorrtExecutionProvider":  # cache built engines beside the model, fp16 like our engines
            return (provider, {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                               "trt_engine_cache_path": str(self.path.parent / ".trt-cache")})
        return provider

    def _check_graph(self, meta: ModelMeta) -> None:
        inputs = {i.name: i.shape[1] if i.name == "style" else None for i in self._session.get_inputs()}
        check_graph_inputs(meta, inputs, self.path)

    def _infer(self, batch: np.ndarray, cond: np.ndarray | None) -> np.ndarray:
        feeds = {"image": batch.astype(self._dtype, copy=False)}
        if cond is not None:
            feeds["style"] = cond.astype(self._dtype, copy=False)
        return self._session.run(None, feeds)[0].astype(np.float32, copy=False)

    def _close(self) -> None:
        self._session = None


BACKEND = OnnxRuntimeBackend
