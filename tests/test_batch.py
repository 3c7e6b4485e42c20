"""`rtstyle batch` on a real local Ray (2 workers): real clips (cut from ../shared/video, with an audio track added)
come out with every frame and their audio; a corrupt file fails alone; a killed worker's file is retried and
completed; a re-run skips what is done; a file cut into segments comes out as one pass over it would."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import probe, rtstyle

from rtstyle.cluster.jobs import TEMP_TAG, expand_inputs, plan_jobs, publish
from rtstyle.cluster.work import ModelBundle, Options
from rtstyle.errors import RtstyleError
from rtstyle.model import resolve_model
from rtstyle.segments import frame_index, plan_segments

ray = pytest.importorskip("ray")
av = pytest.importorskip("av")


def cut_clip(source: Path, out: Path, frames: int, width: int = 160, gop: int = 10, audio: bool = True) -> Path:
    """The first `frames` frames of a real video, scaled to `width`, as H.264 with a keyframe every `gop` frames,
    plus an AAC tone as long as the video (the shared clips have no audio)."""
    import cv2

    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        stream = src.streams.video[0]
        rate = stream.average_rate
        height = round(stream.height * width / stream.width / 2) * 2
        video = dst.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        sound = dst.add_stream("aac", rate=44100) if audio else None
        if sound:
            sound.layout = "stereo"
        count = 0
        for decoded in src.decode(stream):
            if count == frames:
                break
            image = cv2.resize(decoded.to_ndarray(format="bgr24"), (width, height), interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = count
            dst.mux(video.encode(frame))
            count += 1
        if sound:
            t = np.arange(int(count / float(rate) * 44100)) / 44100
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = av.AudioFrame.from_ndarray(np.stack([tone[start:start + 1024]] * 2), format="fltp",
                                                   layout="stereo")
                chunk.sample_rate, chunk.pts = 44100, start
                dst.mux(sound.encode(chunk))
        for target in (video, sound):
            if target:
                dst.mux(target.encode(None))
    return out


def garble(clip: Path, out: Path) -> Path:
    """A file whose header reads but whose frames are noise: the index is moved to the front, the rest overwritten."""
    fast = out.with_name("fast-" + out.name)
    with av.open(str(clip)) as src, av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        target = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = target
                dst.mux(packet)
    data = bytearray(fast.read_bytes())
    start = data.find(b"mdat") + 4
    data[start:] = np.random.default_rng(0).integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
    out.write_bytes(bytes(data))
    fast.unlink()
    return out


@pytest.fixture(scope="module")
def clips(shared, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    video = shared / "video"
    return {"bikes": cut_clip(video / "bikes.mp4", folder / "bikes.mp4", 60),
            "carphone": cut_clip(video / "carphone_pristine.mp4", folder / "carphone.mp4", 24, width=144),
            "vtest": cut_clip(video / "vtest.avi", folder / "vtest.mp4", 30, width=128),
            "long": cut_clip(video / "bikes.mp4", folder / "long.mp4", 200, width=128, audio=False)}


@pytest.fixture(scope="module")
def cluster():
    """A real local Ray with 2 worker CPUs for this module; its address lets a CLI process join it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_inputs_outputs_and_publishing(clips, tmp_path):
    folder = clips["bikes"].parent
    assert expand_inputs([str(folder)]) == sorted(p.absolute() for p in folder.glob("*.mp4"))
    assert expand_inputs([str(folder / "b*.mp4"), str(clips["bikes"])]) == [clips["bikes"].absolute()]
    with pytest.raises(RtstyleError, match="input not found"):
        expand_inputs([str(folder / "nope.mp4")])
    with pytest.raises(RtstyleError, match="would both write"):
        plan_jobs([clips["bikes"], tmp_path / "bikes.avi"], tmp_path, ".mp4")
    with pytest.raises(RtstyleError, match="overwrite an input"):
        plan_jobs([clips["bikes"]], folder)
    job = plan_jobs([clips["bikes"]], tmp_path)[0]
    job.temp().write_bytes(b"new")
    job.output.write_bytes(b"old")
    with pytest.raises(RtstyleError, match="output exists"):
        publish(job.temp(), job.output, overwrite=False)
    assert job.output.read_bytes() == b"old"
    publish(job.temp(), job.output, overwrite=True)
    assert job.output.read_bytes() == b"new" and not job.temp().exists()


