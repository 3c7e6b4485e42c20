"""The style corpus builder (rtstyle_train.corpus): GIMP .pat reading (synthetic and a real gimp-data pattern),
licences from Debian copyright files, deduplication, held-out split, manifest; and the training-time tone jitter."""
from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, rtstyle
from rtstyle_train.arbitrary import adjust_contrast_saturation
from rtstyle_train.corpus import build_corpus, choose_holdout
from rtstyle_train.corpus_sources import copyright_licence, fetch_package, read_pat, to_bgr

from rtstyle.errors import RtstyleError
from rtstyle.paths import cache_dir


def write_pat(path: Path, pixels: np.ndarray, name: str = "Test pattern") -> Path:
    """A .pat file as GIMP writes it: big-endian header, NUL-terminated name, raw pixels."""
    height, width, depth = pixels.shape
    encoded = name.encode() + b"\0"
    header = struct.pack(">5I", 24 + len(encoded), 1, width, height, depth) + b"GPAT" + encoded
    path.write_bytes(header + pixels.astype(np.uint8).tobytes())
    return path


def test_pat_reader_rgb_grey_and_alpha(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    name, image = read_pat(write_pat(tmp_path / "rgb.pat", rgb, "Rust & Brass"))
    assert name == "Rust & Brass" and image.shape == (5, 7, 3)
    assert np.array_equal(image, rgb[..., ::-1])  # stored RGB, returned BGR
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4, 1) * 20
    assert np.array_equal(read_pat(write_pat(tmp_path / "grey.pat", grey))[1], np.repeat(grey, 3, axis=2))
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red; the rest transparent, laid on white
    image = read_pat(write_pat(tmp_path / "rgba.pat", rgba))[1]
    assert image[0, 0].tolist() == [0, 0, 255] and image[1, 1].tolist() == [255, 255, 255]


def test_pat_reader_refuses_bad_files(tmp_path):
    (tmp_path / "bad.pat").write_bytes(b"GIMP" * 10)
    with pytest.raises(RtstyleError, match="not a GIMP pattern"):
        read_pat(tmp_path / "bad.pat")
    good = write_pat(tmp_path / "cut.pat", np.zeros((8, 8, 3), np.uint8))
    good.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(RtstyleError, match="truncated"):
        read_pat(good)


def test_backdrop_gradient_behind_transparency():
    image = np.zeros((4, 2, 4), np.uint8)  # fully transparent
    out = to_bgr(image, backdrop=((0, 0, 0), (200, 100, 50), "vertical"))
    assert out[0, 0].tolist() == [0, 0, 0] and out[-1, 1].tolist() == [200, 100, 50]


@pytest.fixture(scope="module")
def gimp_data() -> Path:
    """gimp-data fetched from the Debian mirror (apt-get download + dpkg -x, nothing installed), cached."""
    try:
        return fetch_package("gimp-data", cache_dir() / "debian")
    except (RtstyleError, OSError) as exc:
        pytest.skip(f"cannot fetch Debian package gimp-data: {exc}")


def test_pat_reader_on_gimps_own_patterns(gimp_data):
    files = sorted((gimp_data / "usr/share/gimp/2.0/patterns").rglob("*.pat"))
    assert len(files) >= 50
    names = {}
    for path in files:
        name, image = read_pat(path)
        header = struct.unpack(">5I", path.read_bytes()[:20])
        assert image.shape == (header[3], header[2], 3) and image.dtype == np.uint8
        names[path.stem] = (name, image)
    name, bricks = names["brick"]
    assert name == "Bricks" and bricks.shape == (96, 96, 3)
    b, g, r = bricks.reshape(-1, 3).mean(0)
    assert r > b + 20 and bricks.std() > 20  # red-brown bricks with mortar lines, not noise or a flat colour


def test_licence_from_dep5_copyright():
    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: someone\nLicense: GPL-2+\n\n"
            "Files: backgrounds/ramon/*\nCopyright: Ramon\nLicense: CC0-1.0\n\n"
            "License: GPL-2+\n full text\n")
    assert copyright_licence(text, "usr/share/mypaint/backgrounds/ramon/HR_Cork.png")[0] == "CC0-1.0"
    assert copyright_licence(text, "usr/share/mypaint/brushes/x.png")[0] == "GPL-2+"
    loose = "Licensed under Creative Commons Attribution-ShareAlike 3.0 License.\n"
    licence, how = copyright_licence(loose, "usr/share/backgrounds/gnome/blobs-d.svg")
    assert licence == "CC-BY-SA-3.0" and "package-wide" in how


