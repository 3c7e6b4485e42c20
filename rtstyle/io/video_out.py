"""Video output through PyAV (FFmpeg): a file with the input's frame rate, its codec where the container takes it,
and its audio copied in; and a live network stream. `open_video_sink` falls back to OpenCV's writer
(rtstyle.io.cv_video: no audio, MPEG-4) where PyAV is not installed.
"""
from __future__ import annotations

import heapq
import os
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from rtstyle.errors import RtstyleError
from rtstyle.files import partial_path
from rtstyle.frames import Frame, SourceInfo
from rtstyle.io import pyav
from rtstyle.io.pyav import load_av

CONTAINER_CODECS = {  # encoders a container takes, best first; the input's codec is kept when it is listed
    ".mp4": ("h264", "hevc", "mpeg4"), ".m4v": ("h264", "hevc", "mpeg4"), ".mov": ("h264", "hevc", "mpeg4", "mjpeg"),
    ".mkv": ("h264", "hevc", "vp9", "vp8", "mpeg4", "mjpeg"), ".webm": ("vp9", "vp8"),
    ".avi": ("mpeg4", "mjpeg", "h264", "msmpeg4"), ".ts": ("h264", "hevc", "mpeg2video"),
}
ENCODERS = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "vp8": "libvpx"}


def choose_codec(suffix: str, input_codec: str | None) -> str:
    """The codec to write a `suffix` file with: the input's where the container takes it, else its best."""
    choices = CONTAINER_CODECS.get(suffix.lower())
    if choices is None:
        raise RtstyleError(f"unsupported video format {suffix or '(none)'}: use {', '.join(CONTAINER_CODECS)}")
    return input_codec if input_codec in choices else choices[0]


class VideoEncoder:
    """Frames → an encoded video stream in a PyAV container (shared by the file and stream sinks)."""

    def __init__(self, container, codec: str, width: int, height: int, fps: float, realtime: bool = False,
                 preset: str = "ultrafast", crf: int = 20):
        av = load_av("video files")
        self.rate = Fraction(fps).limit_denominator(1001)
        self.stream = container.add_stream(ENCODERS.get(codec, codec), rate=self.rate)
        self.stream.width, self.stream.height = width - width % 2, height - height % 2  # yuv420p needs even sizes
        self.stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if self.stream.codec_context.name == "libx264":
            self.stream.options = ({"preset": "ultrafast", "tune": "zerolatency"} if realtime
                                   else {"preset": preset, "crf": str(crf)})
        elif codec in ("mpeg4", "msmpeg4", "mjpeg", "mpeg2video"):
            self.stream.codec_context.qscale = 3  # near-transparent for the old codecs
            self.stream.codec_context.flags |= av.codec.context.Flags.qscale  # PyAV ≥ 14 takes the enum, not a name
        self.container, self._av = container, av
        self.time_base = Fraction(1, 1) / self.rate
        self.stream.codec_context.time_base = self.time_base
        self.last_pts = -1

    def encode(self, image: np.ndarray, pts_seconds: float | None, index: int) -> None:
        image = image[: self.stream.height, : self.stream.width]
        if self.stream.pix_fmt == "yuv420p":  # OpenCV's conversion is ~2.5× faster than FFmpeg's swscale here
            frame = self._av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        else:
            frame = self._av.VideoFrame.from_ndarray(image, format="bgr24")
        pts = round(pts_seconds / self.time_base) if pts_seconds is not None else index
        frame.pts = max(pts, self.last_pts + 1)  # strictly increasing, whatever the source said
        self.last_pts = frame.pts
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def flush(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)


class VideoFileSink:
    """A video file with the input's frame rate and (where the container takes it) codec, and the input's audio.

    Video goes to a temporary file beside the target; `close()` finishes it, copies the input's audio up to the last
    frame written (remuxed, or re-encoded to AAC where the container cannot take the original), and renames the
    result into place. Ctrl-C therefore still leaves a playable file with every frame processed so far."""

    def __init__(self, path: str | Path, like: SourceInfo | None = None, fps: float | None = None,
                 preset: str = "ultrafast", crf: int = 20):
        """preset, crf: H.264/H.265 speed and quality (x264's names and scale). ultrafast at CRF 20 leaves the CPU to
        the network: on a 2-core machine veryfast costs ~4× its encoding time and superfast ~2× (for files about half
        and two thirds the size)."""
        self.path = Path(path)
        self.preset, self.crf = preset, crf
        self.like = like or SourceInfo(0, 0)
        self.fps = fps or self.like.fps or 30.0
        self.codec = choose_codec(self.path.suffix, self.like.codec)
        self._tmp = partial_path(self.path)
        self._encoder: VideoEncoder | None = None
        self.frames = 0

    def write(self, frame: Frame) -> None:
        if self._encoder is None:
            av = load_av("video files")
            height, width = frame.image.shape[:2]
            self._container = av.open(str(self._tmp), "w")
            self._encoder = VideoEncoder(self._container, self.codec, width, height, self.fps,
                                         preset=self.preset, crf=self.crf)
        self._encoder.encode(frame.image, frame.pts, frame.index)
        self.frames += 1

    def close(self) -> None:
        if self._encoder is None:
            return
        encoder, self._encoder = self._encoder, None
        try:
            encoder.flush()
            self._container.close()
            if self.like.has_audio and self.like.path:
                final = self._tmp.with_name(self._tmp.name + ".mux" + self.path.suffix)
                try:
                    add_audio(self._tmp, self.like.path, final)
                    os.replace(final, self._tmp)
                finally:
                    final.unlink(missing_ok=True)
            os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)


