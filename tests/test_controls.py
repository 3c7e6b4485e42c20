"""The controls a user steers (style, strength, colours) are one object shared by every inference worker: a key
pressed in the window changes the frames of every worker, not only the status line."""
from __future__ import annotations

import numpy as np

from rtstyle.images import read_image
from rtstyle.live import View, key_handler
from rtstyle.model import open_model
from rtstyle.processing import fit_within, resize
from rtstyle.stylizer import Stylizer


def test_keys_change_the_frames_of_every_worker(cin_onnx, photo):
    frame = read_image(photo)
    frame = resize(frame, *fit_within(*frame.shape[:2], 96))
    with open_model(cin_onnx, backend="onnxrt", device="cpu") as model:
        stylizer = Stylizer(model)
        workers = stylizer.replicas(3)  # what `rtstyle run --source clip.mp4` gives its inference threads
        assert len(workers) == 3 and all(w.backend is not stylizer.backend for w in workers)
        on_key = key_handler(stylizer, View(), [None])

        def outputs() -> list[np.ndarray]:
            return [w([frame])[0] for w in workers]

        first = outputs()
        on_key(ord("n"))  # next style
        second = outputs()
        expected = Stylizer(model)
        expected.set_style(model.meta.style_names[1])
        for before, after in zip(first, second):
            assert np.abs(before.astype(int) - after.astype(int)).mean() > 2
            assert np.array_equal(after, expected([frame])[0])
        on_key(ord("-"))  # weaker: blended towards the original
        on_key(ord("c"))  # keep the original colours
        expected.set_strength(0.9)
        expected.preserve_colors = True
        for got in outputs():
            assert np.array_equal(got, expected([frame])[0])
        for worker in workers:
            worker.backend.close()
