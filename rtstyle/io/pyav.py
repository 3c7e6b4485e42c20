"""PyAV (FFmpeg in self-contained wheels), imported only when a video or stream is opened: it is an extra
(`rtstyle[video]`), and without it video files go through OpenCV instead (no audio, fewer codecs)."""
from __future__ import annotations

from rtstyle.errors import RtstyleError


def available() -> bool:
    """Whether PyAV can be imported (installed and loadable)."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def load_av(what: str = "network streams"):
    """The `av` module, with FFmpeg's own chatter off (our errors say what went wrong); RtstyleError naming the extra
    if it is missing."""
    try:
        import av
    except ImportError:
        raise RtstyleError(f"{what} need PyAV: pip install 'rtstyle[video]'") from None
    # No Python log callback at all (level None: FFmpeg's messages are dropped in C). With any level set, FFmpeg's
    # decoder threads call back into Python for every message, and closing a container after a decode error (a
    # corrupt file) deadlocks on the GIL: the process hangs and ignores SIGTERM (PyAV issues 751, 909).
    av.logging.set_level(None)
    return av
