"""Build a style corpus for arbitrary-style training (Ghiasi et al. 2017 trained on ~80k paintings and textures; a
predictor trained on 7 paintings outputs one grey style for all). Sources: the shared paintings and the Debian
packages of `corpus_sources.PACKAGES`. Never shipped with rtstyle: the corpus is built on the training machine.

    rtstyle train corpus --out /work/corpus          (or: python -m rtstyle_train.corpus --out /work/corpus)

Writes OUT/train/*.{jpg,png} (what `rtstyle train arbitrary --styles OUT/train` reads), OUT/eval/* (held-out
styles: paintings named by --holdout plus a fraction of every package), and OUT/manifest.json + manifest.csv: per
file its source package, licence, size and split, plus what was dropped and why. Images are RGB, the long side at
most --max-side; seamless textures smaller than --tile-side are tiled up; other images whose short side is below
--min-side are dropped, and so are near-duplicates (of each other or of the content photos).

Augmentation (crops at several scales, flips, hue, contrast and saturation) happens at training time
(`arbitrary.ArbitraryFamily.style_crops`), not here.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from rtstyle.errors import RtstyleError
from rtstyle.images import IMAGE_SUFFIXES, read_image, write_image
from rtstyle.paths import cache_dir
from rtstyle.processing import fit_within, resize

from .corpus_sources import (
    PACKAGES,
    PackageSource,
    copyright_licence,
    fetch_package,
    mate_backdrop,
    plasma_licence,
    read_any,
)

DEFAULT_HOLDOUT = ("great_wave", "the_scream", "klimt_the_kiss")  # held-out paintings (with a corpus share)
# Two images are one when their 16×16 colour thumbnails differ by < 0.03 (mean, in [0,1]) AND their 64×64 grey
# thumbnails correlate > 0.9. Measured here: resized or re-encoded copies 0.0003–0.0015 and 1.0; different textures
# of similar tone (paper, marble) 0.01–0.025 but correlation < 0.1; unrelated images correlate < 0.65.
DUPLICATE_COLOUR, DUPLICATE_CORRELATION = 0.03, 0.9


@dataclass
class Candidate:
    name: str
    source: str  # "shared" or the Debian package
    origin: str  # where it was read, relative to the source
    path: Path
    kind: str
    licence: str
    licence_from: str
    work: str = ""
    tileable: bool = False
    backdrop: tuple | None = None  # what a transparent image is laid on (see corpus_sources.mate_backdrop)


@dataclass
class Entry:
    file: str  # relative to the corpus folder
    name: str
    split: str  # train | eval
    source: str
    origin: str
    kind: str
    licence: str
    licence_from: str
    work: str
    width: int
    height: int
    bytes: int


def shared_candidates(folder: Path) -> list[Candidate]:
    """The paintings of ../shared/styles, with the works SOURCES.md names (all public domain)."""
    works = {}
    sources = folder / "SOURCES.md"
    if sources.exists():
        for line in sources.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 2 and Path(cells[0]).suffix.lower() in IMAGE_SUFFIXES:
                works[cells[0]] = cells[1]
    return [Candidate(p.stem, "shared", p.name, p, "painting", "public-domain", "SOURCES.md", works.get(p.name, ""))
            for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]


def package_candidates(source: PackageSource, root: Path) -> list[Candidate]:
    base = root / source.root
    copyright_file = root / "usr/share/doc" / source.package / "copyright"
    text = copyright_file.read_text(errors="replace") if copyright_file.exists() else ""
    paths = sorted({p for pattern in source.patterns for p in base.glob(pattern) if p.is_file()})
    prefix = "" if source.kind == "painting" else source.package.split("-")[0] + "-"
    out = []
    for path in source.pick(paths):
        relative = str(path.relative_to(root))
        licence, found = copyright_licence(text, relative) if text else ("unknown (no copyright file)", "")
        own = plasma_licence(path) if source.package.startswith("plasma") else None
        if own:
            licence, found = own, f"metadata of the wallpaper; package copyright: {licence}"
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", prefix + source.name(path))
        backdrop = mate_backdrop(path, root) if source.package == "mate-backgrounds" else None
        out.append(Candidate(name, source.package, relative, path, source.kind, licence, found, source.work,
                             source.tileable, backdrop))
    return out


def normalise(image: np.ndarray, max_side: int, min_side: int, tile_side: int, tileable: bool) -> np.ndarray | str:
    """uint8 BGR → the corpus image, or the reason it is dropped."""
    h, w = image.shape[:2]
    if tileable and min(h, w) < tile_side:  # a seamless tile: repeat it rather than enlarge or drop it
        image = np.tile(image, (math.ceil(tile_side / h), math.ceil(tile_side / w), 1))[:max(h, tile_side),
                                                                                         :max(w, tile_side)]
    if min(image.shape[:2]) < min_side:
        return f"too small ({w}x{h}, short side < {min_side})"
    if float(image.std()) < 2.0:
        return "flat (no texture)"
    return resize(image, *fit_within(*image.shape[:2], max_side))


def fingerprint(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(16×16 colour thumbnail in [0,1], 64×64 grey thumbnail scaled to zero mean and unit variance)."""
    colour = cv2.resize(image, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (64, 64), interpolation=cv2.INTER_AREA)
    grey = grey.astype(np.float32)
    return colour, (grey - grey.mean()) / (grey.std() + 1e-3)


