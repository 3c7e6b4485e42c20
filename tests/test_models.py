"""The transform networks: every variant and family, odd sizes, conditioning."""
from __future__ import annotations

import pytest
import torch

from rtstyle.models import VARIANTS, create_model
from rtstyle.models.norms import ConditionalInstanceNorm, InstanceNorm
from rtstyle.models.transformer import MIN_SIZE


def cond_for(model, family: str, batch: int = 1):
    if family == "feedforward":
        return None
    if family == "cin":
        return torch.eye(3)[:batch]
    return model.predictor(torch.rand(batch, 3, 64, 64))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("family", ["feedforward", "cin", "arbitrary"])
@pytest.mark.parametrize("size", [(250, 333), (MIN_SIZE, MIN_SIZE + 1), (64, 64)])
def test_output_has_input_size_and_range(family, variant, size):
    torch.manual_seed(0)
    model = create_model(family, variant, num_styles=3).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        y = model(x, cond_for(model, family))
    assert y.shape == x.shape
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def randomise_norms(model: torch.nn.Module) -> None:
    """Untrained norms are all scale 1, shift 0; give every style its own values."""
    torch.manual_seed(1)
    for module in model.modules():
        if isinstance(module, (ConditionalInstanceNorm, InstanceNorm)):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cin_one_hot_equals_the_single_style_network(variant):
    cin = create_model("cin", variant, num_styles=3).eval()
    randomise_norms(cin)
    single = create_model("feedforward", variant).eval()
    style = 2
    norms = {name for name, module in cin.named_modules() if isinstance(module, ConditionalInstanceNorm)}
    state = {}
    for key, value in cin.state_dict().items():
        state[key] = value[style] if key.rsplit(".", 1)[0] in norms else value
    single.load_state_dict(state)
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        one_hot = cin(x, torch.nn.functional.one_hot(torch.tensor([style]), 3).float())
        expected = single(x)
    assert torch.allclose(one_hot, expected, atol=1e-5)


def test_cin_mix_differs_from_both_styles_and_batches_match_single_passes():
    model = create_model("cin", "tiny", num_styles=3).eval()
    randomise_norms(model)
    x = torch.rand(1, 3, 48, 64)
    weights = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0.5, 0.5, 0]])
    with torch.no_grad():
        batch = model(x, weights)  # one frame, three ways, one pass
        singles = torch.cat([model(x, w[None]) for w in weights])
    assert batch.shape == (3, 3, 48, 64)
    assert torch.allclose(batch, singles, atol=1e-5)
    first, second, mix = batch
    assert (mix - first).abs().mean() > 1e-3 and (mix - second).abs().mean() > 1e-3


def test_cin_needs_its_style_vector():
    model = create_model("cin", "tiny", num_styles=2)
    with pytest.raises(ValueError, match="style-weight"):
        model(torch.rand(1, 3, 32, 32))


def test_arbitrary_predictor_is_frozen_and_embeds_any_size():
    model = create_model("arbitrary", "tiny", style_dim=100)
    assert not any(p.requires_grad for p in model.predictor.features.parameters())
    assert all(p.requires_grad for p in model.predictor.bottleneck.parameters())
    model.train()
    assert not model.predictor.features.training
    emb = model.predictor(torch.rand(2, 3, 97, 131))
    assert emb.shape == (2, 100)


@pytest.mark.parametrize("family", ["feedforward", "cin", "arbitrary"])
@pytest.mark.parametrize("variant", ["tiny", "fast"])
def test_cost_counted_on_the_meta_device_equals_the_cost_of_a_real_run(variant, family):
    """`rtstyle variants` counts on PyTorch's meta device (shapes only) to print in a second: same numbers."""
    from rtstyle.models.summary import count_macs, count_parameters

    real = create_model(family, variant, num_styles=1)
    with torch.device("meta"):
        shapes_only = create_model(family, variant, num_styles=1)
    assert count_macs(shapes_only, 96, 128, family) == count_macs(real, 96, 128, family) > 0
    assert count_parameters(shapes_only) == count_parameters(real)


def test_variants_are_named_and_sized():
    assert {"tiny", "base"} <= set(VARIANTS)
    base = create_model("feedforward", "base")
    assert 1.6e6 < sum(p.numel() for p in base.parameters()) < 1.7e6  # Johnson et al.: 1.68 M
    with pytest.raises(ValueError, match="unknown variant"):
        create_model("feedforward", "huge")
    with pytest.raises(ValueError, match="unknown family"):
        create_model("pix2pix", "tiny")