def test_segments_cut_at_keyframes_and_hold_every_frame_once(clips):
    stamps, keys, _ = frame_index(clips["bikes"])
    segments = plan_segments(clips["bikes"], 0.8)  # keyframes every 10 frames = 0.4 s at 25 fps
    assert [s.start for s in segments] == [keys[0], keys[2], keys[4]]
    assert [s.frames for s in segments] == [20, 20, 20] and segments[-1].end is None
    assert len(plan_segments(clips["bikes"], 0)) == 1 and sum(s.frames for s in segments) == len(stamps)


def test_batch_cli_every_frame_and_audio_a_corrupt_file_fails_alone_and_a_rerun_skips(clips, tmp_path, cluster):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    good = ["bikes", "carphone", "vtest"]
    for name in good:
        os.symlink(clips[name], inputs / f"{name}.mp4")
    (inputs / "truncated.mp4").write_bytes(clips["bikes"].read_bytes()[:3000])
    garble(clips["bikes"], inputs / "garbled.mp4")
    args = ["batch", inputs, "-o", out, "--model", "cin-tiny", "--style", "1", "--segment-seconds", "0"]
    result = rtstyle(*args, "--workers", "2", timeout=240)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    failures = [line for line in result.stderr.splitlines() if "failed:" in line]
    assert len(failures) == 2 and any("truncated.mp4" in f for f in failures) and \
        any("garbled.mp4: not a readable video (no frame decodes)" in f for f in failures), result.stderr
    assert result.stderr.strip().endswith("2 of 5 files failed (listed above)")
    for name in good:
        before, after = probe(clips[name]), probe(out / f"{name}.mp4")
        assert after["count"] == before["count"] and after["fps"] == before["fps"], name
        assert after["samples"] == before["samples"] > 0, name
        assert np.abs(after["frames"][5].astype(int) - before["frames"][5]).mean() > 10  # stylized, not copied
    assert sorted(p.name for p in out.iterdir()) == [f"{name}.mp4" for name in good]  # no partial files left
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = rtstyle(*args, "--ray", cluster, timeout=240)  # joins the running cluster instead of starting one
    assert again.returncode == 1 and "skipping 3 already done" in again.stdout, again.stdout + again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    assert len([line for line in again.stderr.splitlines() if "failed:" in line]) == 2


def _run(plans, options: Options, **kwargs):
    from rtstyle.cluster.runner import run_jobs

    attempts: dict[int, int] = {}

    def count(result, started: int) -> None:
        attempts[result.job.index] = started

    results = run_jobs(plans, ModelBundle.from_path(resolve_model("cin-tiny")), options, poll=0.05,
                       on_result=count, **kwargs)
    return results, attempts


def test_a_killed_workers_file_is_retried_and_completed(clips, tmp_path, cluster):
    killed: list[int] = []

    def kill_mid_file(update) -> None:  # SIGKILL the worker of file 0 once it has written some frames
        if not killed and 0 < update.frames.get("0", 0) < 200:
            killed.append(update.pids["0"])
            os.kill(update.pids["0"], signal.SIGKILL)

    for _ in range(3):  # a fast machine may finish the file between two looks: try again
        jobs = plan_jobs([clips["long"], clips["carphone"]], tmp_path)
        results, attempts = _run([(job, None) for job in jobs], Options(overwrite=True), on_update=kill_mid_file)
        for job in jobs:
            job.clean_temps()
        if killed:
            break
    assert killed, "never saw the task mid-file"
    assert [r.error for r in results] == [None, None] and attempts[0] == 2 and attempts[1] == 1
    assert probe(jobs[0].output)["count"] == 200 and probe(jobs[1].output)["count"] == 24
    assert not [p for p in tmp_path.iterdir() if TEMP_TAG in p.name]


