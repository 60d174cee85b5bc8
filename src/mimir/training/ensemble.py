"""Deep ensembles: K training runs of one recipe that differ only in their seed.

``train --ensemble K`` and ``crossval --ensemble K`` train K members (Lakshminarayanan
et al. 2017; the method of Langner et al. 2021). A member is an ordinary training run
(:mod:`mimir.training.train`) in its own folder; its seed sets the initial weights
drawn at random (the head's, or all of them with ``--init random``), the batch order
and the random translations. Member 1 uses the run's ``seed``, so it is the very
network a run without ``--ensemble`` gives; member m > 1 uses :func:`member_seed`.

An ensemble run folder holds::

    ensemble.json          the recipe (with ``ensemble`` = K) and each member's seed
    member_1/ .. member_K/ training runs (config.json, snapshots/, log.csv, ...)
    complete               written once every member is complete

A run with ``ensemble`` = 1 keeps the single-run layout (no member folders).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from mimir.atomic import write_text
from mimir.errors import UsageError
from mimir.training.data import Dataset
from mimir.training.train import TrainConfig, run_complete, snapshots, train

ENSEMBLE_JSON = "ensemble.json"


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member ``member`` (1-based): ``seed`` itself for member 1,
    else a number drawn from ``numpy.random.SeedSequence([seed, member])``, so that the
    members of ensembles with neighbouring seeds do not coincide."""
    if member < 1:
        raise ValueError("members are numbered from 1")
    if member == 1:
        return int(seed)
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, member])
               .generate_state(1)[0] & 0x7FFFFFFF)


def member_dir(run_dir: str | os.PathLike, member: int) -> Path:
    return Path(run_dir) / f"member_{member}"


def member_config(config: TrainConfig, member: int) -> TrainConfig:
    """The single-run recipe of one member: the ensemble's, with the member's seed."""
    return replace(config, seed=member_seed(config.seed, member), ensemble=1)


def is_ensemble(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / ENSEMBLE_JSON).is_file()


def member_runs(run_dir: str | os.PathLike) -> list[Path]:
    """The training runs of a run folder: its members (ensemble) or itself."""
    run = Path(run_dir)
    p = run / ENSEMBLE_JSON
    if not p.is_file():
        return [run]
    info = json.loads(p.read_text(encoding="utf-8"))
    k = info.get("members")
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise UsageError(f"{p}: 'members' must be a whole number of at least 2")
    return [member_dir(run, m) for m in range(1, k + 1)]


def train_members(data: Dataset, out_dir: str | os.PathLike, config: TrainConfig,
                  device: str = "auto", threads: int | None = None,
                  on_progress: Callable[[int, float], None] | None = None,
                  log: Callable[[str], None] = print,
                  on_member: Callable[[int, int], None] | None = None) -> Path:
    """Train a single network (``config.ensemble`` = 1) or every member of an ensemble,
    one after the other; rerun to resume.

    Parameters
    ----------
    data, out_dir, config, device, threads, on_progress, log
        As for :func:`mimir.training.train.train`.
    on_member : callable, optional
        Called with (member, members) before each member starts.

    Returns
    -------
    Path
        The run folder.
    """
    out = Path(out_dir)
    K = config.ensemble
    if K == 1:
        if is_ensemble(out):
            raise UsageError(f"{out} holds an ensemble; give the same --ensemble to resume it")
        return train(data, out, config, device=device, threads=threads,
                     on_progress=on_progress, log=log)
    if (out / "config.json").is_file():
        raise UsageError(f"{out} holds a single run; use another --out folder for an "
                         "ensemble")
    recipe = asdict(config)
    record = {"members": K, "config": recipe,
              "member_seeds": [member_seed(config.seed, m) for m in range(1, K + 1)]}
    p = out / ENSEMBLE_JSON
    if p.is_file():
        prev = json.loads(p.read_text(encoding="utf-8"))
        if prev.get("members") != K or prev.get("config") != recipe:
            diff = sorted(k for k in recipe if (prev.get("config") or {}).get(k) != recipe[k])
            raise UsageError(f"{out} holds an ensemble of {prev.get('members')} members "
                             f"with a different config ({', '.join(diff)}); use another "
                             "--out folder, or the same options to resume it")
    out.mkdir(parents=True, exist_ok=True)
    if not p.is_file():
        write_text(p, json.dumps(record, indent=1))
    for m in range(1, K + 1):
        if on_member:
            on_member(m, K)
        log(f"ensemble member {m}/{K} (seed {member_seed(config.seed, m)})")
        train(data, member_dir(out, m), member_config(config, m), device=device,
              threads=threads, on_progress=on_progress, log=log)
    write_text(out / "complete", f"{K} members\n")
    return out


def ensemble_config(run_dir: str | os.PathLike) -> dict:
    """The recipe an ensemble run recorded (``ensemble.json``: ``config``, with
    ``member_seeds``)."""
    info = json.loads((Path(run_dir) / ENSEMBLE_JSON).read_text(encoding="utf-8"))
    return {**info.get("config", {}), "member_seeds": info.get("member_seeds")}


def common_snapshots(runs: list[Path]) -> list[tuple[int, list[Path]]]:
    """(iteration, one snapshot per run) for the iterations every run has a snapshot of."""
    per = [dict(snapshots(r)) for r in runs]
    its = sorted(set.intersection(*(set(d) for d in per))) if per else []
    return [(it, [d[it] for d in per]) for it in its]


def all_complete(runs: list[Path]) -> bool:
    return all(run_complete(r) for r in runs)
