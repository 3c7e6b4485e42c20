"""One training loop for all three families. A `Family` says what differs (the model, which parameters learn, the
style targets and conditioning of each batch, the metadata); the loop does the rest: Adam, bf16 mixed precision
and channels-last where the hardware runs them fast (see `training_precision`), a deterministic seed, the
stability regularizer, a progress line with the loss parts, periodic checkpoints with metadata, resume, and a
loss-curve and sample-grid PNG written as training goes.

Outputs in the run folder: model.pt (the checkpoint), losses.png, samples.png.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from rtstyle.cpu import cpu_model, has_bf16
from rtstyle.errors import RtstyleError
from rtstyle.images import read_image
from rtstyle.meta import ModelMeta
from rtstyle.models import get_variant
from rtstyle.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from rtstyle.models.vgg import LAYER_NAMES
from rtstyle.progress import Progress

from .checkpoints import optimizer_state
from .data import ContentCrops, centre_crop, list_images
from .distributed import ShardSampler, check_batch, mean_over_ranks, shard_rows, start, stop, wrap
from .losses import LossConfig, PerceptualLoss
from .plots import plot_losses, write_sample_grid
from .stability import stability_loss
from .vgg import load_vgg16
from .warm_start import new_parameters, warm_start

# ReReVST-style compound regularization weight. Measured on ../shared/video/bikes.mp4 with a Starry Night `tiny`
# model (benchmarks/results/quality-cpu.md): warping error 0.0150 with it, 0.0400 without, at a small cost in style
# loss. Its random warps include sub-pixel and sub-stride shifts, which also teach shift equivariance.
DEFAULT_STABILITY_WEIGHT = 100.0
ANNEAL_TO = 0.05  # the learning rate at the end of an annealed run, as a fraction of --lr


def learning_rate(settings: TrainSettings, step: int) -> float:
    """The step's learning rate: constant, or from `anneal_from` on a cosine fall to lr × ANNEAL_TO at the last step
    (a final polish once the constant-rate curve is flat). A function of the step alone, so a resumed run follows
    the same schedule."""
    start = settings.anneal_from
    if start is None or step < start or settings.steps <= start:
        return settings.lr
    progress = min(1.0, (step - start) / (settings.steps - start))
    return settings.lr * (ANNEAL_TO + (1 - ANNEAL_TO) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class TrainSettings:
    content: str  # folder of photos
    out: str  # run folder
    exclude: tuple[str, ...] = ()  # photo file names kept out of training (held out for evaluation)
    variant: str = "fast"
    size: int = 256  # content crop side
    style_size: int | None = None  # long side of the paintings (default 2 × size)
    max_zoom: float = 2.0  # a crop covers between 1/max_zoom and all of a photo's shorter side
    colour_jitter: float = 0.0  # strength of the content crops' hue/saturation/contrast/brightness jitter (0: none)
    batch_size: int = 4
    steps: int = 2000
    lr: float = 1e-3
    anneal_from: int | None = None  # from this step on, the learning rate falls (cosine) to lr × ANNEAL_TO at `steps`
    stability_weight: float = DEFAULT_STABILITY_WEIGHT
    seed: int = 0
    checkpoint_every: int = 200
    workers: int | None = None  # data-loading processes (default: none on CPU, up to 8 on GPU)
    vgg_weights: str | None = None
    init_from: str | None = None  # a trained model of the same variant to start from (see warm_start.py)
    new_layers_lr: float | None = None  # with init_from: the learning rate of the layers its model lacks (default lr)
    teacher: str | None = None  # a trained model whose stylizations the outputs are also pulled towards (the family's)
    teacher_weight: float = 1.0  # that term's weight, in units of the content loss
    precision: str = "auto"  # "auto", "bf16" or "fp32" (see training_precision)
    loss: LossConfig = field(default_factory=LossConfig)


def parameter_groups(parameters: list[nn.Parameter], model: nn.Module, settings: TrainSettings) -> list[dict]:
    """The optimiser's parameter groups: one, or with --new-layers-lr a second for the layers that the --init-from
    model lacks (a grown variant's new layers start at zero and would take thousands of steps at a polishing rate)."""
    if not (settings.init_from and settings.new_layers_lr):
        return [{"params": parameters}]
    fresh = new_parameters(model, settings.init_from)
    if not any(id(p) in fresh for p in parameters):
        raise RtstyleError(f"--new-layers-lr: {settings.variant} has no layers that {settings.init_from} lacks")
    return [{"params": [p for p in parameters if id(p) not in fresh]},
            {"params": [p for p in parameters if id(p) in fresh], "lr_scale": settings.new_layers_lr / settings.lr}]


def training_precision(requested: str, device: torch.device) -> str:
    """"bf16" or "fp32". Auto picks bf16 autocast where the hardware has bf16 matrix units: a CUDA GPU that supports
    it, or a CPU with AMX-BF16 / AVX512-BF16 (read from the CPU's flags, never assumed), where oneDNN's bf16 kernels
    make a step ~2.5× faster. Gram matrices, losses and instance-norm statistics stay fp32 either way."""
    if requested not in ("auto", "bf16", "fp32"):
        raise RtstyleError(f"unknown precision {requested!r}: use auto, bf16 or fp32")
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if has_bf16() else "fp32"


@dataclass
class Conditioning:
    cond: torch.Tensor | None  # what the model's norms take
    style_targets: dict[str, torch.Tensor]  # {layer: (B or 1, C, C)}
    style_scale: torch.Tensor | None = None  # (B,) per-sample style-loss weight
    content_scale: torch.Tensor | None = None  # (B,) per-sample content-loss weight
    teacher_cond: torch.Tensor | None = None  # (B, N) what the family's teacher model's norms take
    auxiliary: dict[str, torch.Tensor] = field(default_factory=dict)  # further loss terms, added to the total


class Family:
    """What differs between the feed-forward, CIN and arbitrary trainers."""

    name: str
    teacher: nn.Module | None = None  # a trained model to distil from (see PerceptualLoss's teacher_targets)

    def build_model(self, variant: str) -> nn.Module:
        raise NotImplementedError

    def check_resume(self, meta: ModelMeta) -> None:
        """Raise RtstyleError if a checkpoint was trained on other styles."""

    def trainable_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return [p for p in model.parameters() if p.requires_grad]

    def prepare(self, loss_fn: PerceptualLoss, device: torch.device) -> None:
        """Precompute what every batch needs (style targets)."""

    def conditioning(self, model: nn.Module, batch: int, generator: torch.Generator,
                     device: torch.device) -> Conditioning:
        raise NotImplementedError

    def sample_columns(self, model: nn.Module, device: torch.device) -> list[tuple[str, torch.Tensor | None]]:
        """(label, cond) per column of the sample grid."""
        raise NotImplementedError

    def meta(self, variant: str) -> ModelMeta:
        raise NotImplementedError

    def style_records(self) -> list[dict]:
        """name, file and sha256 of every painting trained on, for the metadata."""
        return []


def train(family: Family, settings: TrainSettings, device: torch.device, resume: bool = False) -> Path:
    """Train (or, with `resume`, continue) into settings.out. Under torchrun, as one rank of a data-parallel job
    (see distributed.py)."""
    ranks, device = start(device)
    try:
        return _train(family, settings, device, resume, ranks)
    finally:
        stop(ranks)


def _train(family: Family, settings: TrainSettings, device: torch.device, resume: bool, ranks) -> Path:
    check_batch(ranks, settings.batch_size)
    out = Path(settings.out)
    checkpoint = out / "model.pt"
    if checkpoint.exists() and not resume:
        raise RtstyleError(f"{checkpoint} exists: pass --resume to continue it, or choose another --out")
    if resume and not checkpoint.exists():
        raise RtstyleError(f"nothing to resume: {checkpoint} does not exist")
    list_images(settings.content, settings.exclude)  # fail on a bad content folder before anything slow
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(settings.seed)
    model = family.build_model(settings.variant)
    state: dict = {"step": 0, "history": [], "seconds": 0.0}
    if resume:
        _, meta, state = load_checkpoint(checkpoint)
        if meta.family != family.name or meta.variant != settings.variant:
            raise RtstyleError(f"{checkpoint} is a {meta.family} {meta.variant} model, "
                               f"not {family.name} {settings.variant}")
        family.check_resume(meta)
        model.load_state_dict(read_checkpoint(checkpoint)["state_dict"])
    elif settings.init_from:
        copied = warm_start(model, settings.variant, settings.init_from, getattr(family, "names", None))
        if ranks.main:
            print(f"started from {settings.init_from} ({copied} tensors)")
    cuda = device.type == "cuda"
    precision = training_precision(settings.precision, device)
    channels_last = cuda or precision == "bf16"  # oneDNN's and cuDNN's fast convolution layout
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=layout)
    model.train()
    net = wrap(model, ranks, device)  # what the steps call; `model` is what gets saved

    loss = settings.loss
    vgg = load_vgg16(max(loss.layers, key=LAYER_NAMES.index), settings.vgg_weights, device).to(memory_format=layout)
    loss_fn = PerceptualLoss(vgg, loss)
    family.prepare(loss_fn, device)
    optimizer = torch.optim.Adam(parameter_groups(family.trainable_parameters(model), model, settings), lr=settings.lr)
    saved = optimizer_state(checkpoint, state) if resume else None
    if saved:
        if len(saved["param_groups"]) != len(optimizer.param_groups):
            raise RtstyleError(f"{checkpoint} was trained " + ("with" if len(saved["param_groups"]) > 1 else "without")
                               + " --new-layers-lr: resume it the same way")
        optimizer.load_state_dict(saved)
    start = int(state["step"])
    if start >= settings.steps:
        raise RtstyleError(f"{checkpoint} already has {start} steps; ask for more with --steps")

    workers = settings.workers if settings.workers is not None else (min(8, (os.cpu_count() or 2) - 1) if cuda else 0)
    dataset = ContentCrops(settings.content, settings.size, settings.seed, settings.max_zoom,
                           exclude=settings.exclude, colour_jitter=settings.colour_jitter)
    indices = ShardSampler(start, settings.steps, settings.batch_size, ranks)  # this rank's rows of every step
    loader = DataLoader(dataset, batch_size=settings.batch_size // ranks.world, sampler=indices, num_workers=workers,
                        pin_memory=cuda, persistent_workers=workers > 0)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    if ranks.main:
        print(f"training on {device} in {precision}" + ("" if cuda else f" ({cpu_model()})")
              + (f", rank 0 of {ranks.world}" if ranks.active else ""), flush=True)
    history: list[dict] = list(state.get("history", []))
    log_every = max(1, settings.steps // 400)
    sums: dict[str, float] = {}
    summed = 0  # steps in `sums`
    seconds_before, clock = float(state.get("seconds", 0.0)), time.perf_counter()
    samples = _sample_contents(settings.content, settings.size, device, settings.exclude) if ranks.main else None
    rows = ranks.rows(settings.batch_size)

    def save(step: int) -> None:
        elapsed = seconds_before + time.perf_counter() - clock
        meta = family.meta(settings.variant)
        meta.max_size = get_variant(settings.variant).max_side
        meta.training = {**meta.training, **asdict(settings), "family": family.name, "steps": step,
                         "device": str(device), "precision": precision, "cpu": cpu_model(),
                         "wall_seconds": round(elapsed, 1), "styles": family.style_records()}
        save_checkpoint(checkpoint, model, meta, {"step": step, "optimizer": optimizer.state_dict(),
                                                  "history": history, "seconds": elapsed})
        if history:
            plot_losses(history, out / "losses.png", title=f"{family.name} {settings.variant}", x_key="step")
        model.eval()
        with torch.no_grad(), amp:
            columns = [(label, model(samples, cond).float()) for label, cond in family.sample_columns(model, device)]
        model.train()
        write_sample_grid(out / "samples.png", samples, columns)

    step = start
    quiet = None if ranks.main else io.StringIO()  # one progress line per job, not per rank
    with sigterm_as_ctrl_c(), Progress(total=settings.steps - start, label=f"train {family.name}", unit="step",
                                       stream=quiet) as bar:
        try:
            for content in loader:
                began = time.perf_counter()
                generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
                content = content.to(device, non_blocking=True).contiguous(memory_format=layout)
                with amp:
                    # drawn for the whole batch, as one process would, then cut to this rank's rows
                    cond = family.conditioning(model, settings.batch_size, generator, device)
                    auxiliary = cond.auxiliary
                    cond = Conditioning(*(shard_rows(part, settings.batch_size, rows) for part in
                                          (cond.cond, cond.style_targets, cond.style_scale, cond.content_scale,
                                           cond.teacher_cond)))
                    output = net(content, cond.cond).float()
                    taught = None
                    if family.teacher is not None:
                        with torch.no_grad():
                            taught = loss_fn.content_targets(family.teacher(content, cond.teacher_cond).float())
                    total, parts = loss_fn(output, loss_fn.content_targets(content), cond.style_targets,
                                           cond.style_scale, cond.content_scale, taught, settings.teacher_weight)
                    for name, value in auxiliary.items():
                        total = total + value
                        parts[name] = value.detach()
                    if settings.stability_weight:
                        stable = settings.stability_weight * stability_loss(net, content, output, cond.cond, generator,
                                                                            shard=(rows, settings.batch_size))
                        total = total + stable
                        parts["stability"] = stable.detach()
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(settings, step) * group.get("lr_scale", 1.0)
                optimizer.step()
                step += 1
                values = {**mean_over_ranks({"total": total, **parts}, ranks),  # the global batch's losses
                          "seconds": time.perf_counter() - began}  # this step's wall time, data loading excluded
                if not np.isfinite(values["total"]):
                    raise RtstyleError(f"training diverged at step {step} (loss {values['total']}); lower --lr")
                for key, value in values.items():
                    sums[key] = sums.get(key, 0.0) + value
                summed += 1
                if step % log_every == 0 or step == settings.steps:
                    history.append({"step": step, **{k: v / summed for k, v in sums.items()}})
                    sums.clear()
                    summed = 0  # a resumed run's first entry covers fewer than log_every steps
                bar.update(1, loss=values["total"], content=values["content"], style=values["style"],
                           **{key: values[key] for key in ("teacher", "stability") if key in values})
                if ranks.main and (step % settings.checkpoint_every == 0 or step == settings.steps):
                    save(step)
        except KeyboardInterrupt:  # Ctrl-C or `kill` keeps every finished step: --resume continues from there
            if ranks.main and step > start and step % settings.checkpoint_every:
                save(step)
                print(f"\nstopped at step {step}: saved {checkpoint}; --resume continues", file=sys.stderr, flush=True)
            raise
    return checkpoint


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """`kill PID` (SIGTERM) stops a training as Ctrl-C does, keeping its finished steps: a shell starts background
    jobs (`nohup … &`) with Ctrl-C's SIGINT ignored, so `kill` is how such a run is stopped."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sample_contents(folder: str, size: int, device: torch.device, exclude: tuple[str, ...]) -> torch.Tensor:
    """Three training photos spread over the folder, centre-cropped to size×size, for the sample grid: (3,3,S,S)."""
    files = list_images(folder, exclude)
    chosen = [files[i * len(files) // 3] for i in range(min(3, len(files)))]
    return torch.stack([torch.from_numpy(centre_crop(read_image(path), size)) for path in chosen]).to(device)
