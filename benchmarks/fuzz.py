"""Fuzz run: ``make fuzz`` (or ``python benchmarks/fuzz.py --cases N --workers 2``).

Mutates phantom zips (``tests/fuzz/engine.py``: zip byte flips and truncation, field-20201
header values, pixel data lengths, missing and duplicate members, bogus manifests, and
``tests/fuzz/headers.py``: orientation, photometric interpretation, frames, high bit,
rescale, a foreign patient's slice, ...)
and preprocesses each, in worker processes; every case must be cached with its base
subject's image, fail with a named kind, or (for irregularities the cohort has) be
cached with a warning, and no worker may reach 3 GB of resident memory. ``--write
docs/reliability.md`` records the counts, time, peak memory and CPU there. Options as
``python -m tests.fuzz.run --help``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