def test_segments_on_two_workers_equal_one_pass_frame_for_frame(clips, tmp_path, cluster):
    from rtstyle.cluster.runner import run_jobs

    clip = clips["bikes"]
    segments = plan_segments(clip, 0.8)
    assert len(segments) == 3
    barrier = _Barrier.remote(2)
    assert len(set(ray.get([_worker_pid.remote(barrier), _worker_pid.remote(barrier)]))) == 2  # both workers up
    decoded = {}
    for crf in (0, 20):  # 0: x264 lossless, so any difference is ours, not the encoder's
        single = tmp_path / f"single-{crf}.mp4"
        result = rtstyle("run", "--source", clip, "-o", single, "--model", "cin-tiny", "--style", "1",
                         "--crf", str(crf), "--no-window", "--workers", "1")  # one process, one inference thread
        assert result.returncode == 0, result.stderr
        (tmp_path / str(crf)).mkdir()
        job = plan_jobs([clip], tmp_path / str(crf))[0]
        pids: dict[str, int] = {}
        results = run_jobs([(job, segments)], ModelBundle.from_path(resolve_model("cin-tiny")),
                           Options(style="1", crf=crf), poll=0.05, on_update=lambda u, seen=pids: seen.update(u.pids))
        assert results[0].error is None and results[0].frames == 60
        assert len({pids[f"0:{s.index}"] for s in segments}) == 2  # the segments ran on both workers
        one, split = probe(single), probe(job.output)
        assert split["count"] == one["count"] == 60 and split["samples"] == one["samples"] > 0
        assert _times(job.output) == _times(single)
        decoded[crf] = [np.stack(one["frames"]).astype(float), np.stack(split["frames"]).astype(float)]
    exact, (single, split) = decoded[0][0], decoded[20]
    assert np.array_equal(decoded[0][1], exact)  # lossless: the same frames, bit for bit, joins included
    # Lossy: each pass differs from the exact frames by encoder noise only, mean |difference| per frame in levels
    noise_single = np.abs(single - exact).mean(axis=(1, 2, 3))
    noise_split = np.abs(split - exact).mean(axis=(1, 2, 3))
    assert noise_split.mean() < 1.25 * noise_single.mean() + 0.25, (noise_split, noise_single)
    for join in (20, 40):  # no seam: the frames at a join are no worse than a one-pass encode's worst frame
        assert noise_split[join - 1:join + 1].max() <= noise_single.max() + 0.25, (join, noise_split, noise_single)


@ray.remote(num_cpus=0)
class _Barrier:
    """Holds every caller until `parties` have arrived (an async actor: its calls wait side by side)."""

    def __init__(self, parties: int) -> None:
        self.parties, self.arrived, self.event = parties, 0, asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.parties:
            self.event.set()
        await self.event.wait()


@ray.remote(num_cpus=1)
def _worker_pid(barrier) -> int:
    ray.get(barrier.wait.remote(), timeout=120)  # two of these meet, so two worker processes are up at once
    return os.getpid()


def _times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [round(float(f.pts * stream.time_base), 6) for f in container.decode(stream)]


def test_a_garbled_file_ends_in_one_line_and_never_hangs(clips, tmp_path):
    """Regression: with a PyAV log level set, closing the decoder after the error deadlocked on the GIL."""
    bad = garble(clips["bikes"], tmp_path / "garbled.mp4")
    code = ("import sys\nfrom rtstyle.io.video_in import VideoFileSource\nfor _ in range(3):\n"
            "    s = VideoFileSource(sys.argv[1]).start()\n    try:\n        s.read()\n    except Exception as e:\n"
            "        print(e)\n    s.stop()\n")
    result = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, timeout=60)
    assert result.stdout.count("no frame decodes") == 3, result.stdout + result.stderr
