"""`rtstyle demo`: the shipped default model on the webcam when there is one (a live window, also recorded), or on
the bundled sample clip otherwise; writes a stylized video and a side-by-side sheet and says where they are."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rtstyle.commands import ASSETS, View, compose, stylizer_from_args
from rtstyle.errors import RtstyleError
from rtstyle.images import write_image
from rtstyle.io.sinks import draw_lines
from rtstyle.io.sources import CameraSource
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
    from rtstyle.io.video_in import VideoFileSource
    from rtstyle.io.video_out import VideoFileSink

    stylizer = stylizer_from_args(args)
    folder = fresh_folder(Path(args.out))
    use_camera = args.source is None and camera_available()
    if use_camera:
        source = CameraSource(0)
        label = "webcam"
    else:
        clip = Path(args.source) if args.source else Path(str(ASSETS / "sample.mp4"))
        source = VideoFileSource(clip)
        label = clip.name
    source.start()
    video = folder / f"stylized-{_slug(stylizer.style.label)}.mp4"
    sinks = [VideoFileSink(video, source.info, fps=source.info.fps or 30.0)]
    if use_camera:
        from rtstyle.io.sinks import WindowSink

        sinks.insert(0, WindowSink(on_key=lambda key: key in (ord("q"), 27)))
        print(f"recording the webcam for {args.seconds:.0f} s (q to stop sooner)…")
    first: list[np.ndarray] = []

    def keep_first(frame, stats):
        if not first:
            first.append(frame.original)
        return compose(frame, View())

    pipeline = Pipeline(source, stylizer, sinks, compose=keep_first, progress=not use_camera,
                        max_frames=int(args.seconds * (source.info.fps or 30)) if use_camera else None)
    try:
        stats = pipeline.run()
    except KeyboardInterrupt:
        stats = pipeline.stats
    finally:
        source.stop()
    if not first:
        raise RtstyleError(f"no frames came from the {label}")
    sheet = folder / "side-by-side.png"
    write_image(sheet, side_by_side_sheet(stylizer, first[0]))
    backend = stylizer.backend
    provider = f" ({backend.providers[0]})" if getattr(backend, "providers", None) else ""
    print(f"stylized {stats.frames_out} frames of the {label} with {stylizer.backend.path.name} "
          f"({stylizer.meta.variant}, style {stylizer.style.label}) at {stats.fps:.1f} fps on {backend.name}{provider}")
    print(f"wrote {video}")
    print(f"wrote {sheet}")


def side_by_side_sheet(stylizer, frame: np.ndarray) -> np.ndarray:
    """The first frame, then the same frame in several of the model's styles, side by side, labelled."""
    chosen = stylizer.current
    cells = [draw_lines(frame, ["original"])]
    for index in list(dict.fromkeys([chosen, *range(len(stylizer.styles))]))[:SHEET_STYLES]:
        stylizer.current = index
        cells.append(draw_lines(stylizer([frame])[0], [stylizer.style.label]))
    stylizer.current = chosen
    return np.hstack(cells)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)[:40]
