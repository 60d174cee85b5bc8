"""Inflating one subject's water and fat members: zipfile, zlib, libdeflate, ISA-L.

``python benchmarks/inflate_choice.py ZIP`` (ISA-L only where ``isal`` is installed):
each way is timed in turn, ``--reps`` times, best run kept; CRC-32 separately. The
figures behind the inflate choice in docs/preprocessing.md.
"""

from __future__ import annotations

import argparse
import os
import time
import zipfile
import zlib

import deflate

from mimir.reading.manifest import find_manifest, parse_manifest


def members(path: str) -> tuple[list, list]:
    """The water and fat members' zip entries and compressed bytes."""
    with zipfile.ZipFile(path) as zf:
        names = [e.filename for e in parse_manifest(zf.read(find_manifest(zf.namelist()))
                                                   .decode())]
        infos = [zf.getinfo(n) for n in names]
    raw = []
    fd = os.open(path, os.O_RDONLY)
    try:
        for i in infos:
            head = os.pread(fd, 30, i.header_offset)
            n, m = int.from_bytes(head[26:28], "little"), int.from_bytes(head[28:30], "little")
            raw.append(os.pread(fd, i.compress_size, i.header_offset + 30 + n + m))
    finally:
        os.close(fd)
    return infos, raw


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("zip")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    infos, raw = members(args.zip)
    pairs = list(zip(raw, infos, strict=True))
    ways = {
        "zipfile (zlib, what the standard library does)":
            lambda: [zf.read(i.filename) for zf in [zipfile.ZipFile(args.zip)]
                     for i in infos],
        "zlib inflate": lambda: [zlib.decompress(r, -15, i.file_size) for r, i in pairs],
        "libdeflate inflate (deflate, size from the zip)":
            lambda: [deflate.deflate_decompress(r, i.file_size) for r, i in pairs],
    }
    try:
        from isal import isal_zlib

        ways["ISA-L inflate (isal)"] = lambda: [isal_zlib.decompress(r, -15, i.file_size + 1)
                                               for r, i in pairs]
    except ImportError:
        pass
    data = [zlib.decompress(r, -15) for r in raw]
    ways["zlib CRC-32"] = lambda: [zlib.crc32(d) for d in data]
    ways["libdeflate CRC-32"] = lambda: [deflate.crc32(d) for d in data]
    best = {k: float("inf") for k in ways}
    for _ in range(args.reps):
        for k, fn in ways.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    print(f"{len(infos)} members, {sum(map(len, raw)) / 1e6:.1f} MB compressed, "
          f"{sum(i.file_size for i in infos) / 1e6:.1f} MB inflated; load average "
          f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"\n| step | ms (best of {args.reps}) |\n|---|---|")
    for k, v in best.items():
        print(f"| {k} | {v * 1000:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
