"""The training loop (modules.md, "How modules were made").

Mean-variance ResNet; Gaussian NLL with missing labels; Adam; the learning rate divided
by 10 after 80 % of the iterations; a random integer translation of up to 16 pixels;
labels standardised with the training subjects' mean and sd (ddof = 1).

A run folder holds::

    config.json            targets, subjects, hyper-parameters, standardisation, the
                           initial weights (kind, file, SHA-256)
    log.csv                iteration, running loss, learning rate, seconds
    snapshots/iter_NNNNNN.pth.tar   weights every ``snapshot_every`` iterations
    resume.pth.tar         latest weights + optimiser + random states (for resuming),
                           and the weight average when ``average_from`` is set
    complete               written when the last iteration is done

With ``average_from`` set, snapshots from that point on hold the mean of the weights over
every iteration since then, with batch-norm statistics recomputed for them
(``mimir.training.averaging``); the training trajectory itself is unchanged.

Rerunning the same command resumes from ``resume.pth.tar``; a finished run is left
as it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from mimir.atomic import atomic_path, write_text
from mimir.errors import UsageError
from mimir.inference.engine import pick_device, set_threads
from mimir.inference.precision import float32_mode
from mimir.modules.network import build_network
from mimir.training.averaging import WeightAverage, bn_sample, recompute_batchnorm
from mimir.training.data import BatchSource, Dataset, random_shifts
from mimir.training.init import load_backbone, resolve_init
from mimir.training.loss import gaussian_nll
from mimir.training.options import TRAINING_OPTIONS

_D = TRAINING_OPTIONS
#: On a GPU, the running loss is read back (a host sync) every this many iterations.
GPU_SYNC_EVERY = 25


@dataclass
class TrainConfig:
    """Hyper-parameters: the fields, defaults and checks of :data:`TRAINING_OPTIONS`
    (defaults: the published method), plus ``max_shift``. Recorded in a run's
    ``config.json``.

    Raises
    ------
    UsageError
        On construction, for an invalid value or combination.
    """

    backbone: str = _D["backbone"].default
    iterations: int = _D["iterations"].default
    batch_size: int = _D["batch_size"].default
    lr: float = _D["lr"].default
    lr_drop_at: float = _D["lr_drop_at"].default
    snapshot_every: int = _D["snapshot_every"].default
    seed: int = _D["seed"].default
    augment: bool = _D["augment"].default
    #: Largest random translation, pixels (the published augmentation).
    max_shift: int = 16
    #: Initial backbone weights: ``imagenet`` (published; torchvision's weights through
    #: torch's cache), ``random``, or ``file`` (``init_weights``); see
    #: :mod:`mimir.training.init`.
    init: str = _D["init"].default
    init_weights: str | None = _D["init_weights"].default
    #: Opt-in (not in the published method): from this fraction of the iterations on,
    #: snapshots hold the running mean of the weights with batch-norm statistics
    #: recomputed (``mimir.training.averaging``). None: off.
    average_from: float | None = _D["average_from"].default
    #: ``fp32`` (IEEE on every device), ``tf32`` (TF32 convolutions and matrix products
    #: on CUDA GPUs) or ``bf16`` (autocast to bfloat16; channels-last as always).
    precision: str = _D["precision"].default
    #: Members of a deep ensemble (``mimir.training.ensemble``); 1: a single network.
    ensemble: int = _D["ensemble"].default

    @classmethod
    def of(cls, opts) -> TrainConfig:
        """The hyper-parameters among a command's options (:data:`TRAINING_OPTIONS`)."""
        return cls(**{n: getattr(opts, n) for n in TRAINING_OPTIONS.names()})

    def __post_init__(self):
        for f in fields(self):
            if f.name in _D:
                value = _D[f.name].validate(getattr(self, f.name))
                setattr(self, f.name, str(value) if f.name == "init_weights" and value
                        else value)
        if self.init_weights is not None and self.init == "imagenet":
            self.init = "file"
        if self.init == "file" and self.init_weights is None:
            raise UsageError("init 'file' needs --init-weights FILE")
        if self.init == "random" and self.init_weights is not None:
            raise UsageError("--init random and --init-weights FILE exclude each other")


