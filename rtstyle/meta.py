"""ModelMeta: what every rtstyle artefact says about itself, so no user restates architecture or style names.

It travels as JSON: in a checkpoint (key "rtstyle_meta"), in an ONNX file's metadata_props (key "rtstyle") and in a
TensorRT engine's header. Pure Python: the runtime reads it without torch.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from rtstyle import __version__
from rtstyle.errors import RtstyleError

FORMAT_VERSION = 1
CHECKPOINT_META_KEY = "rtstyle_meta"  # the key of the metadata JSON in a checkpoint's dict
ONNX_META_KEY = "rtstyle"  # the key in an ONNX file's metadata_props
# How far an exported or accelerated model may stray from PyTorch fp32 (max abs error on images in [0,1]): every
# export checks itself against it, and so does a backend computing in a lower precision.
PARITY_TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "bf16": 3e-2}
# int8 files (post-training quantization) are held to the mean abs error instead: a few pixels near a quantization
# step may move by more, what matters is that the picture does not (bench_int8.py scores the losses and looks).
INT8_MEAN_TOLERANCE = 2e-2
FAMILIES = ("feedforward", "cin", "arbitrary")
COMPONENTS = ("model", "encoder", "stylizer")


def components_of(family: str) -> tuple[str, ...]:
    """The files a model of this family exports to: the arbitrary family an encoder (run when the style changes) and
    a stylizer (run per frame), the others one model; the part that stylizes frames comes last."""
    return ("encoder", "stylizer") if family == "arbitrary" else ("model",)


@dataclass
class ModelMeta:
    family: str  # feedforward | cin | arbitrary
    variant: str  # tiny | base | …
    style_names: list[str] = field(default_factory=list)  # cin: one per slot of the style-weight vector
    style_dim: int = 0  # width of the conditioning input: N styles (cin), embedding size (arbitrary), 0 (feedforward)
    component: str = "model"
    precision: str = "fp32"  # fp32 | fp16 | int8 (convolutions quantized, see export/int8.py)
    # Every image input and output: (B,3,H,W) float RGB in [0,1], H and W from min_size to max_size.
    input_layout: str = "NCHW"
    input_channels: str = "RGB"
    input_range: tuple[float, float] = (0.0, 1.0)
    min_size: int = 16
    max_size: int = 8192
    # TensorRT engines only: the optimisation profile, {"min"|"opt"|"max": [batch, height, width]}.
    profile: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # how it was made: settings, style file hashes, steps
    rtstyle_version: str = __version__
    format: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        self.input_range = tuple(self.input_range)  # JSON gives a list
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}")
        if self.component not in COMPONENTS:
            raise ValueError(f"unknown component {self.component!r}")
        if self.family == "cin" and len(self.style_names) != self.style_dim:
            raise ValueError(f"a cin model with {self.style_dim} styles names {len(self.style_names)}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "model") -> ModelMeta:
        """Parse and validate; RtstyleError naming `source` if this is not rtstyle metadata we can use."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise RtstyleError(f"{source}: its rtstyle metadata is not valid JSON") from None
        if not isinstance(data, dict) or "family" not in data or "variant" not in data:
            raise RtstyleError(f"{source}: its rtstyle metadata lacks the family or variant")
        if data.get("format", FORMAT_VERSION) > FORMAT_VERSION:
            raise RtstyleError(f"{source}: made by a newer rtstyle (metadata format {data['format']}); upgrade rtstyle")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{key: value for key, value in data.items() if key in known})
        except (TypeError, ValueError) as exc:
            raise RtstyleError(f"{source}: invalid rtstyle metadata ({exc})") from None

    def style_index(self, name_or_index: str | int) -> int:
        """A style by name (case-insensitive) or by index; RtstyleError listing the choices otherwise."""
        names = [name.lower() for name in self.style_names]
        text = str(name_or_index).strip()
        if text.isdigit() and int(text) < len(names):
            return int(text)
        if text.lower() in names:
            return names.index(text.lower())
        choices = ", ".join(self.style_names) or "(none: this model has one built-in style)"
        raise RtstyleError(f"unknown style {name_or_index!r}; this model has: {choices}")


def meta_from_onnx(text: str | None, source: str) -> ModelMeta:
    """The ModelMeta stored under ONNX_META_KEY in an ONNX file (`text` None: the file has none)."""
    if text is None:
        raise RtstyleError(f"{source} has no rtstyle metadata: export it with `rtstyle export`")
    return ModelMeta.from_json(text, source)


# A TensorRT engine file: MAGIC, then the metadata's length (4 bytes, little-endian), the metadata JSON, the engine.
ENGINE_MAGIC = b"RTSTYLE-TRT\x00"


def pack_engine(meta: ModelMeta, engine: bytes) -> bytes:
    text = meta.to_json().encode()
    return ENGINE_MAGIC + len(text).to_bytes(4, "little") + text + engine


def unpack_engine(data: bytes, source: str = "engine") -> tuple[ModelMeta, memoryview]:
    """(meta, serialized engine) from an rtstyle engine file's bytes; RtstyleError if it is not one."""
    if not data.startswith(ENGINE_MAGIC):
        raise RtstyleError(f"not an rtstyle TensorRT engine (no rtstyle header): {source}")
    start = len(ENGINE_MAGIC) + 4
    length = int.from_bytes(data[len(ENGINE_MAGIC):start], "little")
    if start + length > len(data):
        raise RtstyleError(f"truncated rtstyle TensorRT engine: {source}")
    meta = ModelMeta.from_json(data[start:start + length], source)
    engine = memoryview(data)[start + length:]
    if not len(engine):
        raise RtstyleError(f"truncated rtstyle TensorRT engine (no engine after the header): {source}")
    return meta, engine
