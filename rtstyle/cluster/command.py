"""`rtstyle batch INPUTS... -o OUT_DIR`: every input video stylized into OUT_DIR by Ray tasks, long ones cut into
keyframe segments that run in parallel. Options are declared in cli.py.

Before any task starts, the driver checks what can fail early (inputs, OUT_DIR, the model and the style, each
file's header), so a typo is one line, not a cluster's worth of failed tasks. Files already in OUT_DIR are skipped (a
re-run picks up where an interrupted one stopped; outputs appear only when complete); a file that fails is reported
in one line while the others finish, and the exit code is 1 if any failed.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time

from rtstyle.cluster.jobs import Job, expand_inputs, plan_jobs
from rtstyle.cluster.work import ModelBundle, Options, Result
from rtstyle.errors import RtstyleError
from rtstyle.progress import Progress
from rtstyle.segments import Segment, plan_segments


def _check(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise RtstyleError("--workers must be at least 1")
    if args.cpus_per_task <= 0:
        raise RtstyleError("--cpus-per-task must be more than 0")
    if args.retries < 0 or args.segment_seconds < 0:
        raise RtstyleError("--retries and --segment-seconds cannot be negative")
    if not 0 <= args.crf <= 51:
        raise RtstyleError("--crf must be between 0 and 51")


def _bundle(args: argparse.Namespace) -> ModelBundle:
    """Load the model here once, with the style options, so a wrong model or style fails before the cluster starts;
    then pack its files for the workers."""
    from rtstyle.commands import open_stylizer
    from rtstyle.model import resolve_model

    open_stylizer(args, args.infer_size).model.close()
    return ModelBundle.from_path(resolve_model(args.model), args.style)


def _plan(job: Job, seconds: float) -> tuple[list[Segment] | None, int]:
    """(segments, or None to run the file as one task; its frame count, as far as the header tells). Splitting
    needs PyAV (packet timestamps and seeking); without it every file is one task."""
    from rtstyle.io import pyav
    from rtstyle.io.sources import open_video_file

    info = open_video_file(job.input).info
    duration = (info.frame_count or 0) / (info.fps or 1)
    if seconds <= 0 or duration <= seconds or not pyav.available():
        return None, info.frame_count or 0
    segments = plan_segments(job.input, seconds)
    return (segments if len(segments) > 1 else None), sum(s.frames for s in segments)


def batch_command(args: argparse.Namespace) -> None:
    from rtstyle.cluster import runner
    from rtstyle.io.video_out import choose_codec

    _check(args)
    jobs = plan_jobs(expand_inputs(args.inputs), args.output, args.suffix)
    for suffix in sorted({job.output.suffix for job in jobs}):
        choose_codec(suffix, None)  # an output container we cannot write fails now
    done = [job for job in jobs if job.output.exists() and not args.overwrite]
    todo = [job for job in jobs if job not in done]
    if done:
        print(f"skipping {len(done)} already done (use --overwrite to redo them)")
    if not todo:
        print(f"nothing to do: all {len(jobs)} outputs exist in {args.output}")
        return
    bundle = _bundle(args)
    gpus = args.gpus_per_task if args.gpus_per_task is not None else \
        (1.0 if args.device.split(":")[0] in ("cuda", "tensorrt") else 0.0)
    options = Options(args.style, args.strength, args.preserve_colors, args.infer_size, args.backend, args.device,
                      args.preset, args.crf, max(1, round(args.cpus_per_task)), args.overwrite)
    failed: list[Result] = []
    plans, expected = [], {}
    for job in todo:
        try:
            segments, frames = _plan(job, args.segment_seconds)
        except RtstyleError as exc:
            failed.append(Result(job, error=str(exc)))
            _say(None, f"rtstyle batch: failed: {job.input}: {exc}", sys.stderr)
            continue
        plans.append((job, segments))
        expected[job.index] = frames
    started = runner.connect(args.ray, args.workers) if plans else False
    began = time.perf_counter()
    results: list[Result] = []
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM ends a batch as Ctrl-C does
    try:
        if plans:
            results = _run(runner, plans, bundle, options, expected, gpus, args)
    finally:  # also when interrupted: no half-written files stay behind, the local Ray stops
        signal.signal(signal.SIGTERM, previous)
        for job in todo:
            job.clean_temps()
        if started:
            runner.shutdown()
    seconds = time.perf_counter() - began
    failed += [r for r in results if r.error]
    ok = [r for r in results if not r.error]
    frames = sum(r.frames for r in ok)
    print(f"batch: {len(ok)} of {len(todo)} files stylized, {frames} frames in {seconds:.1f} s = "
          f"{frames / seconds if seconds > 0 else 0:.1f} fps")
    if failed:
        raise RtstyleError(f"{len(failed)} of {len(todo)} files failed (listed above)")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _run(runner, plans, bundle: ModelBundle, options: Options, expected: dict[int, int], gpus: float,
         args: argparse.Namespace) -> list[Result]:
    """Run the plans with one progress line: frames written over the frames of the files still expected to finish
    (a failed file leaves the total, and its frames the count)."""
    slots = runner.cluster_slots(args.cpus_per_task, gpus)
    print(f"{len(plans)} files ({sum(len(s) for _, s in plans if s)} segments) on {slots}", flush=True)
    finished, lost = [0], set()
    with Progress(total=sum(expected.values()) or None, label="batch", unit="frame") as bar:
        def on_update(update) -> None:
            done = sum(n for key, n in update.frames.items() if int(key.split(":")[0]) not in lost)
            bar.update(done - bar.count, files=f"{finished[0]}/{len(plans)}")

        def on_result(result: Result, attempts: int) -> None:
            finished[0] += 1
            if result.error:
                lost.add(result.job.index)
                bar.total = (bar.total or 0) - expected[result.job.index] or None
                _say(bar, f"rtstyle batch: failed: {result.job.input}: {result.error}", sys.stderr)
            else:
                retried = f", retried {attempts - 1}× after a lost worker" if attempts > 1 else ""
                _say(bar, f"wrote {result.job.output} ({result.frames} frames{retried})", sys.stdout)

        return runner.run_jobs(plans, bundle, options, cpus=args.cpus_per_task, gpus=gpus, retries=args.retries,
                               on_update=on_update, on_result=on_result)


def _say(bar: Progress | None, text: str, stream) -> None:
    """A line of its own, above a live progress line (which redraws at its next update)."""
    if bar is not None and bar.tty:
        bar.stream.write("\r\033[K")
        bar.stream.flush()
    print(text, file=stream, flush=True)
