"""The Ray side of `rtstyle batch`: connect to a cluster (or start an embedded one), ship the model once through the
object store, run one task per file (or per segment, plus a join task), retry tasks whose worker was lost, and keep
one progress line across all of them.

Ray schedules by declared resources: a task asks for `cpus` cores (and `gpus` where the model runs on a GPU), so a
cluster runs as many files at once as it has room for. A task that dies with its worker (a crash, a killed process,
a lost node) is run again, up to `retries` times; a file that fails by itself (corrupt, unreadable) is not retried:
its error comes back in its Result. Inputs and OUT_DIR must be at the same path on every machine (a shared
filesystem); the model need not be.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from rtstyle.cluster.jobs import Job
from rtstyle.cluster.work import ModelBundle, Options, Result, describe, join, transcode
from rtstyle.errors import RtstyleError
from rtstyle.segments import Segment


def _ray():
    try:
        import ray
    except ImportError:
        raise RtstyleError("rtstyle batch runs on Ray: pip install 'rtstyle[cluster]'") from None
    return ray


def connect(address: str | None, workers: int | None) -> bool:
    """Join the cluster at `address` (or $RAY_ADDRESS), or start an embedded local one with `workers` CPUs (default:
    this machine's cores). True when this call started Ray (so the caller shuts it down)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RtstyleError(f"cannot start or reach {where}: {describe(exc)}") from None
    return True


def shutdown() -> None:
    _ray().shutdown()


def cluster_slots(cpus: float, gpus: float) -> str:
    """How many tasks the cluster runs at once, in words; RtstyleError when no machine has what one task asks for
    (Ray would wait for it forever)."""
    ray = _ray()
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    fits = [min(res.get("CPU", 0) // cpus, res.get("GPU", 0) // gpus if gpus else float("inf")) for res in nodes]
    slots = int(sum(fits))
    if slots == 0:
        need = f"{cpus:g} CPUs" + (f" and {gpus:g} GPUs" if gpus else "")
        raise RtstyleError(f"no machine in the Ray cluster has {need} for one task (--cpus-per-task, "
                           f"--gpus-per-task)")
    total = sum(res.get("CPU", 0) for res in nodes)
    return f"{slots} workers ({total:g} CPUs on {len(nodes)} machine{'s' if len(nodes) > 1 else ''})"


class ProgressBoard:
    """A Ray actor every task reports to: frames written so far per task key, and how often each task started (a
    restart after a lost worker begins again at 0 frames, so totals never count a frame twice)."""

    def __init__(self) -> None:
        self.frames: dict[str, int] = {}
        self.starts: dict[str, int] = {}
        self.pids: dict[str, int] = {}

    def start(self, key: str, pid: int) -> None:
        self.frames[key] = 0
        self.starts[key] = self.starts.get(key, 0) + 1
        self.pids[key] = pid

    def report(self, key: str, frames: int) -> None:
        self.frames[key] = frames

    def snapshot(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        return dict(self.frames), dict(self.starts), dict(self.pids)


def _transcode_task(board, key: str, job: Job, bundle: ModelBundle, options: Options,
                    segment: Segment | None) -> Result:
    # waited for: a short segment can end before a fire-and-forget start is recorded, and the last snapshot would
    # then miss its worker and attempt count
    _ray().get(board.start.remote(key, os.getpid()))
    return transcode(job, bundle, options, lambda frames: board.report.remote(key, frames), segment)


@dataclass
class Update:
    """What the progress callback sees: frames written per task key ("3" for file 3, "3:1" for its segment 1),
    starts per key, and the worker process of each key's latest attempt."""

    frames: dict[str, int]
    starts: dict[str, int]
    pids: dict[str, int]


def run_jobs(plans: list[tuple[Job, list[Segment] | None]], bundle: ModelBundle, options: Options, *,
             cpus: float = 1, gpus: float = 0, retries: int = 3,
             on_update: Callable[[Update], None] | None = None,
             on_result: Callable[[Result, int], None] | None = None, poll: float = 0.25) -> list[Result]:
    """Run every job on the connected cluster; a job with segments runs one task per segment and a join task.
    on_update: called every `poll` seconds with the progress; on_result(result, attempts): as each file ends.
    Returns one Result per job, in job order."""
    ray = _ray()
    board = ray.remote(num_cpus=0)(ProgressBoard).remote()
    model = ray.put(bundle)  # once into the object store; each machine fetches it once
    task = ray.remote(_transcode_task).options(num_cpus=cpus, num_gpus=gpus, max_retries=retries,
                                               retry_exceptions=False)
    joiner = ray.remote(join).options(num_cpus=min(cpus, 0.5), max_retries=retries, retry_exceptions=False)
    pending, submitted = {}, []
    for job, segments in plans:
        if segments is None:
            pending[task.remote(board, str(job.index), job, model, options, None)] = job
        else:
            parts = [task.remote(board, f"{job.index}:{s.index}", job, model, options, s) for s in segments]
            pending[joiner.remote(job, options, *parts)] = job
            submitted += parts
    submitted += list(pending)
    results: dict[int, Result] = {}
    try:
        _wait(ray, pending, results, board, retries, on_update, on_result, poll)
    finally:
        if pending:  # interrupted (Ctrl-C): no more work on the files not finished
            for ref in submitted:
                ray.cancel(ref, force=True)
        ray.kill(board)
    return [results[job.index] for job, _ in plans]


def _wait(ray, pending: dict, results: dict[int, Result], board, retries: int, on_update, on_result,
          poll: float) -> None:
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=poll)
        update = Update(*ray.get(board.snapshot.remote()))
        if on_update is not None:
            on_update(update)
        for ref in ready:
            job = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as exc:
                result = Result(job, error=_failure(ray, exc, retries))
            results[job.index] = result
            if on_result is not None:
                keys = [k for k in update.starts if k == str(job.index) or k.startswith(f"{job.index}:")]
                on_result(result, max([update.starts[k] for k in keys], default=1))


def _failure(ray, exc: BaseException, retries: int) -> str:
    """One line for a task that ended in a Ray error: its worker (or node) lost more often than retried, or an
    exception the task did not catch."""
    cause = getattr(exc, "cause", None) or exc
    lost = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError,
            ray.exceptions.OwnerDiedError)
    if isinstance(cause, lost) or isinstance(exc, lost):
        return f"worker lost {retries + 1} times, gave up ({type(cause).__name__})"
    return describe(cause)
