"""A transform network for real time on a CPU whose texture does not lock to a stride grid.

The `tiny` body reaches 1/4 resolution with a 4×4 stride-4 "patchify" stem and returns with a pixel shuffle, so
every 4×4 output block is a separate function of one feature vector: its texture moves in 4-pixel jumps when the
camera pans, and shows as a brick pattern. This body keeps the cheap 1/4-resolution core but
- downsamples only after a fixed 5-tap binomial blur (BlurPool, Zhang 2019, "Making convolutional networks
  shift-invariant again"), so features at 1/2 and 1/4 resolution are band-limited and move smoothly with
  sub-stride shifts;
- upsamples bilinearly and then blurs with a 3-tap binomial (a resize, not a pixel shuffle or transposed
  convolution: Odena et al. 2016; the blur evens out bilinear's period-2 pattern of weights), and adds U-Net skips
  from the same resolution, so fine detail comes from layers that run at the output's own grid;
- ends with a 3×3 convolution at full resolution, which is exactly shift-equivariant.
The stability regularizer's random sub-stride shifts (train/stability.py) then teach the remaining equivariance.

Widths (w0, w1, w2) are the channels at full, 1/2 and 1/4 resolution; a fourth width w3 adds a 1/8 level (blur-pool,
conv, `coarse_blocks` residual blocks) after the 1/4 blocks, added back through a 1×1 convolution that starts at zero,
so a network trained without it starts out unchanged. A 96-channel 1/8 block costs the MACs of a 48-channel 1/4
block but sees twice as far and is twice as wide: the deep style layers (relu4_3) match what it paints there.
`detail_blocks` add bottleneck residual blocks (DetailBlock) at 1/2 resolution after the decoder's 1/2 convolution,
for the finer brush texture (VGG's relu2_2); `fine_blocks` add the same blocks at full resolution, after the last
norm, so the painting's 1–2 px texture has conditioned layers at the output's own grid; they too start at zero.
Cost per 640×480 frame: 5.8 GMAC for `fast`, (16, 32, 48) with 5 blocks at 1/4; dense 3×3 convolutions, which bf16
matrix units run far faster than depthwise ones.
Measured on random weights, the 5-tap pooling and blurred upsampling halve the shift error of the 3-tap / plain
bilinear version (4.9 → 2.6 /255 at a 1-px shift).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rtstyle.models.layers import ConvNormReLU, NormFactory, PaddedConv, ResidualBlock


class Blur(nn.Module):
    """A fixed binomial blur per channel ([1,2,1] or [1,4,6,4,1], outer product, normalised), reflect-padded, with an
    optional stride (BlurPool, Zhang 2019). (B,C,H,W) → (B,C,⌈H/stride⌉,⌈W/stride⌉)."""

    TAPS = {3: (1.0, 2.0, 1.0), 5: (1.0, 4.0, 6.0, 4.0, 1.0)}

    def __init__(self, channels: int, taps: int = 3, stride: int = 1):
        super().__init__()
        line = torch.tensor(self.TAPS[taps])
        kernel = line[:, None] * line[None, :]
        self.register_buffer("kernel", (kernel / kernel.sum()).expand(channels, 1, taps, taps).clone(),
                             persistent=False)
        self.pad, self.stride = taps // 2, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, [self.pad] * 4, mode="reflect")
        return F.conv2d(x, self.kernel.to(x.dtype), stride=self.stride, groups=x.shape[1])


class DetailBlock(nn.Module):
    """A bottleneck residual block for the 1/2- or full-resolution level: conv 3×3 (C → C/2), norm, ReLU, conv 3×3
    (C/2 → C) added back. The last convolution starts at zero, so a network trained without the block starts out
    unchanged. Half as many MACs as a full residual block at the same width."""

    def __init__(self, channels: int, padding: str, make_norm: NormFactory):
        super().__init__()
        self.squeeze = ConvNormReLU(channels, channels // 2, 3, 1, padding, make_norm)
        self.expand = PaddedConv(channels // 2, channels, 3, 1, padding)
        nn.init.zeros_(self.expand.conv.weight), nn.init.zeros_(self.expand.conv.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return x + self.expand(self.squeeze(x, cond))


def upsample_to(x: torch.Tensor, like: torch.Tensor, blur: Blur) -> torch.Tensor:
    """Bilinear resize of x to like's height and width (exact sizes, so odd frame sides come back whole), blurred."""
    return blur(F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False))


