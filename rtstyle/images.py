"""Still images: read with clear errors, written atomically. Frames are uint8 (H,W,3) BGR."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rtstyle.errors import RtstyleError
from rtstyle.files import atomic_output

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def read_image(path: str | Path) -> np.ndarray:
    """uint8 (H,W,3) BGR; RtstyleError naming the file if it is missing or not a readable image."""
    path = Path(path)
    if not path.exists():
        raise RtstyleError(f"file not found: {path}")
    if not path.is_file():
        raise RtstyleError(f"not a file: {path}")
    try:
        data = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode also handles non-ASCII paths
    except OSError as exc:
        raise RtstyleError(f"cannot read {path}: {exc.strerror}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise RtstyleError(f"not an image or unreadable: {path}")
    return image


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Encode by the file's suffix and write atomically. The caller checks the path (`check_output_path`)."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise RtstyleError(f"unsupported image format {path.suffix or '(none)'}: "
                           f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    ok, encoded = cv2.imencode(path.suffix, image)
    if not ok:
        raise RtstyleError(f"cannot encode image as {path.suffix}")
    with atomic_output(path) as tmp:
        encoded.tofile(tmp)
    return path
