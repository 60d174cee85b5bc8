"""The options of ``train`` and ``crossval``, defined once (:mod:`mimir.optspec`).

:data:`TRAINING_OPTIONS` are the hyper-parameters a run records
(:class:`mimir.training.train.TrainConfig` takes its fields, defaults and checks from
them; the defaults are the published method's); :data:`DEVICE_OPTIONS` say where it runs.
"""

from __future__ import annotations

from pathlib import Path

from mimir.errors import UsageError
from mimir.modules import backbones
from mimir.modules.members import MAX_MEMBERS
from mimir.optspec import Opt, Options, OptionSet
from mimir.training.init import INITS
from mimir.training.metrics import CALIBRATION_METHODS

#: Precisions ``train`` and ``crossval`` offer.
TRAIN_PRECISIONS = ("fp32", "tf32", "bf16")


def _backbone(name: str) -> str:
    backbones.get(name)  # an unknown one is refused here, before any data
    return name


TRAINING_OPTIONS = OptionSet(
    Opt("backbone", "resnet50", f"Network family: {', '.join(backbones.names())} (resnet50 "
        "as published).", check=_backbone),
    Opt("iterations", 10000, "Training iterations (batches of --batch-size images).",
        minimum=1),
    Opt("batch_size", 32, "Images per training batch.", minimum=1),
    Opt("lr", 5e-5, "Adam learning rate (divided by 10 after --lr-drop-at of the "
        "iterations).", minimum=0.0),
    Opt("lr_drop_at", 0.8, "Fraction of the iterations after which the learning rate is "
        "divided by 10 (0.8 as published).", minimum=0.0, maximum=1.0),
    Opt("snapshot_every", 1000, "Iterations between snapshots (each is evaluated in "
        "crossval).", minimum=1),
    Opt("seed", 0, "Seed of the head's initial weights, the batch order and the "
        "augmentation."),
    Opt("augment", True, "Random translation of up to 16 pixels (as published)."),
    Opt("init", "imagenet", "Initial backbone weights: imagenet (published; torchvision's "
        "weights from torch's cache, downloaded once) or random (file: set by "
        "--init-weights).", choices=INITS),
    Opt("init_weights", None, "A local state dict for the backbone instead (e.g. ImageNet "
        "weights).", type=Path),
    Opt("average_from", None, "Not in the published method: from this fraction of the "
        "iterations on, snapshots hold the mean of the weights since then, with batch-norm "
        "statistics recomputed. Off by default.", type=float, minimum=0.0, maximum=1.0),
    Opt("precision", "fp32", "fp32 (IEEE on every device), tf32 (TF32 on CUDA GPUs) or bf16 "
        "(bfloat16 autocast); the latter two are faster on GPUs and change the numbers.",
        choices=TRAIN_PRECISIONS),
    Opt("ensemble", 1, "Train this many members differing in seed (head initialisation, "
        "batch order, augmentation; member 1 uses --seed) for a deep ensemble; 1: a single "
        "network.", minimum=1, maximum=MAX_MEMBERS),
)

#: Where training runs (not part of what a run records as its method).
DEVICE_OPTIONS = OptionSet(
    Opt("device", "auto", "auto, cpu or cuda (auto: the first GPU, else the CPU)."),
    Opt("threads", None, "Torch CPU threads.", type=int, minimum=1),
)

#: ``train``: which subjects, then the hyper-parameters and the device.
TRAIN_OPTIONS = OptionSet(
    Opt("columns", None, "Comma-separated target columns (default: those the table's "
        ".meta.csv names).", type=str),
    Opt("splits", None, "Split folder (fold_*.txt, or the original's images_set_*.txt of "
        "eids).", type=Path),
    Opt("holdout", None, "Fold (1-based) left out of training.", type=int, minimum=1),
    Opt("instance", 2, "Imaging visit of the eids in the original's split files "
        "(images_set_*.txt).", minimum=0),
) + TRAINING_OPTIONS + DEVICE_OPTIONS

#: ``crossval``: the folds, then the hyper-parameters, the device and the evaluation.
CROSSVAL_OPTIONS = OptionSet(
    TRAIN_OPTIONS["columns"], TRAIN_OPTIONS["instance"],
    Opt("folds", None, "Train only folds A-B (1-based) now, e.g. 1-3.", type=str,
        coerce=lambda v: "-".join(map(str, v)) if isinstance(v, tuple) else v,
        check=lambda v: (fold_range(v), v)[1]),
) + TRAINING_OPTIONS + DEVICE_OPTIONS + OptionSet(
    Opt("calibration", "published", "Calibration factors: published (the calibration-curve "
        "criterion) or nll (minimise the Gaussian NLL).", choices=CALIBRATION_METHODS),
    Opt("plots", "last", "Target plots for the last snapshot or for all snapshots.",
        choices=("last", "all")),
    Opt("icc", "textbook", "The formula of the icc column: textbook (ICC(2,1), absolute "
        "agreement) or published (the original MIMIR's, which its published figures use); "
        "metrics.csv holds both as icc_textbook and icc_published.",
        choices=("textbook", "published")),
)


class TrainOptions(Options):
    """Options of ``train`` (:data:`TRAIN_OPTIONS`)."""

    SPEC = TRAIN_OPTIONS


def fold_range(text: str | None) -> tuple[int, int] | None:
    """``--folds A-B`` (or ``A``) as a pair."""
    if text is None:
        return None
    try:
        a, _, b = text.partition("-")
        return int(a), int(b or a)
    except ValueError:
        raise UsageError(f"--folds takes A-B, e.g. 1-3, got {text!r}") from None


class CrossvalOptions(Options):
    """Options of ``crossval`` (:data:`CROSSVAL_OPTIONS`)."""

    SPEC = CROSSVAL_OPTIONS
