"""The options of an ``infer`` run, validated once, before anything is read or written.

Every check lives here (``InferOptions.__post_init__``): the command line and the Python
API build this object and get the same clear :class:`~mimir.errors.UsageError` for the
same mistake, before any output folder exists.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from mimir.errors import UsageError
from mimir.inference.precision import PRECISIONS
from mimir.pipeline.options import InputOptions, whole_number

QC_MODES = ("strict", "warn", "off")
_CLUSTER = re.compile(r"^local(?::(-?\d+))?$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def interval_z(level) -> float:
    """z of the central interval at ``level``; refuses levels without a finite z.

    Raises
    ------
    UsageError
        For a level outside (0, 1), or so close to 1 that (1 + level) / 2 rounds to 1.
    """
    from statistics import NormalDist, StatisticsError

    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise UsageError(f"--ci must be a number between 0 and 1 (e.g. 0.95), got {level!r}")
    try:
        z = NormalDist().inv_cdf((1 + level) / 2)
    except StatisticsError:
        z = math.inf
    if not math.isfinite(z) or f"{level * 100:.10g}" == "100":
        raise UsageError(f"--ci {level!r} is too close to 1: its interval is unbounded in "
                         "float64 arithmetic; use at most 0.999999")
    return z


def parse_cluster(text: str) -> int | None:
    """Workers of ``--cluster local[:N]`` (None: one per CPU).

    Raises
    ------
    UsageError
        For other forms, and for N < 1.
    """
    m = _CLUSTER.match(text.strip())
    if m is None:
        raise UsageError(f"--cluster {text!r}: only local[:N] is built in; for SLURM start a "
                         "dask-jobqueue cluster and pass its --scheduler address")
    if m.group(1) is None:
        return None
    n = int(m.group(1))
    if n < 1:
        raise UsageError(f"--cluster {text!r}: N must be at least 1")
    return n


@dataclass
class InferOptions(InputOptions):
    """Options of an ``infer`` run (the CLI flags of the same names): which subjects
    (:class:`~mimir.pipeline.options.InputOptions`) and how to predict them.

    Raises
    ------
    UsageError
        On construction, for any invalid value or combination.
    """

    batch_size: int = 32
    device: str = "auto"
    ci: float = 0.95
    resume: bool = False
    overwrite: bool = False
    precision: str = "fp32"
    compile: bool = False
    threads: int | None = None
    qc: str = "warn"
    shard: tuple[int, int] | None = None
    scheduler: str | None = None
    cluster: str | None = None
    command: str = ""
    #: write OUT/report.html after the tables (mimir.report)
    report: bool = True

    def __post_init__(self):
        super().__post_init__()
        whole_number(self.batch_size, "--batch-size", 1)
        if self.threads is not None:
            whole_number(self.threads, "--threads", 1)
        interval_z(self.ci)
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise UsageError(f"--device must be auto, cpu or cuda[:N], got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got "
                             f"{self.precision!r}")
        if self.qc not in QC_MODES:
            raise UsageError(f"--qc must be strict, warn or off, got {self.qc!r}")
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite exclude each other")
        if self.shard is not None:
            try:
                i, k = (int(v) for v in self.shard)
            except (TypeError, ValueError):
                raise UsageError(f"--shard {self.shard!r}: expected (I, N)") from None
            if not (k >= 1 and 1 <= i <= k):
                raise UsageError(f"--shard {i}/{k}: I must be between 1 and N")
            self.shard = (i, k)
        if self.scheduler and self.cluster:
            raise UsageError("--scheduler and --cluster exclude each other")
        if self.cluster is not None:
            parse_cluster(self.cluster)

    @property
    def distributed(self) -> bool:
        """Whether the run goes to a Dask cluster."""
        return bool(self.scheduler or self.cluster)