def test_build_corpus_dedups_drops_and_holds_out(tmp_path, shared):
    styles = tmp_path / "styles"
    styles.mkdir()
    for name in ("starry_night", "the_scream", "great_wave", "mondrian"):
        shutil.copy(shared / "styles" / f"{name}.jpg", styles)
    starry = cv2.imread(str(styles / "starry_night.jpg"))
    cv2.imwrite(str(styles / "starry_copy.png"), cv2.resize(starry, None, fx=0.6, fy=0.6))  # a resized copy
    cv2.imwrite(str(styles / "tiny.png"), starry[:100, :100])  # too small
    (styles / "SOURCES.md").write_text("| file | work |\n|---|---|\n| mondrian.jpg | Piet Mondrian, No. V |\n")
    out = tmp_path / "corpus"
    manifest = build_corpus(out, styles, [], tmp_path / "cache", max_side=300, min_side=128,
                            holdout=("great_wave",), log=lambda line: None)
    files = {f["name"]: f for f in manifest["files"]}
    assert set(files) == {"starry_night", "the_scream", "great_wave", "mondrian"}
    reasons = {Path(d["origin"]).stem: d["reason"] for d in manifest["dropped"]}
    assert reasons["starry_copy"] == "duplicate of starry_night" and reasons["tiny"].startswith("too small")
    assert files["great_wave"]["split"] == "eval" and (out / "eval" / "great_wave.jpg").is_file()
    assert files["mondrian"]["work"] == "Piet Mondrian, No. V" and files["mondrian"]["licence"] == "public-domain"
    for entry in files.values():
        image = cv2.imread(str(out / entry["file"]))
        assert max(image.shape[:2]) <= 300 and image.shape[:2] == (entry["height"], entry["width"])
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert (out / "manifest.csv").read_text().splitlines()[0].startswith("file,split,source,licence")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "styles"]  # no partial folder left


def test_holdout_takes_a_share_of_every_package():
    from rtstyle_train.corpus import Candidate

    def entries(source, count):
        return [(Candidate(f"{source}-{i}", source, "", Path("x.png"), "texture", "", ""), None) for i in range(count)]

    held = choose_holdout(entries("shared", 3) + entries("gimp-data", 20) + entries("tiny-pkg", 2),
                          ("shared-1",), 0.1)
    assert "shared-1" in held and sum(h.startswith("gimp-data") for h in held) == 2
    assert not any(h.startswith("tiny-pkg") for h in held)
    assert held == choose_holdout(entries("shared", 3) + entries("gimp-data", 20), ("shared-1",), 0.1)
    with pytest.raises(RtstyleError, match="not in the corpus"):
        choose_holdout(entries("shared", 3), ("klimt",), 0.1)


def test_corpus_cli_refuses_an_existing_folder(tmp_path):
    result = rtstyle("train", "corpus", "--out", tmp_path, "--packages")
    assert_one_line_error(result, "exists", "--overwrite")


def test_contrast_saturation_jitter():
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    before = images.clone()
    ones = torch.ones(3)
    assert torch.allclose(adjust_contrast_saturation(images, ones, ones), images, atol=1e-6)
    assert torch.equal(images, before)  # the input is not changed in place
    flat = adjust_contrast_saturation(images, torch.zeros(3), ones)
    assert flat.std(dim=(2, 3)).max() < 1e-5  # no contrast: every channel one value
    grey = adjust_contrast_saturation(images, ones, torch.zeros(3))
    assert (grey[:, 0] - grey[:, 1]).abs().max() < 1e-6 and (grey[:, 1] - grey[:, 2]).abs().max() < 1e-6
    strong = adjust_contrast_saturation(images, torch.full((3,), 1.5), torch.full((3,), 1.5))
    assert strong.std() > images.std() and strong.min() >= 0 and strong.max() <= 1
