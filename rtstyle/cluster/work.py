"""What a batch worker runs: stylize one file, or one segment of a file, through the same Pipeline and VideoFileSink
as `rtstyle run` (so the same guarantees: every frame, in order, rate, codec and audio kept), and join segments.

Nothing here imports Ray: the Ray tasks in runner.py are thin wrappers, and these functions run (and are tested)
in any process. Every function returns a `Result`; a bad file's error travels back in it as one line, never as an
exception, so that Ray does not retry it (retries are for lost workers, see runner.py).
"""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rtstyle.cluster.jobs import Job, publish
from rtstyle.errors import RtstyleError
from rtstyle.frames import Frame
from rtstyle.images import IMAGE_SUFFIXES
from rtstyle.io.base import Source
from rtstyle.paths import cache_dir
from rtstyle.pipeline import Pipeline
from rtstyle.segments import Segment, SegmentSource, join_segments

MODEL_SUFFIXES = (".onnx", ".engine", ".pt")  # a model and the files that travel with it


@dataclass(frozen=True)
class Options:
    """Everything a worker needs besides the model and the job, the same for every file of a batch."""

    style: str | None = None  # a style spec (see rtstyle.stylizer); a painting's path is replaced by the worker's copy
    strength: float = 1.0  # 0 (the original) to 1 (full style)
    preserve_colors: bool = False
    infer_size: int | None = None  # network's long side in pixels; None: the frame's size
    backend: str = "auto"
    device: str = "auto"
    preset: str = "ultrafast"  # x264 speed preset of the output
    crf: int = 20  # x264 quality, 0 (lossless) to 51
    threads: int = 1  # CPU cores a task may use: that many one-thread inference sessions
    overwrite: bool = False