def same_image(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    return float(np.abs(a[0] - b[0]).mean()) < DUPLICATE_COLOUR and float((a[1] * b[1]).mean()) > DUPLICATE_CORRELATION


def choose_holdout(entries: list[tuple[Candidate, np.ndarray]], paintings: tuple[str, ...],
                   fraction: float) -> set[str]:
    """Names kept for evaluation: the named paintings, and from every package with ≥ 4 images a `fraction` (at least
    one), picked by a hash of the name so the split is the same on every machine."""
    names = {c.name for c, _ in entries}
    missing = [p for p in paintings if p not in names]
    if missing:
        raise RtstyleError(f"--holdout names {missing[0]!r}, which is not in the corpus")
    held = set(paintings)
    by_source: dict[str, list[str]] = {}
    for candidate, _ in entries:
        if candidate.source != "shared" and candidate.name not in held:
            by_source.setdefault(candidate.source, []).append(candidate.name)
    for members in by_source.values():
        if len(members) >= 4 and fraction > 0:
            members.sort(key=lambda n: hashlib.sha256(n.encode()).hexdigest())
            held.update(members[:max(1, round(fraction * len(members)))])
    return held


def build_corpus(out: Path, shared: Path | None, packages: list[str], cache: Path, content: Path | None = None,
                 max_side: int = 1024, min_side: int = 256, tile_side: int = 512,
                 holdout: tuple[str, ...] = DEFAULT_HOLDOUT, holdout_fraction: float = 0.1, log=print) -> dict:
    """Build the corpus into `out` (which must not exist) and return its manifest."""
    known = {s.package: s for s in PACKAGES}
    unknown = [p for p in packages if p not in known]
    if unknown:
        raise RtstyleError(f"unknown package {unknown[0]!r}; the builder knows {', '.join(known)}")
    candidates, failed = (shared_candidates(shared) if shared else []), {}
    for package in packages:
        try:
            root = fetch_package(package, cache)
        except (RtstyleError, OSError, TimeoutError) as exc:
            failed[package] = str(exc)
            log(f"skipped {package}: {exc}")
            continue
        found = package_candidates(known[package], root)
        log(f"{package}: {len(found)} images")
        candidates += found

    photos = [fingerprint(read_image(p)) for p in sorted(content.iterdir())
              if p.suffix.lower() in IMAGE_SUFFIXES] if content else []
    kept: list[tuple[Candidate, np.ndarray]] = []
    marks: list[tuple[tuple[np.ndarray, np.ndarray], int]] = []  # fingerprint, pixels of the original
    dropped = []

    def drop(candidate: Candidate, reason: str) -> None:
        dropped.append({"source": candidate.source, "origin": candidate.origin, "reason": reason})

    for candidate in candidates:
        try:
            original = read_any(candidate.path, max_side, candidate.backdrop)
            image = normalise(original, max_side, min_side, tile_side, candidate.tileable)
        except (RtstyleError, OSError, ValueError, cv2.error) as exc:
            image = f"unreadable ({exc})"
        if isinstance(image, str):
            drop(candidate, image)
            continue
        mark, area = fingerprint(image), original.shape[0] * original.shape[1]
        twin = next((i for i, (other, _) in enumerate(marks) if same_image(mark, other)), None)
        if twin is not None:  # of two copies the larger original stays
            if area > marks[twin][1] and kept[twin][0].source == candidate.source:
                drop(kept[twin][0], f"duplicate of {candidate.name}")
                kept[twin], marks[twin] = (candidate, image), (mark, area)
            else:
                drop(candidate, f"duplicate of {kept[twin][0].name}")
            continue
        if any(same_image(mark, photo) for photo in photos):
            drop(candidate, "a content photo (kept out of the styles)")
            continue
        names = [c.name for c, _ in kept]
        if candidate.name in names:
            candidate.name = f"{candidate.name}_{names.count(candidate.name) + 1}"
        kept.append((candidate, image))
        marks.append((mark, area))
    if not kept:
        raise RtstyleError("no images for the corpus: every source failed or was empty")

    held = choose_holdout([(c, None) for c, _ in kept], holdout, holdout_fraction)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        entries = []
        for candidate, image in kept:
            split = "eval" if candidate.name in held else "train"
            lossless = candidate.path.suffix.lower() in (".png", ".pat", ".svg", ".webp", ".ppm")
            relative = f"{split}/{candidate.name}{'.png' if lossless else '.jpg'}"
            (partial / split).mkdir(parents=True, exist_ok=True)
            write_image(partial / relative, image)
            entries.append(Entry(relative, candidate.name, split, candidate.source, candidate.origin, candidate.kind,
                                 candidate.licence, candidate.licence_from, candidate.work, image.shape[1],
                                 image.shape[0], (partial / relative).stat().st_size))
        manifest = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "max_side": max_side, "min_side": min_side,
                    "tile_side": tile_side, "holdout": sorted(held), "sources": summarise(entries, failed),
                    "files": [asdict(e) for e in entries], "dropped": dropped}
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        (partial / "manifest.csv").write_text(_csv(entries))
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return manifest


