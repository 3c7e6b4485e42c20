"""OpenVINO on the CPU: reads our ONNX files and, on CPUs with bf16 matrix units (AMX-BF16 / AVX512-BF16), runs
them in bf16 — measured here 1.2–3.6× ONNX Runtime's speed on the same file, the more the bigger the network.

- Precision: "auto" is bf16 where OpenVINO reports BF16 among the CPU's capabilities, fp32 elsewhere; "bf16" or
  "fp32" force it. Parity with PyTorch is checked against meta.PARITY_TOLERANCE for that precision (tests).
- Static shapes: a network compiled for one frame size runs faster than a dynamic one; a video keeps one size, so
  each new (batch, height, width) is compiled once and kept (the last few sizes).
- OpenVINO's model cache (under rtstyle's cache folder) keeps compiled blobs, so the second start is fast.
- Frames in and out as uint8: the conversion to float in [0,1] and back (rounded, clipped) and the layout change
  are compiled into the network (OpenVINO's pre/post-processing) rather than done in numpy around the call
  (cin-fast at 640×480 in bf16, same run: frames in/out at 89 % of the float network's rate, 80 % before).
- Latency for live sources, throughput for files: a backend compiles for latency (one stream using every core for
  one frame); its copies (`copy()`, what `Stylizer.replicas` makes for a file's inference workers) share one
  compilation for throughput (OpenVINO's streams, each on part of the cores) and each bring an infer request, so
  the workers' frames run side by side.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from rtstyle.backends.base import Backend, check_graph_inputs
from rtstyle.errors import RtstyleError
from rtstyle.meta import ONNX_META_KEY, ModelMeta, meta_from_onnx
from rtstyle.paths import cache_dir

KEEP_SHAPES = 4  # compiled frame sizes kept per model


class _Compiled:
    """The model read once, and its compilations per input shape (shared by a backend and its copies)."""

    def __init__(self, core, model, config: dict):
        self.core, self.model, self.config = core, model, config
        self.by_shape: OrderedDict[tuple, object] = OrderedDict()
        self.lock = threading.Lock()
        self._frames_model = None

    def frames_model(self):
        """The model with uint8 RGB (B,H,W,3) frames in and out (built once)."""
        if self._frames_model is None:
            self._frames_model = with_frame_io(self.model.clone())
        return self._frames_model

    def for_shape(self, shapes: dict[str, tuple[int, ...]], frames: bool = False):
        key = (frames, *sorted(shapes.items()))
        with self.lock:
            compiled = self.by_shape.get(key)
            if compiled is None:
                model = (self.frames_model() if frames else self.model).clone()
                model.reshape(shapes)
                compiled = self.core.compile_model(model, "CPU", self.config)
                self.by_shape[key] = compiled
                while len(self.by_shape) > KEEP_SHAPES:
                    self.by_shape.popitem(last=False)
            self.by_shape.move_to_end(key)
            return compiled


class OpenVinoBackend(Backend):
    name = "openvino"
    runtime, extra = "openvino", "openvino"

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None, role: str = "frames",
                 precision: str = "auto", _shared: _Compiled | None = None):
        super().__init__(path, device, threads, role, precision)
        self._shared = _shared
        self._for_copies: _Compiled | None = None  # the throughput compilation this backend's copies share
        self._requests: dict[int, object] = {}  # id(compiled model) → this backend's infer request on it

    def describe(self) -> str:
        if not self.meta:
            return self.name
        quantized = "int8 + " if self.meta.precision == "int8" else ""
        return f"openvino (CPU, {quantized}{self.inference_precision})"

    def _load(self) -> ModelMeta:
        try:
            import openvino as ov
        except ImportError:
            raise RtstyleError("the openvino backend needs OpenVINO: pip install 'rtstyle[openvino]'") from None
        if self.device not in ("auto", "cpu"):
            raise RtstyleError(f"OpenVINO runs models on the CPU here, not on {self.device!r}: use --device cpu")
        if self._shared is None:
            core = ov.Core()
            try:
                core.set_property({"CACHE_DIR": str(cache_dir() / "openvino")})
            except Exception:  # noqa: BLE001 - a cache that cannot be written only costs start-up time
                pass
            from openvino.frontend import FrontEndManager

            try:  # the ONNX frontend by name: `core.read_model` would also try others, which log to stderr
                frontend = FrontEndManager().load_by_framework("onnx")
                model = frontend.convert(frontend.load(str(self.path)))
            except Exception:
                raise RtstyleError(f"not a usable ONNX model (unreadable, truncated or invalid): {self.path}") from None
            self._shared = _Compiled(core, model, self._config(core))
        model = self._shared.model
        try:
            text = model.get_rt_info(["framework", ONNX_META_KEY]).astype(str)
        except Exception:  # noqa: BLE001 - OpenVINO raises a plain RuntimeError for a missing key
            text = None
        meta = meta_from_onnx(text, str(self.path))
        inputs = {}
        for port in model.inputs:
            name = port.get_any_name()
            width = port.get_partial_shape()[1]
            inputs[name] = width.get_length() if name == "style" and width.is_static else None
        check_graph_inputs(meta, inputs, self.path)
        return meta

    @property
    def inference_precision(self) -> str:
        return "bf16" if self._shared and self._shared.config["INFERENCE_PRECISION_HINT"] == "bf16" else "fp32"

    def _config(self, core) -> dict:
        if self.precision not in ("auto", "bf16", "fp32", "int8"):
            raise RtstyleError(f"OpenVINO runs bf16, fp32 or int8 files, not {self.precision}")
        capable = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        if self.precision == "bf16" and not capable:
            raise RtstyleError("this CPU has no bf16 units (AMX-BF16 / AVX512-BF16): use --precision fp32")
        # an int8 file's quantized convolutions run in int8 and the rest as "auto" would
        bf16 = self.precision == "bf16" or (self.precision in ("auto", "int8") and capable)
        config = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32", "PERFORMANCE_HINT": "LATENCY"}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = self.threads
        return config

    def parallel_copies_help(self) -> bool:
        return True

    def copy(self, threads: int | None = None) -> Backend:
        """A backend sharing one throughput compilation with this backend's other copies; it only adds an infer
        request (`threads` is OpenVINO's business here: its streams divide the cores)."""
        if self._for_copies is None:
            shared = self._shared
            config = {**shared.config, "PERFORMANCE_HINT": "THROUGHPUT"}
            config.pop("INFERENCE_NUM_THREADS", None)
            self._for_copies = _Compiled(shared.core, shared.model, config)
        return type(self)(self.path, self.device, self.threads, self.role, self.precision,
                          _shared=self._for_copies).load()

    def _infer(self, batch: np.ndarray, cond: np.ndarray | None) -> np.ndarray:
        return np.array(self._run(batch, cond, frames=False), dtype=np.float32, copy=True)

    def _infer_frames(self, frames: list[np.ndarray], cond: np.ndarray | None) -> list[np.ndarray]:
        # BGR ↔ RGB with OpenCV: 0.03 ms a 640×480 frame, where a numpy reversed-axis copy takes 1 ms
        rgb = np.stack([cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for frame in frames])
        return [cv2.cvtColor(out, cv2.COLOR_RGB2BGR) for out in self._run(rgb, cond, frames=True)]

    def _run(self, image: np.ndarray, cond: np.ndarray | None, frames: bool) -> np.ndarray:
        """The request's output tensor (valid until its next inference: callers copy)."""
        feeds = {"image": image}
        if cond is not None:
            feeds["style"] = cond
        compiled = self._shared.for_shape({name: value.shape for name, value in feeds.items()}, frames)
        request = self._requests.get(id(compiled))
        if request is None:
            if len(self._requests) >= 2 * KEEP_SHAPES:
                self._requests.clear()
            request = self._requests[id(compiled)] = compiled.create_infer_request()
        # share_inputs: no copy into the request's own input tensors (a copy deadlocked parallel workers)
        request.infer(feeds, share_inputs=True)
        return request.get_output_tensor(0).data

    def _close(self) -> None:
        self._requests = {}


def with_frame_io(model):
    """model (image float32 (B,3,H,W) RGB in [0,1] → float32 (B,3,H,W)) → the same network taking and returning
    uint8 (B,H,W,3) RGB frames, converted as rtstyle.processing does (×1/255; ×255, clipped, rounded to nearest).

    BGR ↔ RGB stays outside (OpenCV, on uint8): PrePostProcessor.reverse_channels() is folded by OpenVINO 2026.4 into
    the first convolution's weights and, through our reflect Pad, silently dropped; slices and a concat in the graph
    work but cost far more than OpenCV's swap."""
    import openvino as ov
    import openvino.opset13 as ops
    from openvino.preprocess import PrePostProcessor

    def to_uint8_range(node):
        scaled = ops.multiply(node, ops.constant(np.float32(255)))
        return ops.round(ops.clamp(scaled, 0.0, 255.0), "half_to_even").output(0)

    ppp = PrePostProcessor(model)
    image = ppp.input("image")
    image.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    image.model().set_layout(ov.Layout("NCHW"))
    image.preprocess().convert_element_type(ov.Type.f32).scale(255.0)
    output = ppp.output(0)
    output.model().set_layout(ov.Layout("NCHW"))
    output.tensor().set_layout(ov.Layout("NHWC")).set_element_type(ov.Type.u8)
    output.postprocess().custom(to_uint8_range)
    return ppp.build()


BACKEND = OpenVinoBackend
