"""The plain eager baseline of the whole-process benchmark (``benchmarks/run.py``).

What a user without MIMIR would run to get a module's network outputs for cached 2D
images: torchvision's ResNet50 with the module's head, the snapshot loaded, every image
through the network in fp32 (batches of 32, ``torch.no_grad``), one CSV row of outputs
per image. ``python benchmarks/eager_infer.py MODULE_DIR CACHE_DIR OUT_CSV``
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision


def main(module: str, cache: str, out: str) -> int:
    state = torch.load(Path(module) / "snapshot.pth.tar", map_location="cpu",
                       weights_only=True)["state_dict"]
    net = torchvision.models.resnet50(weights=None)
    net.fc = torch.nn.Linear(2048, state["fc.weight"].shape[0])
    net.load_state_dict(state)
    net.eval()
    files = sorted(Path(cache).glob("*.npy"))
    images = np.stack([np.load(f) for f in files])
    outputs = []
    with torch.no_grad():
        for i in range(0, len(images), 32):
            outputs.append(net(torch.from_numpy(images[i:i + 32]).float()).numpy())
    with open(out, "w", newline="") as fh:
        writer = csv.writer(fh)
        for f, row in zip(files, np.concatenate(outputs), strict=True):
            writer.writerow([f.stem, *(repr(float(v)) for v in row)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
