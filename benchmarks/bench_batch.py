"""Throughput of `rtstyle batch` per Ray worker, on one clip: N workers on N copies of it (a file per task), and on
the clip cut into keyframe segments, next to `rtstyle run` on the same clip in the same run.

    python benchmarks/bench_batch.py                      # ../shared/video/vtest.avi, 1 and 2 workers
    python benchmarks/bench_batch.py --clip film.mp4 --workers 1 2 4 8 --segment-seconds 30

fps counts the batch's own work (from the first task to the last output published); "wall" adds starting the local
Ray and the process. Records the machine's load average, since a busy machine lowers every figure.
Writes benchmarks/results/batch-cpu.json and .md.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, machine, markdown_table, write_results  # noqa: E402

SUMMARY = re.compile(r"(\d+) frames in ([\d.]+) s = ([\d.]+) fps")


def rtstyle(*args: str) -> tuple[int, float, float]:
    """(frames, seconds of work, wall seconds) of one rtstyle command, from its summary line."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "rtstyle", *args], capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"rtstyle {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    found = SUMMARY.findall(result.stdout)
    if not found:
        raise SystemExit(f"no summary line in the output of rtstyle {args[0]}: {result.stdout[-500:]}")
    frames, seconds, _ = found[-1]
    return int(frames), float(seconds), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(SHARED / "video" / "vtest.avi"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--segment-seconds", type=float, default=20, help="segment length with several workers")
    parser.add_argument("--model", default="cin-tiny")
    args = parser.parse_args()
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        # what one Ray worker runs: one process, one inference thread (decoding and encoding on threads beside it)
        frames, seconds, wall = rtstyle("run", "--source", args.clip, "-o", f"{folder}/run.mp4", "--model",
                                        args.model, "--no-window", "--workers", "1")
        rows.append({"how": "rtstyle run --workers 1 (no Ray)", "workers": "-", "frames": frames,
                     "fps": frames / seconds, "per_worker": None, "wall": wall})
        copies = []  # as many files as the most workers asked for: the clip under other names
        for index in range(max(args.workers)):
            copies.append(Path(folder) / f"copy{index}{Path(args.clip).suffix}")
            copies[-1].symlink_to(Path(args.clip).resolve())
        for workers in args.workers:
            modes = (("files", copies[:workers], 0), ("segments", [args.clip], args.segment_seconds))
            for mode, inputs, split in modes:
                if mode == "segments" and workers == 1:
                    continue
                out = Path(folder) / f"{mode}-{workers}"
                out.mkdir()
                frames, seconds, wall = rtstyle("batch", *map(str, inputs), "-o", str(out), "--model", args.model,
                                                "--suffix", ".mp4", "--workers", str(workers), "--segment-seconds",
                                                str(split))
                how = (f"rtstyle batch, {workers} worker{'s' if workers > 1 else ''}: "
                       + (f"{len(inputs)} file{'s' if len(inputs) > 1 else ''}" if mode == "files"
                          else f"1 file in {args.segment_seconds:g}-s segments"))
                rows.append({"how": how, "workers": workers, "frames": frames, "fps": frames / seconds,
                             "per_worker": frames / seconds / workers, "wall": wall})
    payload = {"machine": machine(), "clip": args.clip, "model": args.model, "rows": rows,
               "load_average": [load_before, os.getloadavg()[0]]}
    table = markdown_table(rows, [("how", "how"), ("workers", "Ray workers"), ("frames", "frames"),
                                  ("fps", "fps"), ("per_worker", "fps per worker"), ("wall", "wall s")])
    table += (f"\n\nClip {Path(args.clip).name}, model {args.model}; load average "
              f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the machine lowers fps).")
    json_path, md_path = write_results("batch-cpu", payload, table)
    print(table)
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
