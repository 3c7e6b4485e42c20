"""`rtstyle learn`: one more painting in a cin model, only its norm rows trained, the old styles bit-identical, the
result usable by name from run/stylize; and the --guess-from hook."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import STYLE_NAMES, assert_one_line_error, make_checkpoint, rtstyle

from rtstyle.images import read_image
from rtstyle.model import open_model
from rtstyle.models.checkpoint import load_checkpoint
from rtstyle.models.norms import ConditionalInstanceNorm
from rtstyle.processing import frames_to_batch


@pytest.fixture(scope="module")
def learned(tmp_path_factory, shared):
    folder = tmp_path_factory.mktemp("learn")
    make_checkpoint(folder / "base.pt", "cin", "tiny")
    photos = folder / "photos"
    photos.mkdir()
    for name in ("054_chelsea.jpg", "038_baboon.jpg", "047_orange.jpg"):
        shutil.copy(shared / "photos" / name, photos)
    result = rtstyle("learn", shared / "styles" / "starry_night.jpg", "--model", folder / "base.pt",
                     "-o", folder / "mine.onnx", "--content", photos, "--steps", "4", "--size", "64",
                     "--batch-size", "2", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


def one_hot(index: int, count: int) -> torch.Tensor:
    return F.one_hot(torch.tensor([index]), count).float()


def test_learn_adds_the_painting_and_keeps_the_old_styles_bit_identical(learned):
    base, _, _ = load_checkpoint(learned / "base.pt")
    new, meta, state = load_checkpoint(learned / "mine.pt")
    assert meta.style_names == [*STYLE_NAMES, "starry_night"] and state["step"] == 4
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for i in range(len(STYLE_NAMES)):
            assert torch.equal(base(x, one_hot(i, 3)), new(x, one_hot(i, 4)))
        norms = [m for m in new.modules() if isinstance(m, ConditionalInstanceNorm)]
        start = torch.cat([m.weight[:3].mean(0) for m in norms])
        assert not torch.equal(torch.cat([m.weight[3] for m in norms]), start)  # the new row did learn
    assert (learned / "mine.preview.png").is_file() and read_image(learned / "mine.preview.png").size > 0
    assert not list(learned.glob(".mine.*"))  # no scratch folder left


def test_learned_onnx_lists_the_new_style_and_matches_the_old_outputs(learned, photo):
    from rtstyle_export.onnx import export_onnx

    export_onnx(learned / "base.pt", learned / "base.onnx", log=lambda line: None)
    frame = read_image(photo)[:96, :128]
    with open_model(learned / "mine.onnx", backend="onnxrt") as mine, \
            open_model(learned / "base.onnx", backend="onnxrt") as base:
        assert [s.label for s in mine.styles()] == [*STYLE_NAMES, "starry_night"]
        for old, new in zip(base.styles(), mine.styles()):
            assert np.array_equal(base.frames.infer([frame], old.cond)[0], mine.frames.infer([frame], new.cond)[0])
        stylized = mine.frames.infer([frame], mine.styles()[3].cond)[0]
        assert stylized.shape == frame.shape


def test_learned_model_is_used_by_style_name(learned, photo):
    result = rtstyle("stylize", photo, "--model", learned / "mine.onnx", "--style", "starry_night",
                     "-o", learned / "out.png", "--size", "96")
    assert result.returncode == 0, result.stderr
    assert read_image(learned / "out.png").shape[:2] != (0, 0)


def test_learn_refuses_bad_input_in_one_line(tmp_path, painting, learned):
    assert_one_line_error(rtstyle("learn", painting, "--model", learned / "mine.onnx"), ".pt")
    assert_one_line_error(rtstyle("learn", painting, "--model", tmp_path / "none.pt"), "no checkpoint")
    assert_one_line_error(rtstyle("learn", tmp_path / "missing.jpg", "--model", learned / "base.pt"), "not found")
    assert_one_line_error(rtstyle("learn", painting, "--model", learned / "base.pt", "-o", learned / "mine.onnx"),
                          "exists", "--overwrite")
    assert_one_line_error(rtstyle("learn", painting, "--model", learned / "base.pt", "--name", "ember"),
                          "already has a style")
    assert_one_line_error(rtstyle("learn", painting, "--model", learned / "base.pt", "--style-scale", "0"),
                          "--style-scale")
    make_checkpoint(tmp_path / "arbitrary.pt", "arbitrary", "tiny")
    assert_one_line_error(rtstyle("learn", painting, "--model", tmp_path / "arbitrary.pt"), "cin model")
    out_of_time = rtstyle("learn", painting, "--model", learned / "base.pt", "--minutes", "0.0001", "--size", "64",
                          "-o", tmp_path / "late.onnx")
    assert_one_line_error(out_of_time, "no step finished within --minutes")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arbitrary.pt"]  # nothing half-written left


def test_new_painting_is_learned_as_strongly_as_the_models_own_paintings(tmp_path, painting):
    """Its style-loss scale defaults to the mean of the scales the model's paintings were trained with (1 where none
    was recorded), and is recorded beside the painting like theirs."""
    from rtstyle_train.data import load_styles
    from rtstyle_train.learn import LearnFamily, usual_style_scale

    base, meta = make_checkpoint(tmp_path / "cin.pt", "cin", "tiny")
    assert usual_style_scale(meta) == 1.0
    meta.training["styles"] = [{"name": STYLE_NAMES[0], "style_scale": 1.5}, {"name": STYLE_NAMES[1]},
                               {"name": STYLE_NAMES[2], "style_scale": 0.6}]
    assert usual_style_scale(meta) == pytest.approx((1.5 + 1.0 + 0.6) / 3)
    style = load_styles([painting], 64)[0]
    family = LearnFamily(style, (base, meta), style_scale=usual_style_scale(meta))
    assert family.style_records()[-1] == {"name": style.name, "file": painting.name, "sha256": style.sha256,
                                          "style_scale": pytest.approx(3.1 / 3)}
    assert family.style_records()[:3] == meta.training["styles"]


def test_guess_from_starts_the_new_style_at_the_prediction(tmp_path, painting):
    from rtstyle_train.data import load_styles
    from rtstyle_train.learn import LearnFamily, predictor_guess

    base, meta = make_checkpoint(tmp_path / "cin.pt", "cin", "tiny")
    make_checkpoint(tmp_path / "arbitrary.pt", "arbitrary", "tiny")
    style = load_styles([painting], 128)[0]
    guess = predictor_guess(tmp_path / "arbitrary.pt", style.image, "tiny")
    model = LearnFamily(style, (base, meta), guess).build_model("tiny")
    norms = {name: m for name, m in model.named_modules() if isinstance(m, ConditionalInstanceNorm)}
    old = dict(base.named_modules())
    assert set(norms) == set(guess)
    for name, module in norms.items():
        assert torch.equal(module.weight[3], guess[name][0]) and torch.equal(module.bias[3], guess[name][1])
        assert torch.equal(module.weight[:3], old[name].weight)
    assert not torch.allclose(guess[next(iter(guess))][0], torch.ones_like(guess[next(iter(guess))][0]))
    image = torch.from_numpy(frames_to_batch([read_image(painting)[:64, :64]]))
    with torch.no_grad():
        assert model(image, one_hot(3, 4)).shape == image.shape


def test_learn_starts_from_the_arbitrary_model_distilled_from_its_cin_model(tmp_path):
    """Without --guess-from, arbitrary-VARIANT.pt beside the cin checkpoint gives the start, but only when its
    predictor was distilled from that very model (another's norm space would be a worse start than the mean)."""
    from rtstyle_train.learn import find_guesser

    from rtstyle.models.checkpoint import save_checkpoint

    make_checkpoint(tmp_path / "cin.pt", "cin", "tiny")
    assert find_guesser(tmp_path / "cin.pt", "tiny") is None
    model, meta = make_checkpoint(tmp_path / "arbitrary-tiny.pt", "arbitrary", "tiny")
    assert find_guesser(tmp_path / "cin.pt", "tiny") is None  # not distilled from it
    meta.training["distilled_from"] = "cin.pt"
    save_checkpoint(tmp_path / "arbitrary-tiny.pt", model, meta)
    assert find_guesser(tmp_path / "cin.pt", "tiny") == tmp_path / "arbitrary-tiny.pt"
    assert find_guesser(tmp_path / "cin.pt", "fast") is None
