"""Sources: a network stream that drops is reopened; bad inputs fail with one line."""
from __future__ import annotations

import functools
import http.server
import threading

import pytest
from helpers import make_clip

from rtstyle.errors import RtstyleError
from rtstyle.io.sources import CameraSource, ImageSource, open_source
from rtstyle.io.video_in import StreamSource, VideoFileSource


@pytest.fixture
def http_clip(tmp_path):
    """An MPEG-TS clip served over HTTP on loopback: every download ends after 1 s of video (a dropped stream)."""
    import av

    make_clip(tmp_path / "clip.mp4", seconds=1.0, audio=False)
    with av.open(str(tmp_path / "clip.mp4")) as src, av.open(str(tmp_path / "clip.ts"), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/clip.ts"
    server.shutdown()


def test_stream_that_drops_is_reopened(http_clip):
    source = StreamSource(http_clip, timeout=2.0)
    source.start()
    try:
        frames = [source.read() for _ in range(60)]  # more than one download holds
    finally:
        source.stop()
    assert all(f is not None for f in frames)
    assert source.reconnects >= 1
    assert [f.index for f in frames] == list(range(60))


def test_stream_that_refuses_gives_one_line_error():
    with pytest.raises(RtstyleError, match="cannot open stream") as info:
        StreamSource("http://127.0.0.1:9/none.ts", timeout=1.0).start()
    assert "\n" not in str(info.value)


def test_bad_inputs(tmp_path, photo):
    with pytest.raises(RtstyleError, match="source not found"):
        open_source(str(tmp_path / "missing.mp4"))
    fake = tmp_path / "fake.mp4"
    fake.write_text("no video here")
    with pytest.raises(RtstyleError, match="not a readable video"):
        VideoFileSource(fake)
    with pytest.raises(RtstyleError, match="no images"):
        ImageSource(tmp_path)
    with pytest.raises(RtstyleError, match="camera 57 not found"):
        CameraSource(57).start()
    assert open_source(str(photo)).read().image.shape[2] == 3
