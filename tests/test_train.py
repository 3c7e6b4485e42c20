"""Training: every family learns on real photos and paintings; checkpoints, resume and adding a style are exact."""
from __future__ import annotations

import shutil
import signal
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_one_line_error, make_checkpoint, rtstyle
from rtstyle_train.arbitrary import ArbitraryFamily
from rtstyle_train.cin import ConditionalFamily
from rtstyle_train.data import load_styles
from rtstyle_train.feedforward import FeedForwardFamily
from rtstyle_train.loop import TrainSettings, train
from rtstyle_train.warm_start import transformer_of, warm_start

from rtstyle.errors import RtstyleError
from rtstyle.models.checkpoint import checkpoint_meta, load_checkpoint, read_checkpoint, save_checkpoint
from rtstyle.models.registry import create_model

SIZE = 64


@pytest.fixture(scope="module")
def photos(shared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for name in ("054_chelsea.jpg", "046_messi5.jpg", "047_orange.jpg", "041_building.jpg"):
        shutil.copy(shared / "photos" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def paintings(shared):
    return [shared / "styles" / n for n in ("starry_night.jpg", "great_wave.jpg", "the_scream.jpg")]


def settings(photos, out, **overrides) -> TrainSettings:
    values = dict(content=str(photos), out=str(out), variant="tiny", size=SIZE, batch_size=2, steps=40,
                  checkpoint_every=1000, lr=3e-3)
    values.update(overrides)
    return TrainSettings(**values)


def early_late(checkpoint, key="total", n=8):
    history = read_checkpoint(checkpoint)["training_state"]["history"]
    values = [h[key] for h in history]
    return np.mean(values[:n]), np.mean(values[-n:])


@pytest.mark.parametrize("family_name", ["feedforward", "cin", "arbitrary"])
def test_each_family_learns(family_name, photos, paintings, tmp_path):
    styles = load_styles(paintings if family_name != "feedforward" else paintings[:1], max_side=2 * SIZE)
    family = {"feedforward": lambda: FeedForwardFamily(styles[0]),
              "cin": lambda: ConditionalFamily(styles),
              "arbitrary": lambda: ArbitraryFamily(styles, crop_size=SIZE)}[family_name]()
    checkpoint = train(family, settings(photos, tmp_path / "run"), torch.device("cpu"))
    early, late = early_late(checkpoint, "style")
    assert late < 0.7 * early, (early, late)
    assert (tmp_path / "run" / "losses.png").is_file() and (tmp_path / "run" / "samples.png").is_file()
    model, meta, _ = load_checkpoint(checkpoint)
    assert meta.family == family_name and meta.training["steps"] == 40
    assert [s["sha256"] for s in meta.training["styles"]] == [s.sha256 for s in styles]


def test_checkpoint_round_trip_gives_identical_outputs(photos, paintings, tmp_path):
    styles = load_styles(paintings, max_side=2 * SIZE)
    checkpoint = train(ConditionalFamily(styles), settings(photos, tmp_path / "run", steps=3), torch.device("cpu"))
    model, meta, _ = load_checkpoint(checkpoint)
    again, _, _ = load_checkpoint(checkpoint)
    x, cond = torch.rand(1, 3, 50, 70), torch.tensor([[0.2, 0.3, 0.5]])
    with torch.no_grad():
        assert torch.equal(model(x, cond), again(x, cond))
    assert meta.style_names == ["starry_night", "great_wave", "the_scream"]


def test_resume_continues_exactly(photos, paintings, tmp_path):
    style = load_styles(paintings[:1], max_side=2 * SIZE)[0]
    straight = train(FeedForwardFamily(style), settings(photos, tmp_path / "a", steps=6), torch.device("cpu"))
    train(FeedForwardFamily(style), settings(photos, tmp_path / "b", steps=3), torch.device("cpu"))
    resumed = train(FeedForwardFamily(style), settings(photos, tmp_path / "b", steps=6), torch.device("cpu"),
                    resume=True)
    a, b = read_checkpoint(straight), read_checkpoint(resumed)
    assert b["training_state"]["step"] == 6
    assert [h["step"] for h in b["training_state"]["history"]] == list(range(1, 7))
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], atol=1e-6), key


