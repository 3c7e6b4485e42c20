"""Safe output files: written under a temporary name beside the target and renamed when complete, so a crash or
Ctrl-C never leaves a half-written file under the final name, and never written over an input."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from rtstyle.errors import RtstyleError


def check_output_path(path: str | Path, inputs: Iterable[str | Path] = (), overwrite: bool = False) -> Path:
    """The output path, after checking its folder exists and is writable, it is no input, and it does not exist
    (unless `overwrite`)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise RtstyleError(f"output folder does not exist: {folder}")
    if not _can_write(folder):
        raise RtstyleError(f"output folder is not writable: {folder}")
    for item in inputs:
        if Path(item).exists() and path.exists() and path.resolve() == Path(item).resolve():
            raise RtstyleError(f"output would overwrite an input: {path}")
    if path.is_dir():
        raise RtstyleError(f"output is a folder: {path}")
    if path.exists() and not overwrite:
        raise RtstyleError(f"output exists: {path} (use --overwrite to replace it)")
    return path


def _can_write(folder: Path) -> bool:
    """By trying: permission bits say nothing for root, and a read-only mount shows only on a real write."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".rtstyle-write-test-"):
            return True
    except OSError:
        return False


def partial_path(path: str | Path) -> Path:
    """Where `path` is written until it is complete: a hidden name beside it, with the same suffix (so encoders pick
    the format) and this process's id (so two runs never share one)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so encoders pick the format); rename it to `path` when the
    block completes, delete it when the block raises."""
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, Path(path))
    finally:
        tmp.unlink(missing_ok=True)


def slug(text: str) -> str:
    """A style or model label made safe for a file name: letters and digits kept, the rest "_", at most 40."""
    return "".join(c if c.isalnum() else "_" for c in text)[:40]
