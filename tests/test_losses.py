"""Gram matrices and the perceptual loss."""
from __future__ import annotations

import torch
from rtstyle_train.losses import LossConfig, PerceptualLoss, gram_matrix, total_variation


def features(seed: int = 0, shape=(2, 8, 6, 5)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_gram_is_symmetric_positive_semidefinite_and_normalised():
    f = features()
    g = gram_matrix(f)
    assert g.shape == (2, 8, 8)
    assert torch.allclose(g, g.transpose(1, 2))
    assert torch.linalg.eigvalsh(g.double()).min() > -1e-6
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    assert torch.allclose(g[0, 3, 5], (flat[0, 3] * flat[0, 5]).sum() / (c * h * w))


def test_gram_ignores_where_features_are():
    """Style is a statistic of the whole image: shuffling pixel positions leaves the Gram matrix unchanged."""
    f = features()
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(1))
    shuffled = f.reshape(2, 8, 30)[..., perm].reshape(f.shape)
    assert torch.allclose(gram_matrix(f), gram_matrix(shuffled), atol=1e-6)


def test_gram_scales_quadratically_and_shift_matches_definition():
    f = features()
    assert torch.allclose(gram_matrix(3 * f), 9 * gram_matrix(f), rtol=1e-5)
    assert torch.allclose(gram_matrix(f, shift=-1.0), gram_matrix(f - 1.0))
    assert not torch.allclose(gram_matrix(f, shift=-1.0), gram_matrix(f))


def test_total_variation():
    assert total_variation(torch.full((1, 3, 8, 8), 0.3)) == 0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0  # every horizontal neighbour differs by 1, no vertical one does
    assert torch.isclose(total_variation(stripes), torch.tensor(1.0))


def test_loss_parts_add_up_and_vanish_at_the_targets(vgg):
    loss = PerceptualLoss(vgg, LossConfig(tv_weight=2.0))
    content, style = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    total, parts = loss(content, loss.content_targets(content), loss.style_targets(style))
    assert set(parts) == {"content", "style", "tv", *(f"style/{k}" for k in loss.config.style_layers)}
    assert torch.isclose(total.detach(), parts["content"] + parts["style"] + parts["tv"])
    assert torch.isclose(parts["style"], sum(parts[f"style/{k}"] for k in loss.config.style_layers))
    assert parts["content"] == 0 and parts["style"] > 0
    _, at_style = loss(style, loss.content_targets(style), loss.style_targets(style))
    assert at_style["style"] < 1e-6 * parts["style"] and at_style["content"] == 0


def test_style_targets_batch_per_sample(vgg):
    """A batch can carry a different painting per sample (multi-style training)."""
    loss = PerceptualLoss(vgg)
    styles = torch.rand(2, 3, 32, 32)
    targets = loss.style_targets(styles)
    out = styles.flip(0)  # sample 0 gets painting 1 and vice versa
    _, swapped = loss(out, loss.content_targets(out), targets)
    _, matched = loss(styles, loss.content_targets(styles), targets)
    assert matched["style"] < 1e-6 * swapped["style"]


def test_per_sample_scales_weigh_each_samples_loss(vgg):
    """style_scale and content_scale (B,) weigh each sample's own term: scaling one sample by 0 leaves the batch
    mean of the other, and all-ones changes nothing."""
    loss = PerceptualLoss(vgg)
    photos, outputs = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    targets = loss.style_targets(torch.rand(2, 3, 32, 32))
    content = loss.content_targets(photos)
    _, plain = loss(outputs, content, targets)
    _, ones = loss(outputs, content, targets, torch.ones(2), torch.ones(2))
    assert torch.isclose(plain["content"], ones["content"]) and torch.isclose(plain["style"], ones["style"])
    _, first = loss(outputs[:1], {k: v[:1] for k, v in content.items()}, {k: v[:1] for k, v in targets.items()})
    _, only_first = loss(outputs, content, targets, torch.tensor([2.0, 0.0]), torch.tensor([2.0, 0.0]))
    assert torch.isclose(only_first["content"], first["content"], rtol=1e-4)  # 2 × its loss / 2 samples
    assert torch.isclose(only_first["style"], first["style"], rtol=1e-4)
