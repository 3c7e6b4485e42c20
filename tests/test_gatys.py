"""The Gatys reference: it optimises, and it serves as the quality yardstick."""
from __future__ import annotations

import torch
from rtstyle_train.gatys import GatysConfig, quality_vs_gatys, rgb_to_yiq, run_gatys, yiq_to_rgb
from rtstyle_train.losses import LossConfig

from rtstyle.images import read_image
from rtstyle.processing import fit_within, frames_to_batch, resize


def load(path, side: int) -> torch.Tensor:
    frame = read_image(path)
    return torch.from_numpy(frames_to_batch([resize(frame, *fit_within(*frame.shape[:2], side))]))


def test_lbfgs_cuts_style_loss_tenfold_in_50_iterations_at_128px(vgg, photo, painting):
    content, style = load(photo, 128), load(painting, 128)
    result = run_gatys(content, style, vgg, GatysConfig(iterations=50))
    first, last = result.history[0], result.history[-1]
    assert len(result.history) == 50
    assert last["style"] * 10 <= first["style"], (first["style"], last["style"])
    assert result.image.shape == content.shape
    assert 0 <= result.image.min() and result.image.max() <= 1


def test_adam_noise_start_and_two_scales_reduce_the_loss(vgg, photo, painting):
    content, style = load(photo, 96), load(painting, 96)
    config = GatysConfig(iterations=15, optimizer="adam", init="noise", scales=2, learning_rate=0.05)
    result = run_gatys(content, style, vgg, config)
    assert [r["scale"] for r in result.history] == [0.0] * 15 + [1.0] * 15
    coarse = result.history[:15]
    assert coarse[-1]["total"] < coarse[0]["total"]
    assert result.image.shape == content.shape


def test_preserve_color_keeps_the_photo_colours(vgg, photo, painting):
    content, style = load(photo, 64), load(painting, 64)
    result = run_gatys(content, style, vgg, GatysConfig(iterations=10, preserve_color=True))
    got, want = rgb_to_yiq(result.image)[:, 1:], rgb_to_yiq(content)[:, 1:]
    # chroma comes from the photo (up to clipping into [0,1]); luminance is the stylized one
    assert (got - want).abs().mean() < 0.01
    assert (rgb_to_yiq(result.image)[:, :1] - rgb_to_yiq(content)[:, :1]).abs().mean() > 0.01


def test_yiq_round_trip():
    x = torch.rand(2, 3, 5, 7)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-5)


def test_quality_yardstick_ranks_the_photo_below_the_optimum(vgg, photo, painting):
    """The unstylized photo has far more style loss than the Gatys optimum: ratio ≫ 1; the optimum scores itself
    at about 1."""
    content, style = load(photo, 64), load(painting, 64)
    loss = LossConfig()
    report = quality_vs_gatys(content, content, style, vgg, loss, GatysConfig(iterations=30))
    assert report["ratio"]["style"] > 5
    assert report["ratio"]["content"] == 0  # the photo is its own content target
    again = quality_vs_gatys(report["reference"], content, style, vgg, loss, GatysConfig(iterations=30))
    assert abs(again["ratio"]["style"] - 1) < 1e-3 and abs(again["ratio"]["content"] - 1) < 1e-3
