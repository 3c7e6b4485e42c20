"""Temporal warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency"):

    E = mean over t of  Σ M_t ‖O_t − warp(O_{t+1})‖² / Σ M_t

with the backward flow t → t+1 computed on the *input* frames (OpenCV DIS optical flow), M_t the pixels whose forward
and backward flows agree (not occluded), and pixels in [0,1]. Lower means steadier video. numpy + OpenCV only.
"""
from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np


def _flow(prev_gray: np.ndarray, next_gray: np.ndarray) -> np.ndarray:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(prev_gray, next_gray, None)


def _remap(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """1 where following the flow t→t+1 and back returns near the start (Sundaram et al. 2010 consistency)."""
    back_at_target = _remap(backward, forward)
    round_trip = forward + back_at_target
    tolerance = 0.01 * ((forward ** 2).sum(-1) + (back_at_target ** 2).sum(-1)) + 0.5
    return ((round_trip ** 2).sum(-1) < tolerance).astype(np.float32)


def warping_error(inputs: Iterable[np.ndarray], outputs: Iterable[np.ndarray]) -> float:
    """Inputs and outputs: sequences of uint8 (H,W,3) BGR frames, pairwise the same size."""
    errors = []
    prev_in = prev_out = None
    for frame_in, frame_out in zip(inputs, outputs):
        gray = cv2.cvtColor(frame_in, cv2.COLOR_BGR2GRAY)
        out = frame_out.astype(np.float32) / 255
        if prev_in is not None:
            forward, backward = _flow(prev_in, gray), _flow(gray, prev_in)
            mask = occlusion_mask(forward, backward)
            warped = _remap(out, forward)  # O_{t+1} brought back to frame t
            sq = ((prev_out - warped) ** 2).sum(-1)
            errors.append(float((mask * sq).sum() / max(mask.sum(), 1.0)))
        prev_in, prev_out = gray, out
    if not errors:
        raise ValueError("the warping error needs at least two frames")
    return float(np.mean(errors))