class Stopped(FeedForwardFamily):
    """Ctrl-C (KeyboardInterrupt) or `kill` (SIGTERM's handler) arrives while the 4th step draws its batch."""

    def __init__(self, style, how: str):
        super().__init__(style)
        self.calls, self.how = 0, how

    def conditioning(self, model, batch, generator, device):
        self.calls += 1
        if self.calls == 4:
            if self.how == "ctrl-c":
                raise KeyboardInterrupt
            # what Python runs when `kill` arrives (the real signal is not sent: in a pytest process that earlier
            # tests filled with FFmpeg, OpenVINO and ONNX Runtime threads, its delivery crashes the interpreter)
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        return super().conditioning(model, batch, generator, device)


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_a_stopped_training_keeps_the_finished_steps_and_resume_goes_on(photos, paintings, tmp_path, how):
    style = load_styles(paintings[:1], max_side=2 * SIZE)[0]
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        train(Stopped(style, how), settings(photos, tmp_path / "run", steps=6), torch.device("cpu"))
    assert signal.getsignal(signal.SIGTERM) is handler  # SIGTERM means "stop" only while a training runs
    saved = read_checkpoint(tmp_path / "run" / "model.pt")["training_state"]  # checkpoint_every is 1000
    assert saved["step"] == 3 and [h["step"] for h in saved["history"]] == [1, 2, 3] and saved["optimizer"]
    resumed = train(FeedForwardFamily(style), settings(photos, tmp_path / "run", steps=6), torch.device("cpu"),
                    resume=True)
    assert read_checkpoint(resumed)["training_state"]["step"] == 6


def test_adding_a_style_leaves_the_old_ones_unchanged(photos, paintings, tmp_path):
    styles = load_styles(paintings[:2], max_side=2 * SIZE)
    base_path = train(ConditionalFamily(styles), settings(photos, tmp_path / "base", steps=4), torch.device("cpu"))
    base_model, base_meta, _ = load_checkpoint(base_path)
    new_style = load_styles(paintings[2:], max_side=2 * SIZE)
    family = ConditionalFamily(new_style, base=(base_model, base_meta))
    grown_path = train(family, settings(photos, tmp_path / "grown", steps=15), torch.device("cpu"))
    grown, meta, _ = load_checkpoint(grown_path)
    assert meta.style_names == ["starry_night", "great_wave", "the_scream"]
    early, late = early_late(grown_path, "style", n=4)
    assert late < early
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        for i in range(2):
            old = base_model(x, torch.eye(2)[i:i + 1])
            new = grown(x, torch.eye(3)[i:i + 1])
            assert torch.equal(old, new)
        assert not torch.allclose(grown(x, torch.eye(3)[2:3]), grown(x, torch.eye(3)[:1]))


def test_refining_a_style_trains_only_its_own_norms(photos, paintings, tmp_path):
    """--refine-style: a painting the model has trains further on its own (every step goes to it); its norm rows
    change and its loss falls, the other painting's output stays bit for bit; a name the model lacks is refused."""
    styles = load_styles(paintings[:2], max_side=2 * SIZE)
    base_path = train(ConditionalFamily(styles), settings(photos, tmp_path / "base", steps=4), torch.device("cpu"))
    base_model, base_meta, _ = load_checkpoint(base_path)
    family = ConditionalFamily(styles[1:], {"great_wave": 1.5}, base=(base_model, base_meta), refine=True)
    refined_path = train(family, settings(photos, tmp_path / "refined", steps=15), torch.device("cpu"))
    refined, meta, _ = load_checkpoint(refined_path)
    assert meta.style_names == ["starry_night", "great_wave"]
    early, late = early_late(refined_path, "style", n=4)
    assert late < early
    records = {r["name"]: r for r in meta.training["styles"]}
    assert records["great_wave"]["style_scale"] == 1.5 and "style_scale" not in records["starry_night"]
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        assert torch.equal(base_model(x, torch.eye(2)[:1]), refined(x, torch.eye(2)[:1]))
        assert not torch.allclose(base_model(x, torch.eye(2)[1:]), refined(x, torch.eye(2)[1:]))
    assert_one_line_error(rtstyle("train", "cin", "--from", refined_path, "--refine-style", paintings[2],
                                  "--content", photos, "--out", tmp_path / "bad"), "--refine-style", "the_scream")