class AntialiasedNet(nn.Module):
    """(B,3,H,W) float RGB in [0,1] + conditioning → (B,3,H,W) float RGB in [0,1], for any H, W ≥ 16.

    full res: conv 3→w0, ReLU ─────────────────────────────────────────────┐ skip
    1/2:      blur-pool, conv w0→w1, norm, ReLU ─────────────────────┐ skip │
    1/4:      blur-pool, conv w1→w2, norm, ReLU, residual blocks      │      │
    [1/8:     blur-pool, conv w2→w3, norm, ReLU, residual blocks, 1×1 conv w3→w2 (zero at start), bilinear up
              + blur, added to the 1/4 features]                                 │      │
    1/2:      1×1 conv w2→w1, bilinear up + blur, + skip, conv 3×3, norm, ReLU [, detail blocks]
    full res: 1×1 conv w1→w0, bilinear up + blur, + skip, norm, ReLU [, fine blocks], conv 3×3 → RGB, sigmoid
    `cond` is passed to every norm (None, a style-weight vector, or a style embedding), as in TransformerNet.
    """

    def __init__(self, variant, make_norm: NormFactory):
        super().__init__()
        self.variant = variant
        w0, w1, w2, *coarse = variant.widths
        pad = variant.padding
        self.stem = PaddedConv(3, w0, 3, 1, pad)
        self.pool0 = Blur(w0, taps=5, stride=2)
        self.down1 = ConvNormReLU(w0, w1, 3, 1, pad, make_norm)
        self.pool1 = Blur(w1, taps=5, stride=2)
        self.down2 = ConvNormReLU(w1, w2, 3, 1, pad, make_norm)
        self.residuals = nn.ModuleList(ResidualBlock(w2, pad, make_norm) for _ in range(variant.residual_blocks))
        self.coarse = None
        if coarse:
            w3, = coarse
            self.pool2 = Blur(w2, taps=5, stride=2)
            self.down3 = ConvNormReLU(w2, w3, 3, 1, pad, make_norm)
            self.coarse = nn.ModuleList(ResidualBlock(w3, pad, make_norm) for _ in range(variant.coarse_blocks))
            self.expand3 = nn.Conv2d(w3, w2, 1)
            nn.init.zeros_(self.expand3.weight), nn.init.zeros_(self.expand3.bias)
            self.smooth2 = Blur(w2)
        self.reduce2 = nn.Conv2d(w2, w1, 1)
        self.smooth1 = Blur(w1)
        self.up1 = ConvNormReLU(w1, w1, 3, 1, pad, make_norm)
        self.details = nn.ModuleList(DetailBlock(w1, pad, make_norm) for _ in range(variant.detail_blocks))
        self.reduce1 = nn.Conv2d(w1, w0, 1)
        self.smooth0 = Blur(w0)
        self.norm0 = make_norm(w0)
        self.fines = nn.ModuleList(DetailBlock(w0, pad, make_norm) for _ in range(variant.fine_blocks))
        self.output = PaddedConv(w0, 3, 3, 1, "reflect")

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None and x.shape[0] == 1 and cond.shape[0] > 1:
            x = x.expand(cond.shape[0], -1, -1, -1)
        full = F.relu(self.stem(x))
        half = self.down1(self.pool0(full), cond)
        y = self.down2(self.pool1(half), cond)
        for block in self.residuals:
            y = block(y, cond)
        if self.coarse is not None:
            z = self.down3(self.pool2(y), cond)
            for block in self.coarse:
                z = block(z, cond)
            y = y + upsample_to(self.expand3(z), y, self.smooth2)
        y = self.up1(upsample_to(self.reduce2(y), half, self.smooth1) + half, cond)
        for block in self.details:
            y = block(y, cond)
        y = F.relu(self.norm0(upsample_to(self.reduce1(y), full, self.smooth0) + full, cond))
        for block in self.fines:
            y = block(y, cond)
        return torch.sigmoid(self.output(y))
