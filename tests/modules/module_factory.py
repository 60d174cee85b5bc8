"""Writing small modules in the published format for tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
import torchvision


def write_module(folder: Path, targets: list[tuple[str, str, str, float]],
                 stand: list[tuple[float, float]], calib: list[float],
                 backbone: str = "resnet50", seed: int = 0, scale: float = 1e-3,
                 legacy: bool = False, module_json: bool | None = None) -> Path:
    """A module folder with random weights (``fc`` scaled down so outputs stay moderate).

    Parameters
    ----------
    targets : list of (name, field, unit, divisor)
    stand : list of (mean, sd)
    calib : list of float
    legacy : bool
        Save the snapshot in PyTorch's pre-1.6 (non-zip) format, as older modules are.
    module_json : bool, optional
        Write a module.json naming the backbone (default: only for non-ResNet50, which
        the published format cannot express).
    """
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = getattr(torchvision.models, backbone)(weights=None)
    net.fc = torch.nn.Linear(net.fc.in_features, 2 * len(targets))
    with torch.no_grad():
        net.fc.weight.mul_(scale)
        net.fc.bias.mul_(scale)
    snap = {"state_dict": net.state_dict(), "iteration": 10000, "optimizer": {"lr": 5e-5}}
    torch.save(snap, folder / "snapshot.pth.tar", _use_new_zipfile_serialization=not legacy)
    lines = ["Name,Field,Unit,Divisor"] + [f"{n},{f},{u},{d:g}" for n, f, u, d in targets]
    (folder / "metadata.txt").write_text("\n".join(lines) + "\n")
    lines = ["stand_mean,stand_stdev"] + [f"{m!r},{s!r}" for m, s in stand]
    (folder / "standardization_parameters.txt").write_text("\n".join(lines) + "\n")
    lines = ["calibration_factor"] + [repr(c) for c in calib]
    (folder / "calibration_factors.txt").write_text("\n".join(lines) + "\n")
    if module_json if module_json is not None else backbone != "resnet50":
        (folder / "module.json").write_text(json.dumps({"format_version": 1,
                                                        "backbone": backbone}))
    return folder


THREE_TARGETS = dict(
    targets=[("AtlasVatVolume", "22407", "L", 1.0), ("liverVolume", "", "L", 1000.0),
             ("age", "21003", "years", 1.0)],
    stand=[(3.5, 1.2), (1500.0, 300.0), (62.0, 7.5)],
    calib=[1.3, 0.8, 1.0],
)


def make_ensemble(folder: Path, singles: list[Path]) -> Path:
    """An ensemble module from single modules of the same targets: the first one's files,
    the others' snapshots as members 2.., module.json listing them."""
    from mimir.modules.format import file_sha256
    from mimir.modules.members import member_file

    shutil.copytree(singles[0], folder)
    members = []
    for k, single in enumerate(singles, 1):
        if k > 1:
            shutil.copy(single / "snapshot.pth.tar", folder / member_file(k))
        members.append({"snapshot": member_file(k), "sha256": file_sha256(folder /
                                                                          member_file(k)),
                        "seed": k})
    (folder / "module.json").write_text(json.dumps({"format_version": 2,
                                                    "backbone": "resnet18",
                                                    "members": members}))
    return folder
