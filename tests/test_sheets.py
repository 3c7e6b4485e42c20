"""Style sheets and labels: text that reads cleanly, each painting above its column, no empty cells."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from rtstyle.images import read_image
from rtstyle.io.sinks import draw_lines
from rtstyle.model import open_model, shipped_models
from rtstyle.processing import fit_within
from rtstyle.sheets import HEADER, grid_columns, style_sheet, training_paintings
from rtstyle.stylizer import Stylizer


def test_label_outline_stays_with_its_letters():
    """The dark backing ends where the white letters end: a thick dark copy of the text drifts ahead of thin
    letters (OpenCV's glyphs advance further when thicker) and doubles the last ones, "originall"."""
    gray = np.full((60, 400, 3), 128, np.uint8)
    out = draw_lines(gray, ["woman_in_peasant_dress"]).astype(int)
    dark = np.nonzero((out < 100).all(axis=2).any(axis=0))[0]
    bright = np.nonzero((out > 200).all(axis=2).any(axis=0))[0]
    assert len(bright) > 100  # the text is there
    assert 0 <= dark.max() - bright.max() <= 8 and 0 <= bright.min() - dark.min() <= 8
    assert draw_lines(gray, [""]).tobytes() == gray.tobytes()  # nothing to say: nothing drawn


@pytest.mark.parametrize("cells", range(1, 26))
def test_grid_leaves_no_empty_cell_where_a_width_fills_every_row(cells):
    columns = grid_columns(cells)
    fillable = cells <= 5 or any(cells % c == 0 for c in range(2, 6))
    assert columns <= 5 and (cells % columns == 0 or not fillable)


@pytest.fixture(scope="module")
def cin_tiny():
    if "cin-tiny" not in shipped_models():
        pytest.fail("the shipped cin-tiny model is missing")
    with open_model("cin-tiny", backend="onnxrt") as model:
        yield Stylizer(model)


def test_sheet_shows_each_painting_above_its_column(cin_tiny, shared, photo):
    paintings = training_paintings(cin_tiny.meta, cin_tiny.model.path)
    assert sorted(paintings) == sorted(cin_tiny.meta.style_names)  # all 8 found in ../shared/styles
    image = read_image(photo)
    sheet = style_sheet(cin_tiny, image, paintings, ["cin-tiny.onnx"])
    picture_h, width = fit_within(*image.shape[:2], 320)
    band = round(picture_h * HEADER)
    cell_h = band + picture_h
    assert sheet.shape[:2] == (3 * cell_h, 3 * width)  # the photo and 8 styles: a full 3 × 3 grid
    for index, name in enumerate(cin_tiny.meta.style_names):
        row, column = divmod(index + 1, 3)
        header = sheet[row * cell_h:row * cell_h + band, column * width:(column + 1) * width]
        painting = read_image(paintings[name])
        inside = header[band // 2 - 5:band // 2 + 5, width // 2 - 5:width // 2 + 5].astype(int)
        h, w = painting.shape[:2]
        centre = painting[h // 2 - h // 20:h // 2 + h // 20, w // 2 - w // 20:w // 2 + w // 20]
        assert np.abs(inside.mean(axis=(0, 1)) - centre.mean(axis=(0, 1))).max() < 40, name  # its own painting
        picture = sheet[row * cell_h + band:(row + 1) * cell_h, column * width:(column + 1) * width]
        assert picture.std() > 20, name  # a stylized photo, not an empty cell


def test_a_painting_of_the_same_name_but_other_content_is_not_shown(cin_tiny, shared, tmp_path):
    model = tmp_path / "cin-tiny.onnx"
    shutil.copy(cin_tiny.model.path, model)
    impostor = tmp_path / "great_wave.jpg"
    shutil.copy(shared / "styles" / "mondrian.jpg", impostor)
    found = training_paintings(cin_tiny.meta, model)
    assert found.get("great_wave") != impostor and found["mondrian"].name == "mondrian.jpg"