def test_init_from_starts_every_style_where_the_trained_model_is(photos, paintings, tmp_path):
    style = load_styles(paintings[:1], max_side=2 * SIZE)[0]
    trained = train(FeedForwardFamily(style), settings(photos, tmp_path / "ff", steps=3), torch.device("cpu"))
    source, _, _ = load_checkpoint(trained)
    styles = load_styles(paintings, max_side=2 * SIZE)
    x = torch.rand(1, 3, 48, 64)
    for family in (ConditionalFamily(styles), ArbitraryFamily(styles, crop_size=SIZE)):
        run = tmp_path / family.name
        checkpoint = train(family, settings(photos, run, steps=1, lr=1e-12, init_from=str(trained)),
                           torch.device("cpu"))
        model, meta, _ = load_checkpoint(checkpoint)
        assert meta.training["init_from"] == str(trained)
        with torch.no_grad():
            expected = source(x)
            if family.name == "cin":
                outputs = [model(x, torch.eye(3)[i:i + 1]) for i in range(3)]
            else:
                outputs = [model.transformer(x, torch.randn(1, 100)) for _ in range(3)]
        for output in outputs:  # one (near-zero) step later, every style still starts from the trained one
            assert torch.allclose(output, expected, atol=1e-4)
    wrong = settings(photos, tmp_path / "base", steps=1, variant="base", init_from=str(trained))
    with pytest.raises(RtstyleError, match="is a tiny model, another kind of network than base .stem"):
        train(ConditionalFamily(styles), wrong, torch.device("cpu"))


def test_fast2_grows_from_a_fast_model_with_each_paintings_own_norms(tmp_path):
    """--init-from a `fast` CIN model of the same paintings: fast2 starts as that model without its last three 1/4
    blocks (its 1/8 level joins through a zero convolution), each painting with its own norm rows, not their mean."""
    fast, meta = make_checkpoint(tmp_path / "fast.pt", "cin", variant="fast")
    grown = create_model("cin", "fast2", num_styles=3).eval()
    assert warm_start(grown, "fast2", str(tmp_path / "fast.pt"), meta.style_names) > 0
    fast.residuals = fast.residuals[:2]
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        for i in range(3):
            assert torch.allclose(grown(x, torch.eye(3)[i:i + 1]), fast(x, torch.eye(3)[i:i + 1]), atol=1e-6)
    tiny = create_model("cin", "tiny", num_styles=3)
    with pytest.raises(RtstyleError, match="is a fast model, another kind of network than tiny"):
        warm_start(tiny, "tiny", str(tmp_path / "fast.pt"), meta.style_names)


@pytest.mark.parametrize("variant, blocks", [("fast-detail", "details"), ("fast-fine", "fines")])
def test_a_variant_with_bottleneck_blocks_grows_from_a_fast_model_unchanged_and_its_new_block_learns(
        tmp_path, variant, blocks):
    """--init-from a `fast` CIN model: fast-detail (a block at 1/2 resolution) and fast-fine (at full resolution)
    start as exactly that model (each block adds a convolution that starts at zero), and that convolution gets a
    gradient, so training can grow it."""
    fast, meta = make_checkpoint(tmp_path / "fast.pt", "cin", variant="fast")
    grown = create_model("cin", variant, num_styles=3)
    assert warm_start(grown, variant, str(tmp_path / "fast.pt"), meta.style_names) > 0
    x = torch.rand(1, 3, 48, 64)
    for i in range(3):
        with torch.no_grad():
            assert torch.equal(grown(x, torch.eye(3)[i:i + 1]), fast(x, torch.eye(3)[i:i + 1]))
    grown(x, torch.eye(3)[:1]).square().mean().backward()
    assert getattr(grown, blocks)[0].expand.conv.weight.grad.abs().sum() > 0


