"""Data-parallel training across processes and machines: `rtstyle train ...` started by `torchrun --nproc-per-node N`
(and `--nnodes` for several machines) runs as N ranks of one job.

Every rank holds the whole model; the global batch (--batch-size) is split into equal shards, rank r taking rows
[r·B/N, (r+1)·B/N) of each step's batch of the deterministic sample stream, so the N ranks together see exactly the
samples one process would. Random choices made per batch (which style each row gets, the stability regularizer's
motion and noise) are drawn for the whole batch on every rank, from the same seeded generator, and each rank keeps
its rows. Every loss is a mean over the batch, so DistributedDataParallel's gradient average over equal shards is the
one-process gradient: the loss curve is the same, up to floating-point summation order. Rank 0 alone writes the
checkpoint, the plots and the progress line.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; without them this is one process and every
function here is a no-op. Processes talk over gloo on CPUs and NCCL on CUDA GPUs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from rtstyle.errors import RtstyleError


@dataclass(frozen=True)
class Ranks:
    """Where this process stands: rank in [0, world), world size, and the rank on its own machine."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def main(self) -> bool:
        """The rank that writes files and prints progress."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def rows(self, batch: int) -> slice:
        """This rank's rows of a global batch of `batch` (which the world size divides)."""
        share = batch // self.world
        return slice(self.rank * share, (self.rank + 1) * share)


def start(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the process group torchrun described in the environment (one process: nothing to join). On CUDA each
    rank takes the GPU of its local rank. Returns the ranks and the device this rank trains on."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks(), device
    ranks = Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(minutes=30))
    return ranks, device


def main_process() -> bool:
    """Whether this process is rank 0 of its job (or not part of one): the one that reports."""
    return int(os.environ.get("RANK", "0")) == 0


def stop(ranks: Ranks) -> None:
    if ranks.active and dist.is_initialized():
        dist.destroy_process_group()


def check_batch(ranks: Ranks, batch: int) -> None:
    if batch % ranks.world:
        raise RtstyleError(f"--batch-size {batch} does not split into {ranks.world} equal shards: use a multiple of "
                           f"{ranks.world}")


class ShardSampler(Sampler[int]):
    """Sample indices of steps [first, last): of step s's global batch (indices s·B … s·B+B-1), this rank's rows."""

    def __init__(self, first: int, last: int, batch: int, ranks: Ranks):
        self.first, self.last, self.batch, self.rows = first, last, batch, ranks.rows(batch)

    def __iter__(self):
        for step in range(self.first, self.last):
            yield from range(step * self.batch + self.rows.start, step * self.batch + self.rows.stop)

    def __len__(self) -> int:
        return (self.last - self.first) * (self.rows.stop - self.rows.start)


def wrap(model: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """The module the training step calls: DistributedDataParallel around `model` (which keeps its own name for
    saving), or `model` itself in one process. static_graph: one step calls the network twice (the image, then its
    warped copy for the stability regularizer) before one backward pass, the same way every step."""
    if not ranks.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, static_graph=True)


def shard_rows(value, batch: int, rows: slice):
    """A per-row tensor of the global batch cut to this rank's rows; anything else (a single style's targets, None)
    unchanged."""
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch:
        return value[rows]
    if isinstance(value, dict):
        return {key: shard_rows(item, batch, rows) for key, item in value.items()}
    return value


def mean_over_ranks(values: dict[str, torch.Tensor], ranks: Ranks) -> dict[str, float]:
    """Each rank's shard means → the global batch's means (equal shards: the mean of the means), as floats."""
    names = list(values)
    stacked = torch.stack([values[name].detach().float().reshape(()) for name in names])
    if ranks.active:
        stacked = stacked.cpu() if dist.get_backend() == "gloo" else stacked
        dist.all_reduce(stacked)
        stacked = stacked / ranks.world
    return dict(zip(names, stacked.tolist()))
