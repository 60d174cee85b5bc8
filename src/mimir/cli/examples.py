"""The examples that end each command's ``--help`` (one or two per command).

Each command's decorator takes ``epilog=examples("<command path>")``. A test checks that
every command has examples here, that they start with ``mimir <command>``, and that
each parses with the command's own options, so the examples cannot drift from the
options.
"""

from __future__ import annotations

from rich.markup import escape

#: command path (space-separated) -> example command lines
EXAMPLES: dict[str, tuple[str, ...]] = {
    "preprocess": (
        "mimir preprocess /data/zips --cache /data/cache --workers 4 -o /data/prep",
        "mimir preprocess --ids eids.txt --dicom-dir /data/zips --instance 2 "
        "--cache /data/cache",
    ),
    "show": ("mimir show /data/cache/1234567_20201_2_0.npy -o image.png",),
    "qc": ("mimir qc /data/out",
           "mimir qc /data/cache -o /data/qc"),
    "cache verify": ("mimir cache verify /data/cache",),
    "phantom": ("mimir phantom phantoms --n 8 --seed 0",
                "mimir phantom phantoms --n 4 --swap 3 --knee-cut"),
    "infer": ("mimir infer /data/zips -m module_bodycomp -m module_age -o /data/out",
              "mimir infer --ids eids.txt --dicom-dir /data/zips -m module_bodycomp "
              "-o /data/out --resume"),
    "merge": ("mimir merge /data/out",),
    "report": ("mimir report /data/out --covariates ukb_sex.csv",),
    "explain": ("mimir explain /data/out --target VAT --subjects 32",
                "mimir explain /data/out -t liverFat -t VAT --threads 2"),
    "modules install": ("mimir modules install module_bodycomp.zip",),
    "modules list": ("mimir modules list",),
    "modules info": ("mimir modules info module_bodycomp",),
    "modules published": ("mimir modules published",),
    "demo": ("mimir demo --out mimir-demo --n 8",),
    "targets": ("mimir targets ukb_export.tsv -f 22407:VAT:L -f 22408:ASAT:L "
                "--cache /data/cache -o targets.csv",),
    "split": ("mimir split --targets targets.csv --k 10 -o splits",),
    "train": ("mimir train --cache /data/cache --targets targets.csv -o final",
              "mimir train --cache /data/cache --targets targets.csv --splits splits "
              "--holdout 1 -o run1 --device cuda"),
    "crossval": ("mimir crossval --cache /data/cache --targets targets.csv --splits splits "
                 "-o cv",
                 "mimir crossval --cache /data/cache --targets targets.csv --splits splits "
                 "-o cv --folds 1-3 --icc published"),
    "module create": ("mimir module create --run final --crossval cv --targets targets.csv "
                      "-o module_mine",),
}


def examples(command: str) -> str:
    """The ``--help`` epilog of a command: its examples, one per line."""
    lines = EXAMPLES[command]
    return "Examples:\n\n" + "\n\n".join(escape(f"  {ln}") for ln in lines)
