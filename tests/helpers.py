"""Things several test files make: small models with distinct styles, clips with an audio track, CLI runs."""
from __future__ import annotations

import http.server
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from rtstyle.meta import ModelMeta
from rtstyle.models import create_model
from rtstyle.models.checkpoint import save_checkpoint
from rtstyle.models.norms import ConditionalInstanceNorm, InstanceNorm, PredictedInstanceNorm

STYLE_NAMES = ["ember", "ocean", "moss"]
# In CI (.ci/run sets RTSTYLE_STRICT=1) tests that need a system tool run, and fail if it is missing, instead of
# being skipped.
STRICT = os.environ.get("RTSTYLE_STRICT") == "1"


def make_checkpoint(path: Path, family: str, variant: str = "tiny"):
    """An untrained model whose norms are moved off their identity start, so every style looks different."""
    torch.manual_seed(0)
    model = create_model(family, variant, num_styles=3, style_dim=8)
    for module in model.modules():
        if isinstance(module, (ConditionalInstanceNorm, InstanceNorm)):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
        if isinstance(module, PredictedInstanceNorm):
            module.to_gamma.weight.data.normal_(0, 0.1)
            module.to_beta.weight.data.normal_(0, 0.1)
    names = {"feedforward": ["ember"], "cin": STYLE_NAMES, "arbitrary": []}[family]
    dim = {"feedforward": 0, "cin": 3, "arbitrary": 8}[family]
    meta = ModelMeta(family, variant, style_names=names, style_dim=dim, training={"steps": 0},
                     max_size=model.variant.max_side)
    save_checkpoint(path, model, meta)
    return model.eval(), meta


def make_clip(path: Path, seconds: float = 2.0, fps: int = 25, size=(160, 120), sample_rate: int = 44100,
              audio: bool = True) -> None:
    """An H.264 clip of a bar sweeping left to right (every frame differs), with a 440 Hz AAC tone."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        sound = out.add_stream("aac", rate=sample_rate) if audio else None
        if sound:
            sound.layout = "stereo"
        count = int(seconds * fps)
        for i in range(count):
            image = np.full((size[1], size[0], 3), 40, np.uint8)
            image[:, : (i + 1) * size[0] // count] = (0, 128, 255)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        if sound:
            t = np.arange(int(seconds * sample_rate)) / sample_rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = av.AudioFrame.from_ndarray(np.stack([tone[start:start + 1024]] * 2), format="fltp",
                                                   layout="stereo")
                chunk.sample_rate, chunk.pts = sample_rate, start
                for packet in sound.encode(chunk):
                    out.mux(packet)
        for stream in (video, sound):
            if stream:
                for packet in stream.encode(None):
                    out.mux(packet)


def probe(path: Path) -> dict:
    """Frames, size, rate and codec of the video, and the sample count of the audio."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video)]
        info = {"frames": frames, "count": len(frames), "size": (video.width, video.height),
                "fps": float(video.average_rate), "codec": video.codec_context.name, "samples": 0,
                "audio_seconds": 0.0}
        if container.streams.audio:
            container.seek(0)
            audio = container.streams.audio[0]
            info["samples"] = sum(f.samples for f in container.decode(audio))
            info["audio_seconds"] = info["samples"] / audio.codec_context.sample_rate
    return info


def rtstyle(*args, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rtstyle", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str, code: int = 1) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code and len(lines) == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert all(word in lines[0] for word in words), lines[0]


class LiveStream:
    """A real clip served as a live MPEG-TS stream over HTTP on loopback, at the clip's own pace and looping, like a
    network camera. `drop()` cuts every connection and stops listening (the camera goes away); `restore()` listens
    again on the same port, and each new connection starts the clip from its beginning."""

    def __init__(self, clip: Path):
        import av

        data = io.BytesIO()
        with av.open(str(clip)) as src, av.open(data, "w", format="mpegts") as dst:
            stream = dst.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(src.streams.video[0]):
                if packet.dts is not None:  # the demuxer's empty end packet
                    packet.stream = stream
                    dst.mux(packet)
            seconds = float(src.duration) / 1e6
        self.data, self.bytes_per_second = data.getvalue(), len(data.getvalue()) / seconds
        self.port, self.connections = 0, 0
        self._cut = threading.Event()
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/live.ts"

    def restore(self) -> LiveStream:
        owner, cut = self, threading.Event()  # one per serving: a restore never revives a dropped connection
        self._cut = cut

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                owner.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.end_headers()
                chunk = max(188, int(owner.bytes_per_second * 0.04) // 188 * 188)  # ~40 ms of TS packets
                start, sent = time.perf_counter(), 0
                try:
                    while not cut.is_set():
                        piece = owner.data[sent % len(owner.data):][:chunk]
                        self.wfile.write(piece)
                        sent += len(piece)
                        time.sleep(max(0.0, start + sent / owner.bytes_per_second - time.perf_counter()))
                except OSError:  # the reader went away
                    pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]  # the real one the first time (0 asks for a free one)
        threading.Thread(target=self._server.serve_forever, name="live-stream", daemon=True).start()
        return self

    start = restore

    def drop(self) -> None:
        self._cut.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
