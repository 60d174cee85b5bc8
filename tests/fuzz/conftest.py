"""Fixtures of the fuzz tests: base subjects made once, mutants of a full-size phantom."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.engine import Base, build_bases


@pytest.fixture(scope="session")
def fuzz_bases(tmp_path_factory) -> Path:
    """The fuzz suite's base subjects (zips and their images), written once."""
    return build_bases(tmp_path_factory.mktemp("fuzz_bases"))


@pytest.fixture(scope="session")
def full_base(phantom_dir) -> Base:
    """The first clean full-size phantom, loaded for mutation, with its image."""
    from mimir.pipeline.subject import preprocess_subject

    path = sorted(phantom_dir.glob("*.zip"))[0]
    return Base.from_zip(path, image=preprocess_subject(path).image)


@pytest.fixture
def peak_rss():
    """``peak_rss(zip, limits_kwargs) -> (record dict, peak bytes)``: preprocess one zip in
    a fresh process (as a worker does) and measure its peak resident memory."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    script = (
        "import json, sys, tempfile\n"
        "from mimir.limits import Limits\n"
        "from mimir.pipeline.batch import process_one\n"
        "from tests.fuzz.run import peak_rss\n"
        "with tempfile.TemporaryDirectory() as cache:\n"
        "    rec = process_one(sys.argv[1], cache, None, Limits(**json.loads(sys.argv[2])))\n"
        "print(json.dumps({'status': rec.status, 'kind': rec.kind, 'member': rec.member,\n"
        "    'message': rec.message, 'peak': peak_rss()}))\n")

    def run(path: Path, limits: dict | None = None) -> tuple[dict, int]:
        out = subprocess.run([sys.executable, "-c", script, str(path),
                              json.dumps(limits or {})], cwd=root, capture_output=True,
                             text=True, timeout=600, check=True)
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        assert "Traceback" not in out.stderr, out.stderr
        return rec, int(rec.pop("peak"))

    return run
