"""What this machine's CPU can do, read at run time (never assumed): its model name and whether it has bf16 matrix
units (Intel AMX-BF16 or AVX512-BF16), which make bf16 training and inference several times faster than fp32."""
from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs with bf16 dot-product instructions


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none, e.g. macOS or Windows)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or "unknown CPU"


def cpu_flags() -> set[str]:
    return set(_cpuinfo().get("flags", "").split())


def bf16_flags() -> list[str]:
    """The bf16 matrix-unit flags this CPU reports, e.g. ['amx_bf16', 'avx512_bf16']; [] where it has none."""
    flags = cpu_flags()
    return [flag for flag in BF16_FLAGS if flag in flags]


def has_bf16() -> bool:
    return bool(bf16_flags())
