"""Where the style corpus comes from: the shared paintings and artwork in Debian packages (textures, wallpapers,
paintings), fetched with `apt-get download` + `dpkg -x`, never shipped with rtstyle. Also the readers that need more
than OpenCV: GIMP's .pat patterns, SVG (through rsvg-convert, where installed), and each file's licence from its
package's copyright file (machine-readable DEP-5 where the package has one).

Images come out as uint8 (H,W,3) BGR.
"""
from __future__ import annotations

import fnmatch
import json
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rtstyle.errors import RtstyleError

PAT_MAGIC = b"GPAT"


def read_pat(path: str | Path) -> tuple[str, np.ndarray]:
    """A GIMP pattern (.pat) → (its name, uint8 (H,W,3) BGR). Format: big-endian uint32 header size, version (1),
    width, height, bytes per pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA), the magic "GPAT", a NUL-terminated UTF-8
    name filling the rest of the header, then the raw pixels row by row."""
    data = Path(path).read_bytes()
    if len(data) < 24 or data[20:24] != PAT_MAGIC:
        raise RtstyleError(f"not a GIMP pattern (no GPAT header): {path}")
    header_size, version, width, height, depth = struct.unpack(">5I", data[:20])
    if version != 1 or depth not in (1, 2, 3, 4) or header_size < 24 or not (0 < width <= 1 << 16 >= height > 0):
        raise RtstyleError(f"unsupported GIMP pattern (version {version}, {depth} bytes per pixel): {path}")
    count = width * height * depth
    if len(data) < header_size + count:
        raise RtstyleError(f"truncated GIMP pattern: {path}")
    name = data[24:header_size].split(b"\0")[0].decode("utf-8", "replace")
    pixels = np.frombuffer(data, np.uint8, count=count, offset=header_size).reshape(height, width, depth)
    return name, to_bgr(pixels, rgb=True)