def standardisation(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-target mean and sd (ddof = 1) over known labels."""
    mean = np.nanmean(labels, axis=0)
    n = np.sum(~np.isnan(labels), axis=0)
    sd = np.array([np.nanstd(labels[:, j], ddof=1) if n[j] > 1 else 1.0
                   for j in range(labels.shape[1])])
    sd[~np.isfinite(sd) | (sd <= 0)] = 1.0
    return mean, sd


def _save(path: Path, obj: dict) -> None:
    import torch  # lazy: torch loads only where it is used

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


#: Options added after runs were first written: a run folder without them used the default.
_NEW_DEFAULTS = {"average_from": None, "precision": "fp32", "ensemble": 1}


def _old_config(prev: dict) -> dict:
    """A run folder's config with options it predates filled in as they were then."""
    prev = {**_NEW_DEFAULTS, **prev}
    # before ``init`` existed, runs started from random weights unless given a file
    prev.setdefault("init", "file" if prev.get("init_weights") else "random")
    return prev


def run_complete(out_dir: str | os.PathLike) -> bool:
    return (Path(out_dir) / "complete").is_file()


def train(data: Dataset, out_dir: str | os.PathLike, config: TrainConfig,
          device: str = "auto", threads: int | None = None,
          on_progress: Callable[[int, float], None] | None = None,
          log: Callable[[str], None] = print) -> Path:
    """Train a module's network on ``data``; resumable.

    Parameters
    ----------
    data : Dataset
        Training subjects (images and labels).
    out_dir : path-like
        Run folder (see the module docstring).
    config : TrainConfig
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    threads : int, optional
        Torch CPU threads.
    on_progress : callable, optional
        Called with (iteration, running loss) after every iteration.
    log : callable
        Messages for the user.

    Returns
    -------
    Path
        The run folder.
    """
    import torch  # lazy: torch loads only where it is used

    if config.ensemble != 1:
        raise UsageError("train() trains one network; an ensemble is trained by "
                         "mimir.training.ensemble.train_members")
    out = Path(out_dir)
    cfg_path = out / "config.json"
    resume = out / "resume.pth.tar"
    mean, sd = standardisation(data.labels)
    cfg = {"config": asdict(config), "targets": data.targets, "subjects": data.names,
           "stand_mean": mean.tolist(), "stand_sd": sd.tolist()}
    if cfg_path.is_file():
        prev = json.loads(cfg_path.read_text(encoding="utf-8"))
        prev["config"] = _old_config(prev.get("config", {}))
        for key in ("config", "targets", "subjects"):
            if prev.get(key) != cfg[key]:
                what = key
                if key == "config":
                    diff = sorted(k for k in cfg[key] if prev[key].get(k) != cfg[key][k])
                    what = f"config ({', '.join(f'{k}: {prev[key].get(k)!r}' for k in diff)})"
                raise UsageError(f"{out} holds a run with a different {what}; use another "
                                 "--out folder, or the same options to resume it")
        if run_complete(out):
            log(f"{out}: already complete")
            return out
    # the initial weights are needed only when the run starts from its first iteration
    source = (None if resume.is_file() else
              resolve_init(config.init, config.backbone, config.init_weights, log))
    if not cfg_path.is_file() and source is not None:
        cfg["init"] = source.record()
        out.mkdir(parents=True, exist_ok=True)
        write_text(cfg_path, json.dumps(cfg, indent=1))
    (out / "snapshots").mkdir(exist_ok=True)

    dev = pick_device(device)
    set_threads(threads)
    torch.manual_seed(config.seed)
    net = build_network(config.backbone, len(data.targets))
    if source is not None:
        load_backbone(net, source, config.backbone, log)
    net = net.to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    start = 0
    average = WeightAverage()
    if resume.is_file():
        state = torch.load(resume, map_location=dev, weights_only=True)
        net.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        torch.set_rng_state(state["torch_rng"])
        start = int(state["iteration"])
        if "average" in state:
            average = WeightAverage(state["average"], int(state["average_count"]))
        log(f"resuming {out} at iteration {start}")
    source_batches = BatchSource(data.images, (data.labels - mean) / sd, dev)
    N = len(data)
    drop_at = int(round(config.lr_drop_at * config.iterations))
    avg_from = (None if config.average_from is None
                else int(round(config.average_from * config.iterations)))
    on_gpu = torch.device(dev).type == "cuda"
    # on a GPU the loss is read back every GPU_SYNC_EVERY iterations (each read waits for
    # the GPU); on the CPU there is nothing to wait for
    sync_every = GPU_SYNC_EVERY if on_gpu else 1
    net.train()
    running = None
    t0 = time.perf_counter()
    log_path = out / "log.csv"
    if not log_path.exists():
        log_path.write_text("iteration,loss,lr,seconds\n")
    log_lines: list[str] = []
    pending: list = []  # (iteration, lr, seconds, loss tensor) not read back yet

    def read_back() -> None:
        nonlocal running
        if not pending:
            return
        vals = torch.stack([p[3] for p in pending]).float().cpu().tolist()
        for (i, lr_i, sec, _), val in zip(pending, vals, strict=True):
            running = val if running is None else 0.98 * running + 0.02 * val
            log_lines.append(f"{i},{val:.6g},{lr_i:.3g},{sec:.1f}\n")
        last = pending[-1][0]
        pending.clear()
        if on_progress and running is not None:
            on_progress(last, running)

    autocast = (torch.autocast(device_type=torch.device(dev).type, dtype=torch.bfloat16)
                if config.precision == "bf16" else contextlib.nullcontext())
    with float32_mode("tf32" if config.precision == "tf32" else "fp32"), \
            _cudnn_benchmark(on_gpu):
        for it in range(start, config.iterations):
            lr = config.lr * (0.1 if it >= drop_at else 1.0)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = rng.choice(N, size=min(config.batch_size, N), replace=False)
            shifts = random_shifts(rng, len(idx), config.max_shift) if config.augment else None
            x, y = source_batches.batch(idx, shifts)
            with autocast:
                loss = gaussian_nll(net(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if avg_from is not None and it >= avg_from:
                average.update(net)
            done = it + 1
            pending.append((done, lr, time.perf_counter() - t0, loss.detach()))
            snapshot = done % config.snapshot_every == 0 or done == config.iterations
            if snapshot or done % sync_every == 0:
                read_back()
            if snapshot:
                sd_cpu = {k: v.detach().cpu() for k, v in net.state_dict().items()}
                if average.count:
                    snap = {"state_dict": _averaged_weights(net, average, data, dev, config,
                                                            done),
                            "iteration": done, "averaged_iterations": average.count}
                    extra = {"average": {k: v.cpu() for k, v in (average.state or {}).items()},
                             "average_count": average.count}
                else:
                    snap, extra = {"state_dict": sd_cpu, "iteration": done}, {}
                _save(out / "snapshots" / f"iter_{done:06d}.pth.tar", snap)
                _save(resume, {"state_dict": sd_cpu, "iteration": done,
                               "optimizer": opt.state_dict(),
                               "numpy_rng": json.dumps(rng.bit_generator.state),
                               "torch_rng": torch.get_rng_state(), **extra})
                with open(log_path, "a", encoding="utf-8") as fh:
                    fh.write("".join(log_lines))
                log_lines.clear()
    read_back()
    if log_lines:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write("".join(log_lines))
    write_text(out / "complete", f"{config.iterations}\n")
    return out


@contextlib.contextmanager
def _cudnn_benchmark(on: bool):
    """cuDNN picks the fastest convolution algorithms for the (fixed) batch shape."""
    import torch  # lazy: torch loads only where it is used

    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on or before
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _averaged_weights(net, average: WeightAverage, data: Dataset, dev, config: TrainConfig,
                      iteration: int) -> dict:
    """The averaged weights with batch-norm statistics recomputed (CPU state dict).

    The batch-norm pass draws from its own generator (seeded by the run's seed and the
    iteration), so the training trajectory and resuming are unaffected.
    """
    avg = average.averaged_network(net)
    bn_rng = np.random.default_rng([config.seed, iteration])
    idx = bn_sample(len(data), bn_rng)
    recompute_batchnorm(avg, data.images[idx], dev, bn_rng,
                        config.max_shift if config.augment else None, config.batch_size)
    return {k: v.detach().cpu() for k, v in avg.state_dict().items()}


def snapshots(out_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(iteration, path) of a run's snapshots, ascending."""
    snaps = []
    for p in sorted((Path(out_dir) / "snapshots").glob("iter_*.pth.tar")):
        snaps.append((int(p.name[5:11]), p))
    return snaps
