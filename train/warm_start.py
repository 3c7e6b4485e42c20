"""`--init-from MODEL`: start a new network from a trained one of the same variant and any family.

From scratch, a transform network spends its first hundreds of steps learning to reproduce its input at all; a
trained one of any family already does, and already paints. So its convolutions are copied as they are, and its norm
parameters become every style's starting point: each row of a conditional instance norm, or the constant part (the
bias) of a predicted norm's linear maps, whose weights start at zero so every painting starts from the trained style.
Only the transformer is copied; an arbitrary-style model's style predictor keeps its own (VGG) start.

The source may be another variant of the same body (`fast` into `fast2`): what has the same name and shape is copied,
the rest keeps its fresh start (fast2's 1/8 level joins through a convolution that starts at zero, so it begins as
fast minus the 1/4 blocks it does not have).
"""
from __future__ import annotations

import torch
from torch import nn

from rtstyle.errors import RtstyleError
from rtstyle.models.checkpoint import load_checkpoint
from rtstyle.models.norms import ConditionalInstanceNorm, InstanceNorm, PredictedInstanceNorm

NORMS = (InstanceNorm, ConditionalInstanceNorm, PredictedInstanceNorm)


def transformer_of(model: nn.Module) -> nn.Module:
    return getattr(model, "transformer", model)  # the arbitrary family wraps it next to its style predictor


def norm_start(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """A norm's scale and shift (C,): for several styles, their mean."""
    if isinstance(norm, InstanceNorm):
        return norm.weight.detach(), norm.bias.detach()
    if isinstance(norm, ConditionalInstanceNorm):
        return norm.weight.detach().mean(0), norm.bias.detach().mean(0)
    return norm.to_gamma.bias.detach(), norm.to_beta.bias.detach()


@torch.no_grad()
def warm_start(model: nn.Module, variant: str, path: str, style_names: list[str] | None = None) -> int:
    """Copy the trained transformer at `path` into `model` (see the module doc); returns the tensors copied. A layer
    both networks have, with another shape in each, means they are different networks: refused. A CIN model trained
    on the same paintings (`style_names`, in order) gives each painting its own row, not their mean."""
    source, meta, _ = load_checkpoint(path)
    same_styles = bool(style_names) and list(getattr(meta, "style_names", None) or []) == list(style_names)
    target, source = transformer_of(model), dict(transformer_of(source).named_modules())
    copied, misfits = 0, []
    for name, module in target.named_modules():
        other = source.get(name)
        if other is None:
            continue
        if isinstance(module, NORMS) and isinstance(other, NORMS):
            gamma, beta = norm_start(other)
            if gamma.shape[-1] != norm_channels(module):
                misfits.append(name)
                continue
            both_cin = isinstance(module, ConditionalInstanceNorm) and isinstance(other, ConditionalInstanceNorm)
            if same_styles and both_cin:
                module.weight.copy_(other.weight), module.bias.copy_(other.bias)
            elif isinstance(module, InstanceNorm):
                module.weight.copy_(gamma), module.bias.copy_(beta)
            elif isinstance(module, ConditionalInstanceNorm):
                module.weight.copy_(gamma.expand_as(module.weight)), module.bias.copy_(beta.expand_as(module.bias))
            else:
                module.to_gamma.bias.copy_(gamma), module.to_beta.bias.copy_(beta)
            copied += 2
        elif not isinstance(module, NORMS) and not isinstance(other, NORMS):
            for key, tensor in module.named_parameters(recurse=False):
                theirs = getattr(other, key, None)
                if not isinstance(theirs, torch.Tensor):
                    continue
                if theirs.shape != tensor.shape:
                    misfits.append(f"{name}.{key}")
                    continue
                tensor.copy_(theirs)
                copied += 1
    if misfits or copied == 0:
        raise RtstyleError(f"--init-from: {path} is a {meta.variant} model, another kind of network than {variant}"
                           + (f" ({misfits[0]} differs)" if misfits else ""))
    return copied


def new_parameters(model: nn.Module, path: str) -> set[int]:
    """ids of the transformer parameters that the trained model at `path` has no counterpart for: the layers a grown
    variant adds (fast2's 1/8 level, fast-detail's and fast-fine's bottleneck blocks), which start fresh or at zero."""
    source, _, _ = load_checkpoint(path)
    theirs = {name for name, _ in transformer_of(source).named_parameters()}
    return {id(p) for name, p in transformer_of(model).named_parameters() if name not in theirs}


def norm_channels(norm: nn.Module) -> int:
    return norm.to_gamma.bias.shape[0] if isinstance(norm, PredictedInstanceNorm) else norm.weight.shape[-1]
