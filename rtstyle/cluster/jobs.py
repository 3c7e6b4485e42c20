"""What a batch has to do: the input files (named one by one, as folders or as globs), the output each one gets in
OUT_DIR, which of them are already done, and the file-safety rules of `rtstyle run` applied to many files at once:
outputs appear under their final name only when complete, and an existing output is never replaced without
--overwrite (an input never, even with it)."""
from __future__ import annotations

import glob
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from rtstyle.errors import RtstyleError
from rtstyle.files import check_output_path

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}  # in folders
TEMP_TAG = ".rtstyle-batch-"  # in every temporary file name of a batch run, followed by the run's id


@dataclass(frozen=True)
class Job:
    """One input file and where it goes. `run` names this batch run, so that its temporary files are told apart from
    another run's writing into the same folder."""

    index: int
    input: Path
    output: Path
    run: str

    def temp(self, part: str = "") -> Path:
        """A hidden file beside the output for work in progress: `part` names a segment or a stage."""
        suffix = f".{part}" if part else ""
        return self.output.with_name(f".{self.output.stem}{TEMP_TAG}{self.run}{suffix}{self.output.suffix}")

    def clean_temps(self) -> None:
        """Remove what this run left beside the output (a lost worker's partial file, segments of a failed join)."""
        mark = f"{self.output.stem}{TEMP_TAG}{self.run}"
        for path in self.output.parent.iterdir():
            if path.name.startswith(".") and mark in path.name:
                path.unlink(missing_ok=True)


def expand_inputs(items: list[str]) -> list[Path]:
    """Video files named directly, found in folders (recursively, by suffix) or matched by globs; each once, in the
    order given (folders and globs sorted)."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not matches:
                raise RtstyleError(f"no video files in {path} (looked for {', '.join(sorted(VIDEO_SUFFIXES))})")
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise RtstyleError(f"no files match {item}")
        else:
            raise RtstyleError(f"input not found: {item}")
        found.extend(matches)
    unique = list(dict.fromkeys(Path(os.path.abspath(p)) for p in found))  # links to one file stay two inputs
    if not unique:
        raise RtstyleError("no input files")
    return unique


def plan_jobs(inputs: list[Path], out_dir: str | Path, suffix: str | None = None) -> list[Job]:
    """One job per input: OUT_DIR/<input name>, with `suffix` (".mp4") replacing the input's where given. Two inputs
    that would write the same output, or an output that is an input, are refused before anything runs."""
    out = Path(out_dir)
    check_output_path(out / f".{TEMP_TAG}check", overwrite=True)  # the folder exists and takes files
    if suffix is not None and not suffix.startswith("."):
        suffix = "." + suffix
    run = uuid.uuid4().hex[:8]
    jobs, taken = [], {}
    for index, path in enumerate(inputs):
        target = (out / (path.stem + (suffix or path.suffix))).resolve()
        if target in taken:
            raise RtstyleError(f"{taken[target]} and {path} would both write {target}: rename one, or batch them "
                               f"into different folders")
        if target == path.resolve() or target in inputs:
            raise RtstyleError(f"output would overwrite an input: {target} (choose another -o folder)")
        taken[target] = path
        jobs.append(Job(index, path, target, run))
    return jobs


def publish(temp: Path, final: Path, overwrite: bool) -> None:
    """Move a finished file into place in one step. Without `overwrite`, an output that appeared meanwhile (another
    run, another worker) is kept: a hard link creates the name only if it is free; where the filesystem has no hard
    links, an existence check guards the rename."""
    if overwrite:
        os.replace(temp, final)
        return
    try:
        os.link(temp, final)
    except FileExistsError:
        raise RtstyleError(f"output exists: {final} (use --overwrite to replace it)") from None
    except OSError:
        if final.exists():
            raise RtstyleError(f"output exists: {final} (use --overwrite to replace it)") from None
        os.replace(temp, final)
        return
    temp.unlink()
