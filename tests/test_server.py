"""The MJPEG endpoint: real HTTP clients and a real headless browser."""
from __future__ import annotations

import http.client
import shutil
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest
from helpers import STRICT, rtstyle

from rtstyle.frames import Frame
from rtstyle.io.mjpeg import BOUNDARY, MjpegServer


def feed(server: MjpegServer, stop: threading.Event, size=(120, 160)) -> None:
    index = 0
    while not stop.is_set():
        image = np.zeros((*size, 3), np.uint8)
        image[:, :, 2] = 200  # red
        image[:, index % size[1]] = 255
        server.write(Frame(image, index))
        index += 1
        time.sleep(0.02)


@pytest.fixture
def server():
    server = MjpegServer(port=0).start()
    stop = threading.Event()
    thread = threading.Thread(target=feed, args=(server, stop), daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join()
    server.close()


def read_parts(server: MjpegServer, count: int) -> list[np.ndarray]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.request("GET", "/stream.mjpg")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    images = []
    while len(images) < count:
        line = response.fp.readline()
        if line.startswith(b"Content-Length:"):
            length = int(line.split(b":")[1])
            response.fp.readline()  # blank line
            images.append(cv2.imdecode(np.frombuffer(response.fp.read(length), np.uint8), cv2.IMREAD_COLOR))
    connection.close()
    return images


def test_stream_serves_decodable_jpegs(server):
    images = read_parts(server, 5)
    assert all(image is not None and image.shape == (120, 160, 3) for image in images)
    assert all(image[..., 2].mean() > 150 for image in images)  # the red frames came through
    assert server.host == "127.0.0.1"


def test_page_snapshot_and_unknown_paths(server):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.request("GET", "/")
    page = connection.getresponse().read().decode()
    assert '<img src="stream.mjpg"' in page
    connection.request("GET", "/frame.jpg")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
    for path in ("/../../etc/passwd", "/rtstyle/__init__.py", "/%2e%2e/secret"):
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        assert response.status == 404
    connection.close()


def test_a_client_that_stops_reading_does_not_stall_the_others(server):
    stalled = http.client.HTTPConnection(server.host, server.port, timeout=5)
    stalled.request("GET", "/stream.mjpg")  # never read from
    time.sleep(0.3)
    started = time.perf_counter()
    assert len(read_parts(server, 10)) == 10
    assert time.perf_counter() - started < 3
    stalled.close()


def test_token(tmp_path):
    server = MjpegServer(port=0, token="s3cret").start()
    server.write(Frame(np.zeros((16, 16, 3), np.uint8), 0))
    try:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
        connection.request("GET", "/frame.jpg")
        denied = connection.getresponse()
        denied.read()
        assert denied.status == 403
        connection.request("GET", "/frame.jpg?token=s3cret")
        assert connection.getresponse().status == 200
    finally:
        server.close()


def test_start_up_line_gives_the_page_snapshot_and_stream_addresses(photo):
    result = rtstyle("run", "--source", photo, "--serve", "0", "--no-window", "--token", "t0k")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("serving on http://127.0.0.1:")]
    assert "/?token=t0k" in line and "/frame.jpg?token=t0k" in line and "/stream.mjpg?token=t0k" in line


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome") or "chromium"


@pytest.mark.skipif(not shutil.which(CHROMIUM) and not STRICT, reason="needs Chromium (Debian package chromium)")
def test_page_renders_in_headless_chromium(server, tmp_path):
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=320,240", "--timeout=3000", server.url],
                   capture_output=True, timeout=60)
    image = cv2.imread(str(shot))
    assert image is not None, "Chromium wrote no screenshot"
    assert image[..., 2].mean() > 100  # the red stream fills the page, not a blank or black one
