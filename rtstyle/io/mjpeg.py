"""The newest stylized frame over HTTP, for browsers and OBS ("Browser source" on the page, or "Media source" on the
stream):

    /            a page that shows the stream full-window
    /stream.mjpg multipart MJPEG (multipart/x-mixed-replace)
    /frame.jpg   the newest frame as one JPEG

Binds 127.0.0.1 unless told otherwise. Each client always gets the newest frame: a slow client skips frames and never
holds up the pipeline; one that stops reading is dropped after a timeout. JPEGs are encoded once per frame and only
while someone is watching.
"""
from __future__ import annotations

import hmac
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import cv2

from rtstyle.errors import RtstyleError
from rtstyle.frames import Frame

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>rtstyle</title>
<style>html,body{{margin:0;height:100%;background:#000}}img{{width:100%;height:100%;object-fit:contain}}</style>
</head><body><img src="stream.mjpg{query}" alt="rtstyle stream"></body></html>"""
BOUNDARY = "rtstyleframe"


class MjpegServer:
    def __init__(self, port: int = 8080, host: str = "127.0.0.1", quality: int = 85, token: str | None = None,
                 max_clients: int = 8, client_timeout: float = 5.0):
        self.host, self.port, self.quality, self.token = host, port, quality, token
        self.max_clients, self.client_timeout = max_clients, client_timeout
        self._image = None
        self._jpeg: bytes | None = None
        self._sequence = 0
        self._changed = threading.Condition()
        self._closing = False
        self.clients = 0
        self.served_frames = 0
        self._server: ThreadingHTTPServer | None = None

    # sink interface -------------------------------------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        if self._server is None:
            self.start()
        with self._changed:
            self._image, self._jpeg = frame.image, None  # encoded lazily, once, by the first client that wants it
            self._sequence += 1
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # server -----------------------------------------------------------------------------------------------------
    def start(self) -> MjpegServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        try:
            self._server = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            raise RtstyleError(f"cannot serve on {self.host}:{self.port}: {exc.strerror}") from None
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]  # the real one when 0 was asked for
        threading.Thread(target=self._server.serve_forever, name="mjpeg-server", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        """The page's address (with the token, if any): what a browser or OBS opens."""
        return self.link("/")

    def link(self, path: str) -> str:
        """The address of one of the served paths (/, /stream.mjpg, /frame.jpg), with the token if any."""
        return f"http://{self.host}:{self.port}{path}" + (f"?token={self.token}" if self.token else "")

    def jpeg(self, after: int, timeout: float) -> tuple[bytes | None, int]:
        """The newest JPEG once it is newer than sequence `after` (waits up to `timeout`); (None, seq) on closing."""
        with self._changed:
            self._changed.wait_for(lambda: self._closing or (self._sequence > after and self._image is not None),
                                   timeout)
            if self._closing or self._image is None:
                return None, self._sequence
            if self._jpeg is None:
                ok, data = cv2.imencode(".jpg", self._image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                self._jpeg = data.tobytes() if ok else b""
            return self._jpeg, self._sequence


class _Handler(BaseHTTPRequestHandler):
    owner: MjpegServer
    server_version = "rtstyle"

    def log_message(self, *args: object) -> None:  # quiet: the pipeline prints its own stats
        pass

    def _authorized(self, url) -> bool:
        """The token as ?token= or as a bearer header, compared in constant time (no timing hints)."""
        expected = self.owner.token.encode()
        header = self.headers.get("Authorization", "")
        bearer = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        given = [parse_qs(url.query).get("token", [""])[0], bearer]
        return any(candidate and hmac.compare_digest(candidate.encode(), expected) for candidate in given)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        owner = self.owner
        url = urlsplit(self.path)
        if owner.token and not self._authorized(url):
            return self._plain(HTTPStatus.FORBIDDEN, "forbidden: pass ?token=…\n")
        if url.path == "/":
            query = f"?token={owner.token}" if owner.token else ""
            return self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.format(query=query).encode())
        if url.path == "/frame.jpg":
            data, _ = owner.jpeg(-1, owner.client_timeout)
            if not data:
                return self._plain(HTTPStatus.SERVICE_UNAVAILABLE, "no frame yet\n")
            return self._send(HTTPStatus.OK, "image/jpeg", data)
        if url.path == "/stream.mjpg":
            return self._stream()
        return self._plain(HTTPStatus.NOT_FOUND, "not found\n")

    def _stream(self) -> None:
        owner = self.owner
        with owner._changed:
            if owner.clients >= owner.max_clients:
                busy = True
            else:
                busy = False
                owner.clients += 1
        if busy:
            return self._plain(HTTPStatus.SERVICE_UNAVAILABLE, "too many clients\n")
        try:
            self.connection.settimeout(owner.client_timeout)  # a client that stops reading is dropped
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            sequence = -1
            while True:
                data, sequence = owner.jpeg(sequence, owner.client_timeout)
                if data is None:
                    if owner._closing:
                        break
                    continue
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                                 .encode() + data + b"\r\n")
                owner.served_frames += 1
        except (TimeoutError, OSError):
            pass  # the client went away or stalled
        finally:
            with owner._changed:
                owner.clients -= 1

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _plain(self, status: HTTPStatus, text: str) -> None:
        self._send(status, "text/plain; charset=utf-8", text.encode())