@dataclass
class ModelBundle:
    """A model's files as bytes (the model, an arbitrary-style model's encoder beside it, and the paintings a style
    spec names), put into Ray's object store once and written to each worker machine's cache once, by content."""

    name: str  # the model file's name
    files: dict[str, bytes]
    paintings: dict[str, bytes] = field(default_factory=dict)
    painting_folder: bool = False  # the style spec named a folder (cycle through it) rather than one file
    digest: str = ""

    @classmethod
    def from_path(cls, model: Path, style: str | None = None) -> ModelBundle:
        prefix = model.name.split(".")[0] + "."
        files = {p.name: p.read_bytes() for p in sorted(model.parent.iterdir())
                 if p.name.startswith(prefix) and p.suffix in MODEL_SUFFIXES and p.is_file()}
        files[model.name] = model.read_bytes()
        paintings, folder = {}, False
        if style and Path(style).exists():
            spec = Path(style)
            folder = spec.is_dir()
            chosen = sorted(p for p in spec.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder else [spec]
            paintings = {p.name: p.read_bytes() for p in chosen}
        digest = hashlib.sha256()
        for name, data in sorted({**files, **{f"painting/{k}": v for k, v in paintings.items()}}.items()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return cls(model.name, files, paintings, folder, digest.hexdigest()[:16])

    def materialize(self, root: Path | None = None) -> tuple[Path, str | None]:
        """Write the files under the cache folder (once per machine: by content, atomically); return the model's
        path there and the local painting spec (None when the style spec names no painting)."""
        folder = (root or cache_dir() / "cluster") / self.digest
        for name, data in [*self.files.items(), *((f"paintings/{k}", v) for k, v in self.paintings.items())]:
            path = folder / name
            if not path.is_file() or path.stat().st_size != len(data):
                path.parent.mkdir(parents=True, exist_ok=True)
                temp = path.with_name(f".{path.name}.{os.getpid()}")
                temp.write_bytes(data)
                os.replace(temp, path)
        if not self.paintings:
            return folder / self.name, None
        paintings = folder / "paintings"
        return folder / self.name, str(paintings if self.painting_folder else paintings / next(iter(self.paintings)))


@dataclass
class Result:
    """How one file (or segment) went. error: one line, None when it succeeded."""

    job: Job
    frames: int = 0
    seconds: float = 0.0  # worker time
    error: str | None = None
    part: Path | None = None  # a segment's encoded file, for the join
    segment: int | None = None


_STYLIZERS: dict[tuple, list] = {}  # per worker process: a reused worker keeps its loaded model between files


def open_stylizers(bundle: ModelBundle, options: Options) -> list:
    """The model loaded under the batch's style options: `options.threads` one-thread inference sessions, which the
    pipeline runs side by side (on a CPU that beats one session with several threads)."""
    key = (bundle.digest, options.style, options.strength, options.preserve_colors, options.infer_size,
           options.backend, options.device, options.threads)
    if key not in _STYLIZERS:
        from rtstyle.model import open_model
        from rtstyle.stylizer import Stylizer

        path, painting = bundle.materialize()
        threads = max(1, options.threads)
        stylizer = Stylizer(open_model(path, options.backend, options.device, threads=threads), options.infer_size)
        stylizer.set_style(painting or options.style)
        stylizer.set_strength(options.strength)
        stylizer.preserve_colors = options.preserve_colors
        _STYLIZERS.clear()  # one model per worker process at a time
        _STYLIZERS[key] = stylizer.replicas(threads)
    return _STYLIZERS[key]


class ReportSink:
    """A pipeline sink that counts written frames and reports the count now and then (at most 4 times a second,
    and at the end), for the batch's progress line."""

    def __init__(self, report: Callable[[int], object], every: float = 0.25):
        self.report, self.every = report, every
        self.frames, self._last = 0, 0.0

    def write(self, frame: Frame) -> None:
        self.frames += 1
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.report(self.frames)

    def close(self) -> None:
        self.report(self.frames)


def _video_source(path: Path):
    from rtstyle.io.sources import open_video_file

    return open_video_file(path)  # PyAV, or OpenCV where PyAV is missing (as for `rtstyle run`)


def _stylize(source: Source, target: Path, stylizers: list, options: Options, report: Callable[[int], object]) -> int:
    """source → stylizers → `target` (a VideoFileSink: temporary name, renamed when complete); the frame count."""
    from rtstyle.io.video_out import open_video_sink

    source.start()
    try:
        sink = open_video_sink(target, source.info, preset=options.preset, crf=options.crf, log=lambda _: None)
        stats = Pipeline(source, stylizers, [sink, ReportSink(report)]).run()
    finally:
        source.stop()
    if stats.frames_out != stats.frames_in or stats.frames_out == 0:
        raise RtstyleError(f"{stats.frames_in} frames read but {stats.frames_out} written")
    return stats.frames_out


def describe(exc: BaseException) -> str:
    """An error as one line: the message of a user-facing error, type and message of anything else."""
    text = str(exc) if isinstance(exc, RtstyleError) else f"internal error: {type(exc).__name__}: {exc}"
    return (text.strip().splitlines() or [type(exc).__name__])[0]


def transcode(job: Job, bundle: ModelBundle, options: Options, report: Callable[[int], object],
              segment: Segment | None = None) -> Result:
    """Stylize the whole file into its output (published without overwriting unless asked), or one segment into a
    temporary part for the join."""
    began = time.perf_counter()
    target = job.temp(f"seg{segment.index:05d}") if segment else job.temp()
    try:
        source = _video_source(job.input)
        if segment is not None:
            source = SegmentSource(job.input, segment, source.info)
        frames = _stylize(source, target, open_stylizers(bundle, options), options, report)
        if segment is not None and frames != segment.frames:
            raise RtstyleError(f"segment {segment.index} gave {frames} frames, expected {segment.frames}")
        if segment is None:
            publish(target, job.output, options.overwrite)
        return Result(job, frames, time.perf_counter() - began, part=target if segment else None,
                      segment=segment.index if segment else None)
    except Exception as exc:  # noqa: BLE001 - reported for this file; the batch goes on
        target.unlink(missing_ok=True)
        return Result(job, error=describe(exc), segment=segment.index if segment else None)


def join(job: Job, options: Options, *parts: Result) -> Result:
    """The stylized segments of one file → its output: packets copied in order (no second encode), then the source's
    audio as in `rtstyle run`; published without overwriting unless asked. The parts are removed either way."""
    from rtstyle.io.video_out import add_audio

    began = time.perf_counter()
    joined, final = job.temp("joined"), job.temp("final")
    try:
        failed = next((part for part in parts if part.error), None)
        if failed is not None:
            raise RtstyleError(f"segment {failed.segment}: {failed.error}")
        count = join_segments([part.part for part in parts], joined)
        expected = sum(part.frames for part in parts)
        if count != expected:
            raise RtstyleError(f"joined {count} frames, the segments had {expected}")
        if _video_source(job.input).info.has_audio:
            add_audio(joined, str(job.input), final)
        else:
            os.replace(joined, final)
        publish(final, job.output, options.overwrite)
        return Result(job, count, sum(part.seconds for part in parts) + time.perf_counter() - began)
    except Exception as exc:  # noqa: BLE001
        return Result(job, error=describe(exc))
    finally:
        for path in [joined, final, *(part.part for part in parts if part.part)]:
            path.unlink(missing_ok=True)
