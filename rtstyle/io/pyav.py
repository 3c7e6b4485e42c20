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
    av.logging.set_level(av.logging.PANIC)
    return av