def test_new_layers_lr_trains_a_grown_variants_new_block_at_its_own_rate(photos, paintings, tmp_path):
    """--new-layers-lr: fast-detail grown from a fast model trains its new 1/2-resolution block at that rate while
    the layers it took from the fast model move at --lr (here next to nothing); resuming without it is refused."""
    source, _ = make_checkpoint(tmp_path / "fast.pt", "cin", variant="fast")
    family = ConditionalFamily(load_styles(paintings, max_side=2 * SIZE))
    run = settings(photos, tmp_path / "grown", variant="fast-detail", steps=2, lr=1e-12, new_layers_lr=1e-2,
                   init_from=str(tmp_path / "fast.pt"))
    grown, _, _ = load_checkpoint(train(family, run, torch.device("cpu")))
    assert torch.allclose(grown.up1.conv.conv.weight, source.up1.conv.conv.weight, atol=1e-9)
    assert grown.details[0].expand.conv.weight.abs().max() > 1e-3  # started at zero
    with pytest.raises(RtstyleError, match="trained with --new-layers-lr: resume it the same way"):
        train(family, replace(run, steps=3, new_layers_lr=None), torch.device("cpu"), resume=True)


def test_a_teacher_pulls_a_cin_model_towards_its_stylizations_matched_by_style_name(photos, paintings, tmp_path):
    """train cin --teacher: the "teacher" term is a content loss towards the teacher's output for the same photo and
    style. A student started from the teacher itself begins at exactly 0, also when the teacher lists its styles in
    another order (rows found by name, not position); another model gives more than 0, and training moves the
    student towards it; a teacher without one of the paintings is refused."""
    styles = load_styles(paintings, max_side=2 * SIZE)
    names = [s.name for s in styles]
    teacher = train(ConditionalFamily(styles), settings(photos, tmp_path / "teacher", steps=10), torch.device("cpu"))
    model, meta, _ = load_checkpoint(teacher)
    order = [2, 0, 1]  # the same network, its styles listed in another order
    shuffled = {k: v[order] if k.endswith((".weight", ".bias")) and v.dim() == 2 and v.shape[0] == 3 else v
                for k, v in model.state_dict().items()}
    model.load_state_dict(shuffled)
    save_checkpoint(tmp_path / "shuffled.pt", model, replace(meta, style_names=[names[i] for i in order]))

    def teacher_term(teacher_path, **overrides) -> tuple[float, float]:
        """The teacher term at the first step, and its mean over the last five."""
        family = ConditionalFamily(styles, teacher=load_checkpoint(teacher_path)[:2])
        run = settings(photos, tmp_path / f"student{len(list(tmp_path.iterdir()))}", init_from=str(teacher),
                       teacher=str(teacher_path), **overrides)
        history = read_checkpoint(train(family, run, torch.device("cpu")))["training_state"]["history"]
        return history[0]["teacher"], float(np.mean([h["teacher"] for h in history[-5:]]))

    assert teacher_term(tmp_path / "shuffled.pt", steps=1)[0] == 0.0
    other, _ = make_checkpoint(tmp_path / "other.pt", "cin")
    other_meta = checkpoint_meta(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "other.pt", other, replace(other_meta, style_names=names))
    start, end = teacher_term(tmp_path / "other.pt", steps=40, teacher_weight=20.0)
    assert start > 0.01 and end < 0.8 * start
    with pytest.raises(RtstyleError, match="--teacher: the model has no style named 'the_scream'"):
        ConditionalFamily(styles, teacher=(other, replace(other_meta, style_names=names[:2] + ["ember"])))