def add_audio(video_path: Path, audio_source: str, output: Path) -> None:
    """Mux `video_path`'s video with `audio_source`'s first audio track (cut at the video's end) into `output`,
    interleaved by time. The audio is copied as is, or re-encoded to AAC if the output container refuses it."""
    av = load_av("video files")
    with av.open(str(video_path)) as video_in, av.open(audio_source) as audio_in:
        video_stream = video_in.streams.video[0]
        audio_stream = audio_in.streams.audio[0]
        end = float(video_in.duration or 0) / 1e6 or float("inf")
        try:
            _mux(av, video_in, video_stream, audio_in, audio_stream, output, end, copy_audio=True)
        except Exception:
            video_in.seek(0)
            audio_in.seek(0)
            _mux(av, video_in, video_stream, audio_in, audio_stream, output, end, copy_audio=False)


def _mux(av, video_in, video_stream, audio_in, audio_stream, output: Path, end: float, copy_audio: bool) -> None:
    with av.open(str(output), "w") as out:
        video_out = out.add_stream_from_template(video_stream)
        if copy_audio:
            audio_out = out.add_stream_from_template(audio_stream)
        else:
            audio_out = out.add_stream("aac", rate=audio_stream.codec_context.sample_rate)
            audio_out.layout = audio_stream.codec_context.layout
        def packets(container, stream, target, encode: bool):
            for packet in container.demux(stream):
                if packet.dts is None:
                    continue
                seconds = float(packet.dts * packet.time_base)
                if stream.type == "audio" and seconds >= end:
                    break
                if encode:
                    for frame in packet.decode():
                        frame.pts = None
                        for encoded in target.encode(frame):
                            yield float(encoded.dts * encoded.time_base), 1, encoded
                else:
                    packet.stream = target
                    yield seconds, 0 if stream.type == "video" else 1, packet
            if encode:
                for encoded in target.encode(None):
                    yield float((encoded.dts or 0) * encoded.time_base), 1, encoded
        merged = heapq.merge(packets(video_in, video_stream, video_out, False),
                             packets(audio_in, audio_stream, audio_out, not copy_audio), key=lambda item: item[:2])
        for _, _, packet in merged:
            out.mux(packet)


class StreamSink:
    """Send frames to a network stream: rtmp:// (FLV, e.g. to a streaming server) or udp:// / tcp:// / srt://
    (MPEG-TS), H.264 tuned for low latency."""

    FORMATS = {"rtmp": "flv", "rtmps": "flv", "udp": "mpegts", "tcp": "mpegts", "srt": "mpegts", "rtsp": "rtsp"}

    def __init__(self, url: str, fps: float | None = None):
        scheme = url.split("://", 1)[0].lower()
        if scheme not in self.FORMATS:
            raise RtstyleError(f"unsupported stream output {url}: use rtmp://, udp://, tcp://, srt:// or rtsp://")
        self.url, self.format, self.fps = url, self.FORMATS[scheme], fps or 30.0
        self._encoder: VideoEncoder | None = None
        self._start = None

    def write(self, frame: Frame) -> None:
        if self._encoder is None:
            av = load_av("network streams")
            try:
                self._container = av.open(self.url, "w", format=self.format)
            except Exception as exc:
                raise RtstyleError(f"cannot open stream output {self.url}: {exc}".splitlines()[0]) from None
            height, width = frame.image.shape[:2]
            self._encoder = VideoEncoder(self._container, "h264", width, height, self.fps, realtime=True)
            self._start = time.perf_counter()
        # live output: time stamps from the wall clock, so a slow pipeline plays at its true rate
        self._encoder.encode(frame.image, time.perf_counter() - self._start, frame.index)

    def close(self) -> None:
        if self._encoder is not None:
            encoder, self._encoder = self._encoder, None
            try:
                encoder.flush()
            finally:
                self._container.close()


def open_video_sink(path: str | Path, like: SourceInfo | None = None, fps: float | None = None,
                    preset: str = "ultrafast", crf: int = 20, log: Callable[[str], None] = print):
    """A sink writing the video file `path`: through PyAV where it is installed (codec and audio kept), else through
    OpenCV, saying so in one line through `log` (the frames are all there; the audio is not)."""
    if pyav.available():
        return VideoFileSink(path, like, fps=fps, preset=preset, crf=crf)
    from rtstyle.io.cv_video import CvVideoFileSink

    sink = CvVideoFileSink(path, like, fps=fps)
    log(f"PyAV is not installed: writing {Path(path).name} through OpenCV as {sink.codec_name}, without audio "
        "(pip install 'rtstyle[video]' keeps the codec and the audio)")
    return sink
