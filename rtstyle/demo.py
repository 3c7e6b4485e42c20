"""`rtstyle demo`: the shipped default model on the webcam when there is one (a live window, also recorded), or on
the bundled sample clip otherwise; writes a stylized video and a side-by-side sheet and says where they are."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from rtstyle.commands import open_stylizer
from rtstyle.errors import RtstyleError
from rtstyle.files import slug
from rtstyle.images import write_image
from rtstyle.io.sinks import draw_lines
from rtstyle.io.sources import CameraSource
from rtstyle.live import View, compose
from rtstyle.model import ASSETS
from rtstyle.pipeline import Pipeline

SHEET_STYLES = 4  # columns of the side-by-side sheet besides the original


def camera_available(index: int = 0) -> bool:
    try:
        CameraSource(index).start().stop()
        return True
    except RtstyleError:
        return False


def fresh_folder(base: Path) -> Path:
    """base, or base-2, base-3… whichever does not exist yet: the demo never overwrites earlier results."""
    folder, number = base, 1
    while folder.exists():
        number += 1
        folder = base.with_name(f"{base.name}-{number}")
    folder.mkdir(parents=True)
    return folder


def demo_command(args: argparse.Namespace) -> None:
    from rtstyle.io.sources import open_source

    started = time.perf_counter()
    stylizer = open_stylizer(args)
    use_camera = args.source is None and camera_available()
    spec = args.source or ("0" if use_camera else str(ASSETS / "sample.mp4"))
    source = open_source(spec)
    label = "webcam" if use_camera else Path(spec).name
    # the engine `rtstyle run` uses: one-thread workers side by side for a file, one model for a live source
    workers = [stylizer] if source.live else stylizer.replicas(min(4, os.cpu_count() or 1))
    loaded = time.perf_counter()
    source.start()
    try:
        blank = np.zeros((source.info.height, source.info.width, 3), np.uint8)
        for worker in workers:  # first inferences are slow (allocation, kernel choice): a one-off cost, not fps
            worker([blank])
        warmed = time.perf_counter()
        folder = fresh_folder(Path(args.out))
        try:
            video, stats, out_times, first = _record(stylizer, workers, source, folder, use_camera, args.seconds)
            if not first:
                raise RtstyleError(f"no frames came from the {label}")
            sheet = folder / "side-by-side.png"
            write_image(sheet, side_by_side_sheet(stylizer, first[0]))
        except BaseException:
            if not any(folder.iterdir()):  # a failed demo leaves nothing behind
                folder.rmdir()
            raise
    finally:
        source.stop()
    backend = stylizer.backend
    provider = f" ({backend.providers[0]})" if getattr(backend, "providers", None) else ""
    running = len(out_times) - 2  # frames out after the first, whose write starts the encoder
    fps = running / (out_times[-1] - out_times[1]) if running > 0 and out_times[-1] > out_times[1] else stats.fps
    print(f"stylized {stats.frames_out} frames of the {label} with {backend.path.name} ({stylizer.meta.variant}, "
          f"style {stylizer.style.label}) on {backend.name}{provider}, {len(workers)} worker(s): "
          f"{fps:.1f} fps once running")
    print(f"one-off costs: model load {loaded - started:.1f} s, warm-up {warmed - loaded:.1f} s, first frames out "
          f"(decoder and encoder start) {out_times[min(1, len(out_times) - 1)] - warmed:.1f} s; "
          f"{time.perf_counter() - started:.1f} s in all")
    print(f"wrote {video}")
    print(f"wrote {sheet}")


def _record(stylizer, workers: list, source, folder: Path, use_camera: bool, seconds: float):
    """Stylize the source into FOLDER/stylized-STYLE.mp4 (the webcam for `seconds`, in a window too).
    Returns (video path, pipeline stats, the time each frame came out, [the first original frame])."""
    from rtstyle.io.video_out import open_video_sink

    video = folder / f"stylized-{slug(stylizer.style.label)}.mp4"
    sinks = [open_video_sink(video, source.info, fps=source.info.fps or 30.0)]
    if use_camera:
        from rtstyle.io.sinks import WindowSink

        sinks.insert(0, WindowSink(on_key=lambda key: key in (ord("q"), 27)))
        print(f"recording the webcam for {seconds:.0f} s (q to stop sooner)…")
    first: list[np.ndarray] = []
    out_times: list[float] = []

    def keep_first(frame, stats):
        out_times.append(time.perf_counter())
        if not first:
            first.append(frame.original)
        return compose(frame, View())

    pipeline = Pipeline(source, workers, sinks, compose=keep_first, progress=not source.live,
                        max_frames=int(seconds * (source.info.fps or 30)) if source.live else None)
    try:
        stats = pipeline.run()
    except KeyboardInterrupt:
        stats = pipeline.stats
    return video, stats, out_times, first


def side_by_side_sheet(stylizer, frame: np.ndarray) -> np.ndarray:
    """The first frame, then the same frame in several of the model's styles, side by side, labelled."""
    chosen = stylizer.current
    cells = [draw_lines(frame, ["original"])]
    for index in list(dict.fromkeys([chosen, *range(len(stylizer.styles))]))[:SHEET_STYLES]:
        stylizer.current = index
        cells.append(draw_lines(stylizer([frame])[0], [stylizer.style.label]))
    stylizer.current = chosen
    return np.hstack(cells)
