"""Training data: content photos from any image folder (random scale, crop, flip and optional colour jitter)
and style paintings (one image, a list, or a folder). Every sample is a pure function of (seed, index), so a resumed
run sees exactly the batches an uninterrupted one would.

Crops come out as float32 (3,S,S) RGB in [0,1].
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from rtstyle.errors import RtstyleError
from rtstyle.images import IMAGE_SUFFIXES, read_image
from rtstyle.processing import fit_within, frames_to_batch, resize

# Photos of ../shared/photos kept out of the shipped models' training, for the quality reports
# (benchmarks/bench_quality.py).
HELD_OUT_PHOTOS = ("042_butterfly.jpg", "053_astronaut.jpg", "055_coffee.jpg", "056_rocket.jpg",
                   "057_motorcycle_left.jpg")

# File signatures of the formats OpenCV decodes, to reject non-images up front without decoding every file.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"BM", b"RIFF", b"II*\x00", b"MM\x00*", b"P5", b"P6")


def list_images(folder: str | Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    """Image files in `folder` and its subfolders, sorted, minus those named in `exclude` (held-out photos);
    RtstyleError if there is none or one is no image."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RtstyleError(f"content folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and p.name not in exclude)
    if not files:
        raise RtstyleError(f"no images in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    for path in files:
        with open(path, "rb") as handle:
            head = handle.read(8)
        if not head.startswith(_SIGNATURES):
            raise RtstyleError(f"not an image: {path}")
    return files


class ContentCrops(Dataset):
    """Item k: a random crop of a random photo, scaled so the crop covers between 1/`max_zoom` and all of the
    photo's shorter side, flipped half the time, its colours jittered with strength `colour_jitter` (0: not at all;
    see `jitter_colours`). Unreadable photos are skipped (and reported once)."""

    def __init__(self, folder: str | Path, size: int = 256, seed: int = 0, max_zoom: float = 2.0,
                 exclude: tuple[str, ...] = (), cache_bytes: int = 1 << 30, colour_jitter: float = 0.0):
        self.files = list_images(folder, exclude)
        self.size, self.seed, self.max_zoom, self.colour_jitter = size, seed, max_zoom, colour_jitter
        self.bad: set[Path] = set()
        # Decoded photos are kept (up to cache_bytes) so that a step does not wait for JPEG decoding: on a CPU that
        # is ~10 % of a bf16 step. A large folder (COCO) simply decodes what does not fit.
        self.cache: dict[Path, np.ndarray] = {}
        self.cache_room = cache_bytes

    def _read(self, path: Path) -> np.ndarray:
        frame = self.cache.get(path)
        if frame is None:
            frame = read_image(path)
            if frame.nbytes <= self.cache_room:
                self.cache[path] = frame
                self.cache_room -= frame.nbytes
        return frame

    def __len__(self) -> int:
        return 2**62  # endless: indices are step·batch + i

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, index])
        for _ in range(10):
            path = self.files[rng.integers(len(self.files))]
            try:
                frame = self._read(path)
            except RtstyleError as exc:
                if path not in self.bad:
                    self.bad.add(path)
                    print(f"warning: skipping {exc}", flush=True)
                continue
            crop = random_crop(frame, self.size, rng, self.max_zoom)
            if self.colour_jitter > 0:  # drawn after the crop, so runs without jitter see the crops they always did
                crop = jitter_colours(crop, rng, self.colour_jitter)
            return torch.from_numpy(crop)
        raise RtstyleError(f"no readable images in {self.files[0].parent}")


def random_crop(frame: np.ndarray, size: int, rng: np.random.Generator, max_zoom: float = 2.0) -> np.ndarray:
    """uint8 (H,W,3) BGR → float32 (3,size,size) RGB in [0,1]."""
    h, w = frame.shape[:2]
    crop = min(h, w) / rng.uniform(1.0, max_zoom)  # crop side in source pixels
    crop = max(8, int(crop))
    y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
    patch = cv2.resize(frame[y:y + crop, x:x + crop], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return frames_to_batch([np.ascontiguousarray(patch)])[0]


def jitter_colours(crop: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """float32 (3,S,S) RGB in [0,1] with its hue turned by up to ±180°·strength about the grey axis, its saturation,
    contrast and brightness scaled by up to e^±strength, e^±strength/2 and e^±strength/2: photos in colours the
    training folder lacks (MODELS.md has what it did, with more photos, for Woman with a Hat)."""
    angle = rng.uniform(-np.pi, np.pi) * strength
    saturation, contrast, brightness = np.exp(rng.uniform(-1, 1, 3) * strength * np.array([1.0, 0.5, 0.5]))
    axis = np.full(3, 1 / np.sqrt(3))  # Rodrigues' rotation about the grey axis keeps greys grey
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.cos(angle) * np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * np.outer(axis, axis)
    grey = np.full((3, 3), 1 / 3)  # per-pixel mean of the channels
    colour = rotation @ (grey + saturation * (np.eye(3) - grey))
    pixels = np.einsum("ij,jhw->ihw", colour, crop)
    mean = pixels.mean()
    pixels = (mean + contrast * (pixels - mean)) * brightness
    return np.clip(pixels, 0.0, 1.0).astype(np.float32)


def centre_crop(frame: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H,W,3) BGR → float32 (3,size,size) RGB in [0,1]: the largest centred square, resized."""
    h, w = frame.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    patch = cv2.resize(frame[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
    return frames_to_batch([patch])[0]


@dataclass
class Style:
    name: str
    path: Path
    sha256: str
    image: torch.Tensor  # (1,3,H,W) float RGB in [0,1], long side ≤ the size it was loaded at


def style_paths(items: list[str | Path]) -> list[Path]:
    """Files given one by one, or folders expanded to their images."""
    paths: list[Path] = []
    for item in map(Path, items):
        paths.extend(list_images(item) if item.is_dir() else [item])
    if not paths:
        raise RtstyleError("no style images given")
    return paths


def load_styles(items: list[str | Path], max_side: int = 512) -> list[Style]:
    """Paintings named by file or folder, decoded now so a bad one fails before training starts."""
    styles = []
    for path in style_paths(items):
        frame = read_image(path)
        frame = resize(frame, *fit_within(*frame.shape[:2], max_side))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        styles.append(Style(path.stem, path, digest, torch.from_numpy(frames_to_batch([frame]))))
    names = [s.name for s in styles]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RtstyleError(f"two style images share the name {duplicates[0]!r}; rename one")
    return styles
