"""Pictures of training and optimisation: loss curves."""
from __future__ import annotations

from pathlib import Path

from rtstyle.files import atomic_output


def plot_losses(history: list[dict[str, float]], path: str | Path, title: str = "", x_key: str | None = None) -> None:
    """One log-scale line per loss part ("total", "content", "style", "tv", "style/<layer>" dashed) against the
    step (or `x_key`), written atomically as an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    skip = ("scale", "step", "seconds", x_key)
    keys = [k for k in history[0] if k not in skip and any(r.get(k, 0) > 0 for r in history)]
    xs = [r[x_key] for r in history] if x_key else list(range(1, len(history) + 1))
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for key in keys:
        ys = [r.get(key, float("nan")) for r in history]
        ax.plot(xs, ys, label=key, linestyle="--" if "/" in key else "-", linewidth=1.6 if key == "total" else 1.0)
    ax.set_yscale("log")
    # Losses that start at 0 (content, when optimising from the photo) would stretch the axis down to ~1e-7.
    settled = [r.get(k) for r in history[len(history) // 2:] for k in keys if r.get(k, 0) > 0]
    if settled:
        ax.set_ylim(bottom=min(settled) / 3)
    ax.set_xlabel(x_key or "iteration")
    ax.set_ylabel("loss (weighted)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def write_sample_grid(path: str | Path, contents, columns: list[tuple[str, object]], max_columns: int = 9) -> None:
    """A grid of images: one row per content (B,3,S,S), its first cell the content, then one labelled cell per
    (label, outputs (B,3,S,S)) column; all float RGB in [0,1] torch tensors. Written atomically."""
    import cv2
    import numpy as np

    from rtstyle.images import write_image
    from rtstyle.processing import batch_to_frames

    cells = [("content", contents)] + list(columns)[:max_columns]
    rows = []
    for r in range(contents.shape[0]):
        row = []
        for label, images in cells:
            frame = batch_to_frames(images[r:r + 1].detach().float().cpu().numpy())[0].copy()
            if r == 0:
                cv2.putText(frame, label[:24], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(frame, label[:24], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
            row.append(frame)
        rows.append(np.hstack(row))
    write_image(Path(path), np.vstack(rows))
