"""Style sheets: one photo in every style of a model, each under a thumbnail of its painting, so a reader sees at a
glance what the model does to a photo and where each style came from (`rtstyle styles --sheet`, and the sheets
shipped beside the models).

The grid has no empty cells where the number of styles allows it: its width is chosen to fill every row, and a last
row that cannot be filled is centred on the sheet's background.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np

from rtstyle.images import IMAGE_SUFFIXES, read_image
from rtstyle.io.sinks import draw_lines
from rtstyle.meta import ModelMeta
from rtstyle.processing import fit_within, resize

BACKGROUND = (34, 34, 34)  # BGR, the sheet's margins and the bands around the thumbnails
HEADER = 0.42  # height of the painting band above each picture, as a fraction of the picture's height
MAX_COLUMNS = 5


def training_paintings(meta: ModelMeta, model_path: Path | None = None) -> dict[str, Path]:
    """style name → painting file, for the paintings a model was trained on that can be found here: beside the model,
    in $RTSTYLE_SHARED/styles, ./styles or ../shared/styles. A file whose SHA-256 differs from the one recorded at
    training is another painting of the same name and is not used."""
    records = meta.training.get("styles", []) if isinstance(meta.training, dict) else []
    folders = [model_path.parent] if model_path else []
    if os.environ.get("RTSTYLE_SHARED"):
        folders.append(Path(os.environ["RTSTYLE_SHARED"]) / "styles")
    folders += [Path("styles"), Path("../shared/styles"), Path(__file__).resolve().parents[2] / "shared" / "styles"]
    found: dict[str, Path] = {}
    for record in records:
        if not isinstance(record, dict) or not record.get("file"):
            continue
        for folder in folders:
            path = folder / Path(record["file"]).name
            if path.is_file() and record.get("sha256") in (None, _sha256(path)):
                found[record.get("name") or path.stem] = path
                break
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def given_paintings(spec: str) -> dict[str, Path]:
    """style label → file for paintings given as a file or a folder, as arbitrary-style models name their styles."""
    path = Path(spec)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    return {file.stem: file for file in files}


def grid_columns(cells: int, most: int = MAX_COLUMNS) -> int:
    """Columns for `cells` pictures: the fewest empty places in the last row, then the squarest grid."""
    return min(range(1, min(most, cells) + 1), key=lambda c: ((-cells) % c, abs(c - math.sqrt(cells))))


def style_sheet(stylizer, photo: np.ndarray, paintings: dict[str, Path] | None = None, title: list[str] = (),
                side: int = 320) -> np.ndarray:
    """uint8 BGR sheet: the photo (under `title`), then the photo in each of the stylizer's styles, each under its
    painting where `paintings` (style label → file) knows it, labelled with the style's name."""
    paintings = paintings or {}
    photo = resize(photo, *fit_within(*photo.shape[:2], side))
    height, width = photo.shape[:2]
    band = round(height * HEADER) if paintings else 0  # no painting known: no bands at all
    cells = [np.vstack([_title_band(title, band, width), draw_lines(photo, ["photo"], scale=0.6)])]
    chosen = stylizer.current
    try:
        for index in range(len(stylizer.styles)):
            stylizer.current = index
            label = stylizer.style.label
            painting = paintings.get(label)
            header = _thumbnail(read_image(painting), band, width) if painting else _title_band([label], band, width)
            cells.append(np.vstack([header, draw_lines(stylizer([photo])[0], [label], scale=0.6)]))
    finally:
        stylizer.current = chosen
    return _grid(cells, grid_columns(len(cells)))


def _title_band(lines: list[str], height: int, width: int) -> np.ndarray:
    band = np.empty((height, width, 3), np.uint8)
    band[:] = BACKGROUND
    return draw_lines(band, list(lines), scale=0.6) if lines and height else band


def _thumbnail(painting: np.ndarray, height: int, width: int, margin: int = 6) -> np.ndarray:
    """The whole painting, fitted into a band of the cell's width and centred on the background."""
    band = _title_band([], height, width)
    h, w = painting.shape[:2]
    scale = min((height - 2 * margin) / h, (width - 2 * margin) / w)
    small = resize(painting, max(1, round(h * scale)), max(1, round(w * scale)))
    top, left = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    band[top:top + small.shape[0], left:left + small.shape[1]] = small
    return band


def _grid(cells: list[np.ndarray], columns: int) -> np.ndarray:
    cell_h, cell_w = cells[0].shape[:2]
    rows = math.ceil(len(cells) / columns)
    sheet = np.empty((rows * cell_h, columns * cell_w, 3), np.uint8)
    sheet[:] = BACKGROUND
    for row in range(rows):
        chunk = cells[row * columns:(row + 1) * columns]
        left = (columns - len(chunk)) * cell_w // 2  # a last row that cannot be filled is centred
        for i, cell in enumerate(chunk):
            sheet[row * cell_h:(row + 1) * cell_h, left + i * cell_w:left + (i + 1) * cell_w] = cell
    return sheet