def test_distillation_pulls_predicted_norms_to_the_cin_models(photos, paintings, tmp_path):
    """--distill-from: the predicted norms start at the CIN rows' mean and stay near the CIN model's rows for its
    paintings (far nearer than the same training without it), and a model of another family is refused."""
    styles = load_styles(paintings, max_side=2 * SIZE)
    teacher = train(ConditionalFamily(styles), settings(photos, tmp_path / "cin", steps=20), torch.device("cpu"))
    cin, _, _ = load_checkpoint(teacher)
    family = ArbitraryFamily(styles, crop_size=SIZE, distill_from=str(teacher), distill_weight=10.0)
    model = family.build_model("tiny")
    cin_norms = dict(transformer_of(cin).named_modules())
    for name, module in family._predicted_norms(model).items():
        assert torch.allclose(module.to_gamma(torch.randn(1, 100))[0], cin_norms[name].weight.mean(0))
    checkpoint = train(family, settings(photos, tmp_path / "arbitrary", steps=40), torch.device("cpu"))
    assert load_checkpoint(checkpoint)[1].training["distilled_from"] == "model.pt"
    undistilled = train(ArbitraryFamily(styles, crop_size=SIZE), settings(photos, tmp_path / "plain", steps=40),
                        torch.device("cpu"))

    def gap_to_teacher(path) -> float:  # the distillation term on the three whole paintings, none recoloured
        trained = load_checkpoint(path)[0]
        paintings = torch.cat([F.interpolate(image, size=(SIZE, SIZE), mode="bilinear", antialias=True)
                               for image in family.images])
        with torch.no_grad():
            return float(family.distillation(trained, trained.predictor(paintings), torch.arange(3),
                                             torch.zeros(3, dtype=torch.bool)))

    # the style loss alone moves the predicted norms far from the CIN rows; distillation keeps them near
    assert gap_to_teacher(checkpoint) < 0.1 * gap_to_teacher(undistilled)
    with pytest.raises(RtstyleError, match="needs a cin model"):
        ArbitraryFamily(styles, crop_size=SIZE, distill_from=str(checkpoint))
    frozen = ArbitraryFamily(styles, crop_size=SIZE, distill_from=str(teacher), freeze_stylizer=True)
    checkpoint = train(frozen, settings(photos, tmp_path / "frozen", steps=3, init_from=str(teacher)),
                       torch.device("cpu"))
    model, _, _ = load_checkpoint(checkpoint)
    teacher_weights = transformer_of(cin).state_dict()
    shared = [name for name, value in model.transformer.state_dict().items()
              if name in teacher_weights and teacher_weights[name].shape == value.shape]
    assert len(shared) > 10  # the convolutions…
    for name in shared:  # …are still the CIN model's
        assert torch.equal(model.transformer.state_dict()[name], teacher_weights[name]), name
    for module in family._predicted_norms(model).values():  # while the projections (zero at the start) trained
        assert module.to_gamma.weight.abs().sum() > 0


def test_bad_inputs_give_one_line_errors(tmp_path, photos, paintings):
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["train", "feedforward", "--style", paintings[0], "--size", 64, "--steps", 2]
    assert_one_line_error(rtstyle(*base, "--content", empty, "--out", tmp_path / "r1"), "no images in")
    junk_photos = tmp_path / "junk"
    junk_photos.mkdir()
    (junk_photos / "holiday.jpg").write_text("not really a photo")
    assert_one_line_error(rtstyle(*base, "--content", junk_photos, "--out", tmp_path / "r2"), "not an image",
                          "holiday.jpg")
    fake_style = tmp_path / "fake.png"
    fake_style.write_bytes(b"\x89PNG broken")
    assert_one_line_error(rtstyle("train", "feedforward", "--style", fake_style, "--content", photos,
                                  "--out", tmp_path / "r3"), "not an image", "fake.png")
    # a checkpoint of three styles resumed with two
    run = tmp_path / "r4"
    ok = rtstyle("train", "cin", "--styles", *paintings, "--content", photos, "--size", 64, "--steps", 1,
                 "--batch-size", 1, "--out", run)
    assert ok.returncode == 0, ok.stderr
    assert_one_line_error(rtstyle("train", "cin", "--styles", *paintings[:2], "--content", photos, "--size", 64,
                                  "--steps", 2, "--batch-size", 1, "--out", run, "--resume"), "style count")
    assert_one_line_error(rtstyle("train", "cin", "--from", photos / "054_chelsea.jpg", "--add-style", paintings[0],
                                  "--content", photos), "not an rtstyle checkpoint")


