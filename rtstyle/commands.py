"""The runtime's CLI commands: `rtstyle run`, `rtstyle stylize`, `rtstyle styles`. Options are declared in cli.py."""
from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from rtstyle.errors import RtstyleError
from rtstyle.files import check_output_path, slug
from rtstyle.images import read_image, write_image
from rtstyle.io.sources import ImageSource, open_source
from rtstyle.live import HOTKEYS, View, compose, key_handler
from rtstyle.model import ASSETS, open_model
from rtstyle.pipeline import Pipeline
from rtstyle.stylizer import Stylizer


def open_stylizer(args: argparse.Namespace, infer_size: int | None = None) -> Stylizer:
    """The model (through the front door), style, strength and colour options every command shares."""
    stylizer = Stylizer(open_model(args.model, args.backend, args.device, getattr(args, "precision", "auto")),
                        infer_size)
    stylizer.set_style(args.style)
    stylizer.set_strength(getattr(args, "strength", 1.0))
    stylizer.preserve_colors = getattr(args, "preserve_colors", False)
    return stylizer


def run_command(args: argparse.Namespace) -> None:
    from rtstyle.io.mjpeg import MjpegServer
    from rtstyle.io.sinks import ImageFolderSink, VirtualCameraSink, WindowClosed, WindowSink

    stylizer = open_stylizer(args, args.infer_size)
    print(f"model {stylizer.model.describe()}", flush=True)
    view = View(side_by_side=args.side_by_side)
    source = open_source(args.source, realtime=args.realtime, loop=args.loop)
    sinks: list = []
    output = None
    if args.output:
        inputs = [args.source] if Path(args.source).exists() else []
        if isinstance(source, ImageSource):
            output = Path(args.output)
            sinks.append(ImageFolderSink(output, overwrite=args.overwrite))
        else:
            from rtstyle.io.video_out import choose_codec, open_video_sink

            output = check_output_path(args.output, inputs=inputs, overwrite=args.overwrite)
            choose_codec(output.suffix, None)  # an unsupported container fails now, not after the first frame
    source.start()
    try:
        if output is not None and not isinstance(source, ImageSource):
            sinks.append(open_video_sink(output, source.info, preset=args.preset, crf=args.crf))
        if args.stream:
            from rtstyle.io.video_out import StreamSink

            sinks.append(StreamSink(args.stream, source.info.fps))
        server = None
        if args.serve is not None:
            server = MjpegServer(args.serve, args.host, token=args.token).start()
            sinks.append(server)
            print(f"serving on {server.url} (OBS: add a Browser source with this address); one frame: "
                  f"{server.link('/frame.jpg')}, the raw stream: {server.link('/stream.mjpg')}")
        if args.virtual_camera:
            sinks.append(VirtualCameraSink(source.info.fps or 30.0))
        pipeline_ref: list[Pipeline] = []

        def status() -> list[str]:
            if not view.show_stats:
                return []
            stats = pipeline_ref[0].stats
            colours = "  colours kept" if stylizer.preserve_colors else ""
            lines = [f"{stylizer.style.label}  strength {stylizer.strength:.1f}{colours}",
                     f"{stats.fps:.1f} fps  infer {stats.stage_ms('infer'):.0f} ms  latency "
                     f"{stats.latency_ms():.0f} ms  dropped {stats.dropped}"]
            if getattr(source, "reconnecting", False):
                lines.append(f"stream lost: reconnecting (reopened {source.reconnects} times so far)")
            return lines

        window = None
        if not args.no_window and (source.live or not sinks):
            window = WindowSink(on_key=key_handler(stylizer, view, pipeline_ref), status=status)
            sinks.insert(0, window)
            print(HOTKEYS)
        workers = stylizer if source.live else stylizer.replicas(args.workers or min(4, os.cpu_count() or 1))
        pipeline = Pipeline(source, workers, sinks, batch_size=args.batch,
                            compose=lambda frame, _: compose(frame, view), max_frames=args.max_frames,
                            progress=not source.live and window is None)
        pipeline_ref.append(pipeline)
        previous = {sig: signal.signal(sig, _interrupt_handler(pipeline)) for sig in (signal.SIGINT, signal.SIGTERM)}
        interrupted = False
        try:
            stats = pipeline.run()
        except (KeyboardInterrupt, WindowClosed):
            interrupted, stats = True, pipeline.stats
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        interrupted = interrupted or pipeline.interrupted
    finally:
        source.stop()
    print(("stopped: " if interrupted else "") + f"{stats.summary()}; backend {stylizer.backend.describe()}")
    if output is not None:
        print(f"wrote {output} ({stats.frames_out} frames)")


def _interrupt_handler(pipeline: Pipeline):
    """Ctrl-C or SIGTERM: the first ends the run cleanly (frames already read are finished and the output file is
    completed); a second one stops at once (the output is still finalised with what was written)."""
    def handle(signum, frame) -> None:
        if pipeline.interrupted:
            raise KeyboardInterrupt
        pipeline.interrupt()
    return handle


def stylize_command(args: argparse.Namespace) -> None:
    stylizer = open_stylizer(args, args.size)
    inputs = [Path(p) for p in args.images]
    if len(inputs) > 1 and args.output and Path(args.output).suffix:
        raise RtstyleError("several images need -o to be a folder")
    print(_style_line(stylizer))
    for path in inputs:
        image = read_image(path)
        out = Path(args.output) if args.output else path.with_name(f"{path.stem}_{slug(stylizer.style.label)}.png")
        if args.output and (out.is_dir() or not out.suffix):
            out.mkdir(parents=True, exist_ok=True)
            out = out / f"{path.stem}_{slug(stylizer.style.label)}.png"
        check_output_path(out, inputs=inputs, overwrite=args.overwrite)
        write_image(out, stylizer([image])[0])
        print(f"wrote {out}")


def _style_line(stylizer: Stylizer) -> str:
    """Which style runs, by number and name where the model has it built in ("style 3: starry_night"), so that
    `--style 3` says what 3 is."""
    label, meta = stylizer.style.label, stylizer.meta
    if label in meta.style_names:
        return f"style {meta.style_names.index(label)}: {label} ({stylizer.model.path.name})"
    return f"style: {label} ({stylizer.model.path.name})"


def styles_command(args: argparse.Namespace) -> None:
    stylizer = Stylizer(open_model(args.model, args.backend, args.device, args.precision))
    meta = stylizer.meta
    if args.style:
        stylizer.set_style(args.style)
    print(f"{stylizer.backend.path.name}: {meta.family} {meta.variant}, {meta.precision}")
    if meta.family == "arbitrary" and not stylizer.styles:
        print("any painting: pass --style PAINTING_OR_FOLDER to run it (and to draw a sheet)")
        return
    for index, style in enumerate(stylizer.styles):
        print(f"  {index:2d}  {style.label}")
    if args.sheet:
        from rtstyle.sheets import given_paintings, style_sheet, training_paintings

        sheet_path = check_output_path(args.sheet, overwrite=args.overwrite)
        photo = read_image(Path(args.photo) if args.photo else Path(str(ASSETS / "sample.jpg")))
        model_path = stylizer.model.path
        paintings = given_paintings(args.style) if meta.family == "arbitrary" else training_paintings(meta, model_path)
        what = "any painting" if meta.family == "arbitrary" else f"{len(stylizer.styles)} styles"
        title = [model_path.name, f"{meta.family} {meta.variant}: {what}"]
        write_image(sheet_path, style_sheet(stylizer, photo, paintings, title))
        print(f"wrote {sheet_path}")