def to_bgr(image: np.ndarray, rgb: bool = False, backdrop: tuple | None = None) -> np.ndarray:
    """Grey, grey+alpha, RGB(A) or BGR(A), 8 or 16 bit → uint8 (H,W,3) BGR. Transparency is laid on `backdrop`
    ((first BGR, second BGR, "vertical" | "horizontal"): a gradient, as desktops draw behind such wallpapers) or on
    white (paper)."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    channels = image.shape[2]
    alpha = image[..., -1:].astype(np.float32) / 255 if channels in (2, 4) else None
    colour = image[..., :1 if channels <= 2 else 3]
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    elif rgb:
        colour = colour[..., ::-1]
    if alpha is not None:
        behind = np.float32(255)
        if backdrop is not None:
            first, second, direction = backdrop
            h, w = colour.shape[:2]
            t = np.linspace(0, 1, h if direction == "vertical" else w, dtype=np.float32)
            t = t[:, None, None] if direction == "vertical" else t[None, :, None]
            behind = np.float32(first) * (1 - t) + np.float32(second) * t
        colour = (colour.astype(np.float32) * alpha + behind * (1 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(colour)


def read_any(path: Path, max_side: int, backdrop: tuple | None = None) -> np.ndarray:
    """Any image file of the corpus sources → uint8 BGR. SVGs are rendered by rsvg-convert (Debian librsvg2-bin)
    with their long side at `max_side`."""
    if path.suffix.lower() == ".pat":
        return read_pat(path)[1]
    if path.suffix.lower() == ".svg":
        tool = shutil.which("rsvg-convert")
        if tool is None:
            raise RtstyleError("SVG needs rsvg-convert (apt-get install librsvg2-bin)")
        rendered = subprocess.run([tool, "--width", str(max_side), "--keep-aspect-ratio", str(path)],
                                  capture_output=True, timeout=120)
        data = np.frombuffer(rendered.stdout, np.uint8)
    else:
        data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise RtstyleError(f"unreadable image: {path.name}")
    return to_bgr(image, backdrop=backdrop)


# Debian packages ---------------------------------------------------------------------------------------------
def fetch_package(name: str, cache: Path) -> Path:
    """The package's files, extracted under cache/name (`apt-get download` + `dpkg -x`, no installation, no root
    needed); an earlier extraction is reused. RtstyleError in one line if apt-get or the mirror fails."""
    root = cache / name
    if (root / ".complete").exists():
        return root
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise RtstyleError(f"{tool} not found (Debian or Ubuntu needed to fetch packages)")
    downloads = cache / "debs"
    downloads.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(["apt-get", "download", "-q", name], cwd=downloads, capture_output=True, text=True,
                             timeout=900)
    debs = sorted(downloads.glob(f"{name}_*.deb"), key=lambda p: p.stat().st_mtime)
    if fetched.returncode != 0 or not debs:
        errors = [line for line in fetched.stderr.splitlines() if line.startswith("E:")] or ["no .deb file"]
        raise RtstyleError(f"apt-get download {name} failed: {errors[-1].removeprefix('E: ')}")
    partial = cache / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    unpacked = subprocess.run(["dpkg", "-x", str(debs[-1]), str(partial)], capture_output=True, text=True, timeout=900)
    if unpacked.returncode != 0:
        raise RtstyleError(f"dpkg -x {debs[-1].name} failed: {unpacked.stderr.strip()[:200]}")
    debs[-1].unlink()  # the extraction is what is kept
    (partial / ".complete").touch()
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root


_KNOWN_LICENCES = (  # for copyright files that are not machine-readable: what they mention, by SPDX-like name
    (r"GNU (General Public License|GPL).{0,200}?version 2.{0,40}?or.{0,40}?later", "GPL-2+"),
    (r"Attribution-ShareAlike 4\.0|by-sa/4\.0", "CC-BY-SA-4.0"),
    (r"Attribution-Share ?Alike 3\.0|by-sa/3\.0", "CC-BY-SA-3.0"),
    (r"Attribution-ShareAlike 2\.0|by-sa/2\.0", "CC-BY-SA-2.0"),
    (r"Attribution 2\.0 License|licenses/by/2\.0", "CC-BY-2.0"),
    (r"CC0|Public Domain Dedication", "CC0-1.0"),
)


def copyright_licence(text: str, relpath: str) -> tuple[str, str]:
    """(licence, how it was found) of one file of a package, from the package's copyright file. DEP-5 files: the
    last `Files:` stanza whose pattern matches the path or one of its tails (stanzas name source-tree paths, which
    are tails of the installed path). Other files: every licence the file mentions, as a package-wide answer."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if paragraphs and paragraphs[0].lstrip().startswith("Format:"):
        parts = relpath.split("/")
        tails = ["/".join(parts[i:]) for i in range(len(parts))]
        found = None
        for paragraph in paragraphs:
            fields = _fields(paragraph)
            patterns = fields.get("files", "").split()
            if patterns and "license" in fields and any(fnmatch.fnmatchcase(t, p) for p in patterns for t in tails):
                how = "copyright (DEP-5 Files: " + " ".join(patterns)[:60] + ")"
                found = fields["license"].splitlines()[0].strip(), how
        if found:
            return found
    names = [name for pattern, name in _KNOWN_LICENCES if re.search(pattern, text, re.S | re.I)]
    return (" or ".join(names) or "unknown (see copyright)"), "copyright (package-wide, not per file)"