def test_style_and_content_scales_are_checked_and_recorded(tmp_path, photos, paintings):
    """--style-scale / --content-scale NAME=X: a name not among the paintings, or a multiplier not above 0, is a
    one-line error; a scaled painting's multipliers are in the model's metadata beside its file and hash (the shipped
    models were fine-tuned with them)."""
    base = ["train", "cin", "--styles", *paintings, "--content", photos, "--size", SIZE, "--steps", 1,
            "--batch-size", 1]
    assert_one_line_error(rtstyle(*base, "--out", tmp_path / "bad", "--style-scale", "udnie=2"),
                          "--style-scale", "udnie")
    assert_one_line_error(rtstyle(*base, "--out", tmp_path / "bad", "--content-scale", "udnie=2"),
                          "--content-scale", "udnie")
    assert_one_line_error(rtstyle(*base, "--out", tmp_path / "bad", "--content-scale", "great_wave=0"),
                          "--content-scale", "above 0")
    ok = rtstyle(*base, "--out", tmp_path / "run", "--style-scale", "great_wave=1.5",
                 "--content-scale", "great_wave=1.2")
    assert ok.returncode == 0, ok.stderr
    records = {r["name"]: r for r in checkpoint_meta(tmp_path / "run" / "model.pt").training["styles"]}
    assert records["great_wave"]["style_scale"] == 1.5 and records["great_wave"]["content_scale"] == 1.2
    assert "style_scale" not in records["starry_night"] and "content_scale" not in records["starry_night"]
    assert checkpoint_meta(tmp_path / "run" / "model.pt").training["max_zoom"] == 2.0
    assert_one_line_error(rtstyle(*base, "--out", tmp_path / "bad", "--max-zoom", "0.5"), "--max-zoom")


def test_max_zoom_sets_how_much_of_a_photo_a_crop_covers(tmp_path, shared):
    """--max-zoom 1: every crop is a whole square photo (or its mirror image), i.e. photos at the scale of --size-pixel
    frames; the default 2 zooms in up to 2×, so crops differ from the whole photo."""
    from rtstyle_train.data import ContentCrops, centre_crop

    from rtstyle.images import read_image, write_image

    frame = read_image(shared / "photos" / "054_chelsea.jpg")
    side = min(frame.shape[:2])
    write_image(tmp_path / "square.png", frame[:side, :side])
    whole = torch.from_numpy(centre_crop(read_image(tmp_path / "square.png"), 64))
    def gap(crop):
        return min((crop - whole).abs().mean(), (crop - whole.flip(-1)).abs().mean())
    whole_photo = ContentCrops(tmp_path, 64, seed=3, max_zoom=1.0)
    assert max(gap(whole_photo[k]) for k in range(8)) < 1e-6
    zoomed = ContentCrops(tmp_path, 64, seed=3)
    assert min(gap(zoomed[k]) for k in range(8)) > 0.01