def summarise(entries: list[Entry], failed: dict[str, str]) -> dict[str, dict]:
    sources: dict[str, dict] = {}
    for entry in entries:
        info = sources.setdefault(entry.source, {"train": 0, "eval": 0, "licences": []})
        info[entry.split] += 1
        if entry.licence not in info["licences"]:
            info["licences"].append(entry.licence)
    for package, reason in failed.items():
        sources[package] = {"train": 0, "eval": 0, "licences": [], "failed": reason}
    return sources


def _csv(entries: list[Entry]) -> str:
    buffer = io.StringIO()
    fields = ["file", "split", "source", "licence", "width", "height", "bytes", "origin", "kind", "work"]
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(asdict(e) for e in entries)
    return buffer.getvalue()


def checked_output(args: argparse.Namespace) -> Path:
    """--out of a builder (corpus, photos): new, or replaced with --overwrite, in a folder that exists; and its
    --min-side / --max-side sensible. One-line errors otherwise."""
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise RtstyleError(f"{out} exists (use --overwrite to rebuild it)")
    if not out.parent.is_dir():
        raise RtstyleError(f"output folder does not exist: {out.parent}")
    if args.max_side < args.min_side or args.min_side < 64:
        raise RtstyleError("--min-side must be at least 64 and at most --max-side")
    return out


def corpus_command(args: argparse.Namespace) -> None:
    out = checked_output(args)
    shared = shared_folder(args.shared, "styles", "paintings")
    content = shared_folder(args.content, "photos", "content")
    packages = args.packages if args.packages is not None else [s.package for s in PACKAGES]
    cache = Path(args.cache) if args.cache else cache_dir() / "debian"
    target = out.with_name(f".{out.name}.new") if out.exists() else out
    start = time.perf_counter()
    manifest = build_corpus(target, shared, packages, cache, content, args.max_side, args.min_side, args.tile_side,
                            tuple(args.holdout), args.holdout_fraction)
    if target != out:
        shutil.rmtree(out)
        target.rename(out)
    print(f"{'source':30} {'train':>5} {'eval':>5}  licences")
    for source, info in manifest["sources"].items():
        print(f"{source:30} {info['train']:5} {info['eval']:5}  {info.get('failed') or ', '.join(info['licences'])}")
    total = {split: sum(i[split] for i in manifest["sources"].values()) for split in ("train", "eval")}
    print(f"wrote {out}: {total['train']} training + {total['eval']} held-out styles, {len(manifest['dropped'])} "
          f"dropped (see manifest.json) in {time.perf_counter() - start:.0f} s")
    svgs = sum("rsvg-convert" in d["reason"] for d in manifest["dropped"])
    if svgs:
        print(f"note: {svgs} SVG images left out for want of rsvg-convert (apt-get install librsvg2-bin); the corpus "
              f"documented in MODELS.md, and so its held-out set, has them")


def shared_folder(given: str | None, name: str, what: str) -> Path | None:
    """The folder given, else $RTSTYLE_SHARED/NAME or ../shared/NAME where one exists (None if none does)."""
    if given:
        if not Path(given).is_dir():
            raise RtstyleError(f"{what} folder not found: {given}")
        return Path(given)
    roots = [Path(os.environ["RTSTYLE_SHARED"])] if os.environ.get("RTSTYLE_SHARED") else []
    return next((root / name for root in [*roots, Path("../shared")] if (root / name).is_dir()), None)


def main(argv: list[str] | None = None) -> int:
    """`python -m rtstyle_train.corpus …` = `rtstyle train corpus …` (one set of options, declared in the CLI)."""
    from rtstyle.cli import main as cli_main

    return cli_main(["train", "corpus", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