def _fields(paragraph: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in paragraph.splitlines():
        if line[:1].isspace() and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


def plasma_licence(path: Path) -> str | None:
    """A Plasma wallpaper's own licence, from its metadata.json / metadata.desktop (more precise than the package's
    copyright file, which says GPL-2+ for everything)."""
    folder = next((p for p in path.parents if (p / "metadata.json").exists() or (p / "metadata.desktop").exists()),
                  None)
    if folder is None:
        return None
    if (folder / "metadata.json").exists():
        try:
            return json.loads((folder / "metadata.json").read_text())["KPlugin"]["License"]
        except (ValueError, KeyError):
            return None
    match = re.search(r"^X-KDE-PluginInfo-License=(.+)$", (folder / "metadata.desktop").read_text(), re.M)
    return match.group(1).strip() if match else None


def mate_backdrop(path: Path, root: Path) -> tuple | None:
    """The gradient MATE draws behind a (partly transparent) wallpaper, from its background-properties XML:
    (pcolor BGR, scolor BGR, "vertical" | "horizontal"), or None."""
    import xml.etree.ElementTree as ET

    for xml_file in sorted((root / "usr/share/mate-background-properties").glob("*.xml")):
        try:
            wallpapers = ET.parse(xml_file).getroot()
        except ET.ParseError:
            continue
        for paper in wallpapers:
            if (paper.findtext("filename") or "").lstrip("/") == path.relative_to(root).as_posix():
                colours = [paper.findtext(key) or "" for key in ("pcolor", "scolor")]
                if not all(re.fullmatch(r"#[0-9A-Fa-f]{6}", c) for c in colours):
                    return None
                bgr = [tuple(int(c[i:i + 2], 16) for i in (5, 3, 1)) for c in colours]
                shade = paper.findtext("shade_type") or ""
                return bgr[0], bgr[1] if "gradient" in shade else bgr[0], shade.split("-")[0] or "vertical"
    return None


# what to take from each package ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackageSource:
    package: str
    root: str  # folder inside the package
    patterns: tuple[str, ...]  # globs under root
    kind: str  # texture | artwork | painting
    tileable: bool = False  # seamless tiles: small ones are tiled up rather than dropped
    name: Callable[[Path], str] = lambda path: path.stem
    pick: Callable[[list[Path]], list[Path]] = lambda paths: paths
    work: str = ""  # what the image is, when the package does not say


def _plasma_name(path: Path) -> str:
    return path.parents[2].name + ("-dark" if path.parent.name == "images_dark" else "")


def _largest_per_folder(paths: list[Path]) -> list[Path]:
    """Plasma ships each wallpaper at several sizes (images/5120x2880.png, 1080x1920.png…): keep the largest."""
    best: dict[Path, Path] = {}
    for path in paths:
        w, _, h = path.stem.partition("x")
        area = int(w) * int(h) if w.isdigit() and h.isdigit() else 0
        current = best.get(path.parent)
        if current is None or area > int(current.stem.split("x")[0]) * int(current.stem.split("x")[-1]):
            best[path.parent] = path
    return sorted(best.values())


PACKAGES = (
    PackageSource("gimp-data", "usr/share/gimp/2.0/patterns", ("*/*.pat",), "texture", tileable=True),
    PackageSource("mypaint-data-extras", "usr/share/mypaint/backgrounds", ("*/*.png",), "texture", tileable=True),
    PackageSource("plasma-workspace-wallpapers", "usr/share/wallpapers",
                  ("*/contents/images/*.*", "*/contents/images_dark/*.*"), "artwork", name=_plasma_name,
                  pick=_largest_per_folder),
    PackageSource("gnome-backgrounds", "usr/share/backgrounds/gnome", ("*.webp", "*.svg", "*.jpg", "*.png"),
                  "artwork"),
    # nature/ holds photographs, already among ../shared/photos (the content set): only the artwork is taken
    PackageSource("mate-backgrounds", "usr/share/backgrounds/mate", ("abstract/*", "desktop/*"), "artwork"),
    PackageSource("visp-images-data", "usr/share/visp-images-data/ViSP-images/Klimt", ("Klimt.png",), "painting",
                  name=lambda path: "klimt_the_kiss",
                  work="Gustav Klimt, The Kiss (1907-08); the work itself is public domain"),
)
