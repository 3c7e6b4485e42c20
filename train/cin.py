"""Dumoulin et al. 2017 ("A Learned Representation for Artistic Style"): N paintings in one network through
conditional instance norm. Each sample of a batch gets a random painting; its one-hot style vector selects that
painting's norm parameters. A trained model learns a further painting by training only its new norm parameters, and
polishes paintings it has by training only theirs: in both cases its other styles stay bit-identical."""
from __future__ import annotations

import torch
from torch import nn

from rtstyle.errors import RtstyleError
from rtstyle.meta import ModelMeta
from rtstyle.models import create_model
from rtstyle.models.norms import ConditionalInstanceNorm

from .data import Style
from .loop import Conditioning, Family
from .losses import PerceptualLoss


class ConditionalFamily(Family):
    name = "cin"

    def __init__(self, styles: list[Style], style_scale: dict[str, float] | None = None,
                 base: tuple[nn.Module, ModelMeta] | None = None, content_scale: dict[str, float] | None = None,
                 refine: bool = False, teacher: tuple[nn.Module, ModelMeta] | None = None):
        """styles: the paintings to learn. style_scale / content_scale: {name: multiplier} on a painting's style /
        content loss (paintings differ in how strongly their Gram loss pulls; raising both for one painting lowers
        the smoothing terms' hold on it). base: a trained cin model and its meta, to which `styles` are added; only
        the new norm parameters then train. refine: `styles` are paintings `base` already has (matched by name);
        only their own norm rows train, on them alone, so every step goes to them and the others stay as they were.
        teacher: a trained cin model (any variant) that knows every painting trained, by name: each batch is also
        pulled towards its stylization of the same photos in the same styles (train cin --teacher)."""
        self.styles = styles
        self.base = base
        self.refine = refine
        self.old_names = list(base[1].style_names) if base else []
        given = [s.name for s in styles]
        if refine:
            missing = [name for name in given if name not in self.old_names]
            if missing:
                raise RtstyleError(f"--refine-style: the model has no style named {missing[0]!r} "
                                   f"(it has {', '.join(self.old_names)})")
            self.names = self.old_names
            self.slots = torch.tensor([self.old_names.index(name) for name in given])
        else:
            clash = set(self.old_names) & set(given)
            if clash:
                raise RtstyleError(f"the model already has a style named {sorted(clash)[0]!r}")
            self.names = self.old_names + given
            self.slots = torch.arange(len(self.old_names), len(self.names))
        self.scale = self._per_style(style_scale, "--style-scale")
        self.content_scale = self._per_style(content_scale, "--content-scale")
        self.targets: dict[str, torch.Tensor] = {}
        self.teacher, self.teacher_rows = None, None
        if teacher:
            self.teacher, teacher_meta = teacher
            if teacher_meta.family != "cin":
                raise RtstyleError(f"--teacher needs a cin model; this one is {teacher_meta.family}")
            known = teacher_meta.style_names
            missing = [s.name for s in styles if s.name not in known]
            if missing:
                raise RtstyleError(f"--teacher: the model has no style named {missing[0]!r} "
                                   f"(it has {', '.join(known)})")
            self.teacher_rows = torch.tensor([known.index(s.name) for s in styles])
            self.teacher_styles = len(known)
            self.teacher.requires_grad_(False)

    def _per_style(self, multipliers: dict[str, float] | None, option: str) -> torch.Tensor:
        unknown = set(multipliers or {}) - {s.name for s in self.styles}
        if unknown:
            raise RtstyleError(f"{option} names {sorted(unknown)[0]!r}, which is not among the styles trained")
        return torch.tensor([(multipliers or {}).get(s.name, 1.0) for s in self.styles])

    @property
    def adding(self) -> bool:
        return self.base is not None

    def build_model(self, variant: str) -> nn.Module:
        model = create_model("cin", variant, num_styles=len(self.names))
        if self.base:
            old_model, old_meta = self.base
            if old_meta.family != "cin":
                raise RtstyleError(f"--from needs a cin model; this one is {old_meta.family}")
            if old_meta.variant != variant:
                raise RtstyleError(f"--from model is {old_meta.variant}, not {variant}")
            state = model.state_dict()
            for key, value in old_model.state_dict().items():
                if state[key].shape == value.shape:
                    state[key] = value
                else:  # a CIN table: old rows kept, new rows start at the mean of the old styles
                    n = value.shape[0]
                    state[key] = torch.cat([value, value.mean(0, keepdim=True).expand(state[key].shape[0] - n, -1)])
            model.load_state_dict(state)
        return model

    def check_resume(self, meta: ModelMeta) -> None:
        if meta.style_names != self.names:
            raise RtstyleError(f"style count or names mismatch: the checkpoint has {len(meta.style_names)} "
                               f"({', '.join(meta.style_names)}), this run {len(self.names)} ({', '.join(self.names)})")

    def trainable_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        if not self.adding:
            return [p for p in model.parameters() if p.requires_grad]
        params = []
        for module in model.modules():
            if isinstance(module, ConditionalInstanceNorm):
                for p in (module.weight, module.bias):
                    mask = torch.zeros(p.shape[0], 1)
                    mask[self.slots.cpu()] = 1  # gradients reach only the trained styles' rows
                    p.register_hook(lambda grad, mask=mask: grad * mask.to(grad.device))
                    params.append(p)
        for p in model.parameters():
            if not any(p is q for q in params):
                p.requires_grad_(False)
        return params

    def prepare(self, loss_fn: PerceptualLoss, device: torch.device) -> None:
        per_style = [loss_fn.style_targets(s.image.to(device)) for s in self.styles]
        self.targets = {layer: torch.cat([t[layer] for t in per_style]) for layer in per_style[0]}  # (S,C,C)
        self.scale = self.scale.to(device)
        self.content_scale = self.content_scale.to(device)
        self.slots = self.slots.to(device)
        if self.teacher is not None:
            self.teacher = self.teacher.to(device).eval()
            self.teacher_rows = self.teacher_rows.to(device)

    def conditioning(self, model, batch, generator, device) -> Conditioning:
        pick = torch.randint(len(self.styles), (batch,), generator=generator).to(device)
        cond = torch.nn.functional.one_hot(self.slots[pick], len(self.names)).float()
        taught = None
        if self.teacher is not None:
            taught = torch.nn.functional.one_hot(self.teacher_rows[pick], self.teacher_styles).float()
        return Conditioning(cond, {layer: t[pick] for layer, t in self.targets.items()}, self.scale[pick],
                            self.content_scale[pick], taught)

    def sample_columns(self, model, device):
        eye = torch.eye(len(self.names), device=device)
        shown = self.slots.tolist() if self.adding else range(len(self.names))
        columns = [(self.names[i], eye[i:i + 1]) for i in list(shown)[:8]]
        if len(self.names) >= 2 and not self.adding:
            columns.append((f"50/50 {self.names[0]}+{self.names[1]}", (eye[0:1] + eye[1:2]) / 2))
        return columns

    def meta(self, variant: str) -> ModelMeta:
        return ModelMeta("cin", variant, style_names=list(self.names), style_dim=len(self.names))

    def style_records(self) -> list[dict]:
        earlier = self.base[1].training.get("styles", []) if self.base else []
        trained = [{"name": s.name, "file": s.path.name, "sha256": s.sha256,
                           **({"style_scale": round(x, 6)} if x != 1.0 else {}),  # as given, not float32's 1.2999999523
                           **({"content_scale": round(c, 6)} if c != 1.0 else {})}
                          for s, x, c in zip(self.styles, self.scale.tolist(), self.content_scale.tolist())]
        if not self.refine:
            return earlier + trained
        by_name = {r["name"]: r for r in trained}  # a refined painting's record now says how it was last trained
        return [by_name.get(r["name"], r) for r in earlier] if earlier else trained
