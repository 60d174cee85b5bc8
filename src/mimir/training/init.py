"""Initial weights of a training run: ImageNet (the published method), random, or a file.

The published MIMIR networks start from torchvision's ImageNet weights for the backbone
(``pretrained=True`` at the time, which is ``IMAGENET1K_V1`` in torchvision's weights
API; ResNet50 has a later ``V2`` that the published networks never saw). MIMIR takes
the file through that API and torch's own cache: ``$TORCH_HOME/hub/checkpoints`` (default
``~/.cache/torch/hub/checkpoints``), downloading it once where a network is reachable
(the download is checked against the hash in its file name). Offline with the file
missing, training stops before loading any data, naming the file to place there and the
alternatives (``--init random``, ``--init-weights FILE``).

The file is loaded with the restricted unpickler (:mod:`mimir.modules.snapshot`), never
with plain ``torch.load``; its SHA-256 is recorded in the run's ``config.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mimir.errors import ModuleFormatError, UsageError
from mimir.modules import backbones
from mimir.modules.format import file_sha256
from mimir.modules.snapshot import load_state_dict

#: Initialisations ``--init`` offers (``file`` is set by ``--init-weights``).
INITS = ("imagenet", "random", "file")

#: torchvision's weights enum member used for ``imagenet`` (the published networks').
IMAGENET_WEIGHTS = "IMAGENET1K_V1"


@dataclass(frozen=True)
class InitSource:
    """Where a run's initial backbone weights come from.

    Attributes
    ----------
    kind : {'imagenet', 'random', 'file'}
    path : str or None
        The weights file (None for ``random``).
    sha256 : str or None
        Its SHA-256.
    weights : str or None
        The torchvision weights name (``ResNet50_Weights.IMAGENET1K_V1``) for ``imagenet``.
    """

    kind: str
    path: str | None = None
    sha256: str | None = None
    weights: str | None = None

    def record(self) -> dict:
        """What ``config.json`` records."""
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256,
                "weights": self.weights}


def imagenet_url(backbone: str) -> tuple[str, str]:
    """(weights name, download address) of the backbone's ImageNet weights."""
    import torchvision  # lazy: torchvision loads only where it is used

    try:
        enum = torchvision.models.get_model_weights(backbone)
    except ValueError:
        raise UsageError(f"torchvision has no weights for backbone {backbone!r}") from None
    w = getattr(enum, IMAGENET_WEIGHTS)
    return f"{enum.__name__}.{w.name}", w.url


def checkpoint_dir() -> Path:
    """torch's cache of downloaded weights (honours ``TORCH_HOME``)."""
    import torch  # lazy: torch loads only where it is used

    return Path(torch.hub.get_dir()) / "checkpoints"


def _download(url: str, dst: Path) -> None:
    """Fetch ``url`` into ``dst`` (checked against the hash prefix in the file name)."""
    import torch  # lazy: torch loads only where it is used

    match = torch.hub.HASH_REGEX.search(dst.name)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dst), match.group(1) if match else None,
                                   progress=False)


def imagenet_file(backbone: str, log=print) -> tuple[str, Path]:
    """The local file of the backbone's ImageNet weights, downloaded once if missing.

    Raises
    ------
    UsageError
        When the file is missing and cannot be downloaded: names the file to place in
        torch's cache and the alternatives.
    """
    name, url = imagenet_url(backbone)
    path = checkpoint_dir() / url.rsplit("/", 1)[-1]
    if path.is_file():
        return name, path
    log(f"downloading {name} (ImageNet weights for {backbone}) to {path}")
    try:
        _download(url, path)
    except (OSError, RuntimeError, ValueError) as exc:
        raise UsageError(
            f"the ImageNet weights for {backbone} ({name}) are not in torch's cache and "
            f"could not be downloaded ({type(exc).__name__}: {exc}). Place the file "
            f"{url.rsplit('/', 1)[-1]} (from {url}) at {path} (the folder follows "
            "TORCH_HOME), or start from random weights with --init random, or from a "
            "local state dict with --init-weights FILE") from None
    return name, path


def resolve_init(kind: str, backbone: str, weights_file: str | os.PathLike | None = None,
                 log=print) -> InitSource:
    """Check and locate a run's initial weights (before any data is loaded)."""
    if weights_file is not None:
        if kind not in ("file", "imagenet"):
            raise UsageError("--init-weights FILE and --init random exclude each other")
        p = Path(weights_file)
        if not p.is_file():
            raise UsageError(f"--init-weights {p}: no such file")
        return InitSource("file", str(p), file_sha256(p))
    if kind == "random":
        return InitSource("random")
    if kind == "file":
        raise UsageError("init 'file' needs --init-weights FILE")
    if kind != "imagenet":
        raise UsageError(f"--init must be one of imagenet, random (got {kind!r})")
    name, path = imagenet_file(backbone, log)
    return InitSource("imagenet", str(path), file_sha256(path), name)


def load_backbone(net, source: InitSource, backbone: str, log=print) -> None:
    """Load the backbone weights of ``source`` into ``net`` (the head, named by the
    backbone registry, stays as initialised)."""
    if source.path is None:
        log("initial weights: random (--init random)")
        return
    try:
        state = load_state_dict(source.path)
    except ModuleFormatError as exc:
        raise UsageError(f"initial weights: {exc}") from None
    bb = backbones.get(backbone)
    state = {k: v for k, v in state.items() if not bb.is_head(k)}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise UsageError(f"{source.path}: weights do not fit the backbone: "
                         f"{str(exc).splitlines()[-1].strip()}") from None
    if unexpected or [k for k in missing if not bb.is_head(k)]:
        raise UsageError(f"{source.path}: weights do not fit a {type(net).__name__} backbone")
    log(f"initial weights: {source.weights or source.path}")
