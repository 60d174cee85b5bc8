"""Command-line options shared by several commands (one definition each)."""

from __future__ import annotations

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
