"""The options of an ``infer`` run, defined once (:mod:`mimir.optspec`) and validated
before anything is read or written.

Every check lives here (:data:`INFER_OPTIONS` and ``InferOptions.check``): the command line and the Python
API build this object and get the same clear :class:`~mimir.errors.UsageError` for the
same mistake, before any output folder exists.
"""

from __future__ import annotations

import math
import re
from statistics import NormalDist, StatisticsError

from mimir.errors import UsageError
from mimir.inference.precision import PRECISIONS
from mimir.optspec import Opt, OptionSet
from mimir.pipeline.options import INPUT_OPTIONS, InputOptions

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


def _not_text(flag: str):
    """A coerce: refuse text where a number is wanted (``"0.95"`` from a script)."""
    def coerce(value):
        raise UsageError(f"{flag} must be a number between 0 and 1 (e.g. 0.95), got "
                         f"{value!r}")
    return coerce


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


def _shard(value) -> tuple[int, int]:
    """``I/N`` (or ``(I, N)``) as a pair, 1 <= I <= N."""
    text = value if isinstance(value, str) else "/".join(map(str, value))
    i, sep, k = text.partition("/")
    try:
        pair = int(i), int(k)
    except ValueError:
        raise UsageError(f"--shard {value!r}: expected I/N, e.g. 3/10") from None
    if not sep or not (pair[1] >= 1 and 1 <= pair[0] <= pair[1]):
        raise UsageError(f"--shard {pair[0]}/{pair[1]}: I must be between 1 and N")
    return pair


def _shard_text(value) -> str:
    try:
        i, k = value
    except (TypeError, ValueError):
        raise UsageError(f"--shard {value!r}: expected I/N, e.g. 3/10") from None
    return f"{i}/{k}"


def _device(value: str) -> str:
    if not _DEVICE.match(value):
        raise UsageError(f"--device must be auto, cpu or cuda[:N], got {value!r}")
    return value


def _ci(value: float) -> float:
    interval_z(value)
    return value


def _cluster(value: str) -> str:
    parse_cluster(value)
    return value


#: The options of ``infer`` besides the inputs: how to predict and where to run.
PREDICT_OPTIONS = OptionSet(
    Opt("batch_size", 32, "Images per network batch (also the fixed chunks results are "
        "journalled in; as large as memory allows is fastest).", minimum=1,
        flags=("--batch-size", "-b")),
    Opt("device", "auto", "auto, cpu or cuda[:N] (auto: the first GPU, else the CPU).",
        check=_device),
    Opt("ci", 0.95, "Confidence interval level.", check=_ci, coerce=_not_text("--ci")),
    Opt("resume", False, "Finish an interrupted run in OUT."),
    Opt("overwrite", False, "Replace MIMIR's earlier results in OUT (other files stay)."),
    Opt("precision", "fp32", "fp32 (IEEE float32 on every device), or tf32/bf16/fp16 (faster "
        "on GPUs, changes numbers).", choices=PRECISIONS),
    Opt("compile", False, "torch.compile the networks (changes numbers slightly)."),
    Opt("threads", None, "Torch CPU threads (default: the CPUs not used by workers).",
        type=int, minimum=1),
    Opt("qc", "warn", "strict: no predictions for subjects failing QC; warn: predictions "
        "plus QC columns; off: no QC columns.", choices=QC_MODES),
    Opt("shard", None, "I/N: this job's share of the subjects (results in "
        "OUT/shards/I-of-N; combine with `mimir merge`).", type=str, check=_shard,
        coerce=_shard_text),
    Opt("scheduler", None, "Address of a Dask scheduler to run on.", type=str),
    Opt("cluster", None, "local[:N]: start a local Dask cluster of N worker processes.",
        type=str, check=_cluster),
    Opt("digits", 7, "Significant digits of the values written in the tables (7 keeps all "
        "a float32 network gives; 17 writes every float64 digit).", minimum=1, maximum=17),
    Opt("report", True, "Write report.html after the tables (build it later with "
        "`mimir report OUT`)."),
    Opt("command", "", "The command line to record in run.json (default: this process's "
        "arguments).", cli=False),
    Opt("progress", True, "Show progress bars when called from Python (in a notebook or a "
        "terminal, unless progress hooks are given); False: none.", cli=False),
)

INFER_OPTIONS = INPUT_OPTIONS + PREDICT_OPTIONS


class InferOptions(InputOptions):
    """Options of an ``infer`` run (:data:`INFER_OPTIONS`): which subjects
    (:data:`~mimir.pipeline.options.INPUT_OPTIONS`) and how to predict them.

    Raises
    ------
    UsageError
        On construction, for any invalid value or combination.
    """

    SPEC = INFER_OPTIONS

    def check(self) -> None:
        super().check()
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite exclude each other")
        if self.scheduler and self.cluster:
            raise UsageError("--scheduler and --cluster exclude each other")

    @property
    def distributed(self) -> bool:
        """Whether the run goes to a Dask cluster."""
        return bool(self.scheduler or self.cluster)
