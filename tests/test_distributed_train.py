"""Data-parallel training: `rtstyle train` under torchrun with 2 gloo processes follows the same loss curve as one
process with the same global batch, writes its files once (rank 0), and resumes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import rtstyle
from rtstyle_train.distributed import Ranks, ShardSampler, check_batch

from rtstyle.errors import RtstyleError
from rtstyle.models.checkpoint import read_checkpoint

# A learning rate small enough that Adam's sign-like first steps do not blow rounding differences (one process sums a
# batch of 4 where two sum 2 + 2) past the tolerance; a rank training on its own gradients misses it by 1e-2. In fp32
# the two runs differed by under 1e-4 on the AVX-512 CPUs this was written on, by 1.2e-4 (step 7) on an AVX2-only EPYC.
TOLERANCE = 1e-3


def test_shards_cover_the_stream_once_in_order():
    one = list(ShardSampler(3, 6, 4, Ranks()))
    assert one == list(range(12, 24))
    halves = [list(ShardSampler(3, 6, 4, Ranks(rank, 2))) for rank in (0, 1)]
    assert halves[0] == [12, 13, 16, 17, 20, 21] and halves[1] == [14, 15, 18, 19, 22, 23]
    assert sorted(halves[0] + halves[1]) == one and len(ShardSampler(3, 6, 4, Ranks(1, 2))) == 6
    with pytest.raises(RtstyleError, match="equal shards"):
        check_batch(Ranks(0, 3), 4)


def _train(shared: Path, out: Path, steps: int, processes: int = 1, resume: bool = False):
    args = ["train", "cin", "--styles", shared / "styles" / "starry_night.jpg", shared / "styles" / "the_scream.jpg",
            "--content", shared / "photos", "--variant", "tiny", "--size", "64", "--steps", str(steps),
            "--batch-size", "4", "--lr", "1e-4", "--precision", "fp32", "--checkpoint-every", "5", "--out", out,
            *(["--resume"] if resume else [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as torchrun gives each of its processes
    if processes == 1:
        return rtstyle(*args, env=env)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               "-m", "rtstyle", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def _history(out: Path) -> list[dict]:
    return read_checkpoint(out / "model.pt")["training_state"]["history"]


def test_two_gloo_processes_follow_one_process_and_resume(shared, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for out, processes in ((one, 1), (two, 2)):
        result = _train(shared, out, 5, processes)
        assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("wrote ") == 1 and result.stderr.count("train cin  5/5") == 1  # rank 0 reports
    assert sorted(p.name for p in two.iterdir()) == ["losses.png", "model.pt", "samples.png"]
    for out, processes in ((one, 1), (two, 2)):
        result = _train(shared, out, 7, processes, resume=True)
        assert result.returncode == 0, result.stderr[-3000:]
    a, b = _history(one), _history(two)
    assert [h["step"] for h in a] == [h["step"] for h in b] == list(range(1, 8))
    for x, y in zip(a, b):
        for part in ("total", "content", "style", "stability"):
            assert abs(x[part] - y[part]) < TOLERANCE, (x["step"], part, x[part], y[part])
