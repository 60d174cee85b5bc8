"""Command-line options shared by several commands (one definition each)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from mimir.limits import DEFAULT_LIMITS, Limits

_D = DEFAULT_LIMITS


def limits_options(max_subject_bytes: int, max_member_bytes: int, max_members: int,
                   max_slice_pixels: int, max_subject_pixels: int = _D.max_subject_pixels,
                   max_fused_voxels: int = _D.max_fused_voxels) -> Limits:
    """The :class:`~mimir.limits.Limits` of the ``--max-*`` options."""
    return Limits(max_subject_bytes=max_subject_bytes, max_member_bytes=max_member_bytes,
                  max_members=max_members, max_slice_pixels=max_slice_pixels,
                  max_subject_pixels=max_subject_pixels, max_fused_voxels=max_fused_voxels)


LIMIT_SUBJECT = typer.Option(DEFAULT_LIMITS.max_subject_bytes, "--max-subject-bytes",
                             help="Decompressed bytes read from one zip.")
LIMIT_MEMBER = typer.Option(DEFAULT_LIMITS.max_member_bytes, "--max-member-bytes",
                            help="Decompressed size of one zip member.")
LIMIT_MEMBERS = typer.Option(DEFAULT_LIMITS.max_members, "--max-members",
                             help="Members in one zip.")
LIMIT_PIXELS = typer.Option(DEFAULT_LIMITS.max_slice_pixels, "--max-slice-pixels",
                            help="Rows x columns of one slice.")
LIMIT_SUBJECT_PIXELS = typer.Option(DEFAULT_LIMITS.max_subject_pixels, "--max-subject-pixels",
                                    min=1, help="Water and fat pixels decoded from one zip.")
LIMIT_FUSED = typer.Option(DEFAULT_LIMITS.max_fused_voxels, "--max-fused-voxels", min=1,
                           help="Voxels of one subject's fused grid (also of its placed "
                           "stations together); more fails it as implausible geometry.")

IDS = typer.Option(None, "--ids", help="File of subject ids (eids, one per line or the first "
                   "column; a header line is skipped), with --dicom-dir.")
DICOM_DIR = typer.Option(None, "--dicom-dir", help="Folder of <eid>_20201_<instance>_0.zip "
                         "files (with --ids).")
INSTANCE = typer.Option(2, "--instance", help="Imaging visit for --ids (2: first, 3: "
                        "repeat).")
EXCLUDE = typer.Option(None, "--exclude", help="Subjects not to process (CSV/TSV or a plain "
                       "list of ids).")
EXCLUDE_COLUMN = typer.Option(None, "--exclude-column", help="Column of --exclude holding "
                              "the ids.")


#: Which subjects (preprocess and infer): parameter -> (type, option), see add_options.
INPUT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "ids": (Path, IDS), "dicom_dir": (Path, DICOM_DIR), "instance": (int, INSTANCE),
    "exclude": (Path, EXCLUDE), "exclude_column": (str, EXCLUDE_COLUMN),
}
#: The ``--max-*`` limits (preprocess and infer); :func:`limits_options` takes them.
LIMIT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "max_subject_bytes": (int, LIMIT_SUBJECT), "max_member_bytes": (int, LIMIT_MEMBER),
    "max_members": (int, LIMIT_MEMBERS), "max_slice_pixels": (int, LIMIT_PIXELS),
    "max_subject_pixels": (int, LIMIT_SUBJECT_PIXELS), "max_fused_voxels": (int, LIMIT_FUSED),
}

# training (train and crossval) ---------------------------------------------------------

def _backbone_help() -> str:
    from mimir.modules.backbones import names

    return f"Network: {', '.join(names())} (resnet50 as published)."


CACHE_IN = typer.Option(..., "--cache", help="Image cache.")
TARGETS = typer.Option(..., "--targets", help="Target table (CSV with 'name').")
COLUMNS = typer.Option(None, "--columns", help="Comma-separated target columns (default: "
                       "those the table's .meta.csv names).")
SPLIT_INSTANCE = typer.Option(2, "--instance", help="Imaging visit of the eids in the "
                              "original's split files (images_set_*.txt).")
BACKBONE = typer.Option("resnet50", "--backbone", help=_backbone_help())
ITERATIONS = typer.Option(10000, "--iterations", min=1)
BATCH_SIZE = typer.Option(32, "--batch-size", min=1)
LR = typer.Option(5e-5, "--lr", help="Adam learning rate (divided by 10 after --lr-drop-at "
                  "of the iterations).")
LR_DROP_AT = typer.Option(0.8, "--lr-drop-at", min=0.0, max=1.0, help="Fraction of the "
                          "iterations after which the learning rate is divided by 10 (0.8 "
                          "as published).")
SNAPSHOT_EVERY = typer.Option(1000, "--snapshot-every", min=1)
SEED = typer.Option(0, "--seed")
DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")
THREADS = typer.Option(None, "--threads", min=1, help="Torch CPU threads.")
INIT = typer.Option("imagenet", "--init", help="Initial backbone weights: imagenet "
                    "(published; torchvision's weights from torch's cache, downloaded once) "
                    "or random.")
INIT_WEIGHTS = typer.Option(None, "--init-weights", help="A local state dict for the "
                            "backbone instead (e.g. ImageNet weights).")
NO_AUGMENT = typer.Option(False, "--no-augment", help="No random translation.")
AVERAGE_FROM = typer.Option(None, "--average-from", min=0.0, max=1.0, help="Not in the "
                            "published method: from this fraction of the iterations on, "
                            "snapshots hold the mean of the weights since then, with "
                            "batch-norm statistics recomputed (docs/training.md). Off by "
                            "default.")
TRAIN_PRECISION = typer.Option("fp32", "--precision", help="fp32 (IEEE on every device), "
                               "tf32 (TF32 on CUDA GPUs) or bf16 (bfloat16 autocast); the "
                               "latter two are faster on GPUs and change the numbers.")

#: The options train and crossval share: parameter -> (type, option). Commands get them
#: through :func:`add_options` as one dict.
TRAINING_OPTIONS: dict[str, tuple[Any, Any]] = {
    "backbone": (str, BACKBONE), "iterations": (int, ITERATIONS),
    "batch_size": (int, BATCH_SIZE), "lr": (float, LR), "lr_drop_at": (float, LR_DROP_AT),
    "snapshot_every": (int, SNAPSHOT_EVERY), "seed": (int, SEED), "device": (str, DEVICE),
    "threads": (int, THREADS), "init": (str, INIT), "init_weights": (Path, INIT_WEIGHTS),
    "no_augment": (bool, NO_AUGMENT), "average_from": (float, AVERAGE_FROM),
    "precision": (str, TRAIN_PRECISION),
}


def training_keywords(options: dict) -> dict:
    """:data:`TRAINING_OPTIONS` as the keywords of :func:`mimir.api.train` and
    :func:`mimir.api.crossval` (``--no-augment`` is ``augment=False`` there)."""
    kw = dict(options)
    kw["augment"] = not kw.pop("no_augment")
    return kw


def add_options(group: dict[str, tuple[Any, Any]], into: str) -> Callable:
    """Decorator: give a command the options of ``group`` (after its own), passed to it
    together as a dict in its parameter ``into``.

    Typer reads a command's options from its signature; this writes the group's
    parameters into that signature, so a group of options is defined once for every
    command that takes it.
    """
    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        own = [p for n, p in sig.parameters.items() if n != into]
        extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=opt,
                                   annotation=kind) for n, (kind, opt) in group.items()]

        @functools.wraps(fn)
        def command(*args, **kwargs):
            bundle = {n: kwargs.pop(n) for n in group}
            return fn(*args, **kwargs, **{into: bundle})

        command.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
        command.__annotations__ = {**{n: a for n, a in fn.__annotations__.items()
                                      if n != into},
                                   **{n: kind for n, (kind, _) in group.items()}}
        return command
    return decorate
