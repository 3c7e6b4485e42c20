"""A one-line progress display for long work (training, transcoding, export, optimisation).

    with Progress(total=300, label="gatys") as bar:
        bar.update(1, loss=1.23)

On a terminal the line redraws in place (at most 10 times a second); otherwise it prints a line every 10%.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int | None, label: str = "", stream: TextIO | None = None, unit: str = "it"):
        self.total, self.label, self.unit = total, label, unit
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.count = 0
        self.fields: dict[str, object] = {}
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._printed_count = -1

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(final=kind is None)

    def update(self, n: int = 1, **fields: object) -> None:
        self.count += n
        self.fields.update(fields)
        now = time.perf_counter()
        if self.tty:
            if now - self._last_draw >= 0.1 or self.count == self.total:
                self._last_draw = now
                self.stream.write("\r\033[K" + self.line())
                self.stream.flush()
        elif self.total:
            decile = 10 * self.count // self.total
            if decile > self._last_decile:
                self._last_decile = decile
                self._print_line()

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        parts = [self.label] if self.label else []
        if self.total:
            parts.append(f"{self.count}/{self.total} ({100 * self.count / self.total:3.0f}%)")
            if rate > 0 and self.count < self.total:
                parts.append(f"eta {_duration((self.total - self.count) / rate)}")
        else:
            parts.append(f"{self.count} {self.unit}")
        parts.append(f"{rate:.2f} {self.unit}/s" if rate < 10 else f"{rate:.0f} {self.unit}/s")
        parts.append(f"elapsed {_duration(elapsed)}")
        parts += [f"{key} {_fmt(value)}" for key, value in self.fields.items()]
        return "  ".join(parts)

    def close(self, final: bool = True) -> None:
        """Print the final line; after a failure (final=False) only clear the live one, so the error stands alone."""
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
        if final and self._printed_count != self.count:
            self._print_line()

    def _print_line(self) -> None:
        self._printed_count = self.count
        self.stream.write(self.line() + "\n")
        self.stream.flush()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"