def test_colour_jitter_changes_colours_not_shapes(tmp_path, shared):
    """--colour-jitter J: the same crop as without it (same seed), in other colours — greys stay grey, the light and
    dark of the photo stay where they were — reproducibly, in [0, 1]; outside 0..1 it is a one-line error, and the
    strength is in the model's metadata."""
    from rtstyle_train.data import ContentCrops

    from rtstyle.images import read_image, write_image

    frame = read_image(shared / "photos" / "054_chelsea.jpg")
    write_image(tmp_path / "cat.png", frame)
    write_image(tmp_path / "grey.png", cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))
    plain = ContentCrops(tmp_path, 64, seed=5, max_zoom=1.0)
    jittered = ContentCrops(tmp_path, 64, seed=5, max_zoom=1.0, colour_jitter=0.5)
    hue_moves = []
    for k in range(12):
        a, b = plain[k], jittered[k]
        assert torch.equal(b, ContentCrops(tmp_path, 64, seed=5, max_zoom=1.0, colour_jitter=0.5)[k])
        assert b.min() >= 0 and b.max() <= 1
        light_a, light_b = a.mean(0).flatten(), b.mean(0).flatten()
        assert torch.corrcoef(torch.stack([light_a, light_b]))[0, 1] > 0.9  # same picture
        if (a.max(0).values - a.min(0).values).max() < 1e-6:  # the grey photo
            assert (b.max(0).values - b.min(0).values).max() < 1e-5
        else:
            hue_moves.append((a - b).abs().mean().item())
    assert hue_moves and max(hue_moves) > 0.05
    photos = shared / "photos"
    base = ["train", "cin", "--styles", shared / "styles" / "udnie.jpg", "--content", photos, "--size", SIZE,
            "--steps", 1, "--batch-size", 1]
    assert_one_line_error(rtstyle(*base, "--out", tmp_path / "bad", "--colour-jitter", "1.5"), "--colour-jitter")
    ok = rtstyle(*base, "--out", tmp_path / "run", "--colour-jitter", "0.3")
    assert ok.returncode == 0, ok.stderr
    assert checkpoint_meta(tmp_path / "run" / "model.pt").training["colour_jitter"] == 0.3


def test_annealed_learning_rate_follows_the_step():
    """--anneal-from: constant until the step, then a cosine fall to lr/20 at the last step; the same for a resumed
    run, since it depends on the step alone."""
    from rtstyle_train.loop import ANNEAL_TO, TrainSettings, learning_rate

    settings = TrainSettings(content="photos", out="run", steps=1000, lr=1e-3, anneal_from=600)
    assert learning_rate(settings, 0) == learning_rate(settings, 599) == 1e-3
    assert learning_rate(settings, 800) == pytest.approx(1e-3 * (1 + ANNEAL_TO) / 2)
    assert learning_rate(settings, 1000) == pytest.approx(1e-3 * ANNEAL_TO)
    rates = [learning_rate(settings, step) for step in range(600, 1001, 50)]
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert learning_rate(TrainSettings(content="photos", out="run", steps=1000), 999) == 1e-3


def test_split_checkpoint_is_small_and_resumes(tmp_path, photos, paintings):
    """`train split`: weights + history in one file, Adam's moments in bf16 beside it; --resume reads both."""
    from rtstyle_train.checkpoints import adam_file, optimizer_state

    run = tmp_path / "run"
    ok = rtstyle("train", "cin", "--styles", *paintings, "--content", photos, "--size", 64, "--steps", 2,
                 "--batch-size", 1, "--out", run)
    assert ok.returncode == 0, ok.stderr
    full = torch.load(run / "model.pt", weights_only=True)
    target = tmp_path / "checkpoints" / "cin.pt"
    target.parent.mkdir()
    ok = rtstyle("train", "split", run / "model.pt", "-o", target)
    assert ok.returncode == 0, ok.stderr
    assert_one_line_error(rtstyle("train", "split", run / "model.pt", "-o", target), "--overwrite")
    light = torch.load(target, weights_only=True)
    assert "optimizer" not in light["training_state"] and light["training_state"]["step"] == 2
    moments = torch.load(adam_file(target), weights_only=True)
    first = next(iter(moments["state"].values()))
    assert first["exp_avg"].dtype == torch.bfloat16
    # the bf16 moments are the originals to bf16's precision
    for name, saved in full["training_state"]["optimizer"]["state"].items():
        assert torch.allclose(moments["state"][name]["exp_avg"].float(), saved["exp_avg"], rtol=1e-2, atol=1e-12)
    assert optimizer_state(target, light["training_state"]) is not None
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(target, resumed / "model.pt")
    shutil.copy(adam_file(target), resumed / "model.adam.pt")
    ok = rtstyle("train", "cin", "--styles", *paintings, "--content", photos, "--size", 64, "--steps", 3,
                 "--batch-size", 1, "--out", resumed, "--resume")
    assert ok.returncode == 0, ok.stderr
    after = torch.load(resumed / "model.pt", weights_only=True)["training_state"]
    assert after["step"] == 3 and after["optimizer"]["state"]
