"""Shared fixtures: small phantom cohorts made once per test session; no test reaches the
network or the user's torch cache."""

from __future__ import annotations

from pathlib import Path

import pytest

import mimir
from mimir.phantom.cohort import generate_cohort
from mimir.phantom.variants import Variants
from tests.modules.module_factory import THREE_TARGETS, write_module


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory):
    """A MIMIR home for the whole session (module- and session-scoped fixtures run
    before the per-test one below): nothing reaches the user's ``~/.cache/mimir``."""
    import os

    saved = {k: os.environ.get(k) for k in ("MIMIR_HOME", "MIMIR_CACHE")}
    os.environ["MIMIR_HOME"] = str(tmp_path_factory.mktemp("session_home"))
    os.environ.pop("MIMIR_CACHE", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def offline_torch_cache(tmp_path_factory, monkeypatch):
    """An empty torch cache (TORCH_HOME) and MIMIR home (installed modules, the log, the
    default image cache) per test, and downloads refused: a test that would fetch
    ImageNet weights fails with the offline error instead."""
    import mimir.training.init as init

    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
    monkeypatch.setenv("MIMIR_HOME", str(tmp_path_factory.mktemp("mimir_home")))
    monkeypatch.delenv("MIMIR_CACHE", raising=False)

    def refuse(url, dst):
        raise OSError(f"network disabled in tests (asked for {url})")

    monkeypatch.setattr(init, "_download", refuse)


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory) -> Path:
    """Three clean phantom subjects (seed 0) with truth.csv."""
    out = tmp_path_factory.mktemp("phantoms")
    generate_cohort(out, 3, seed=0)
    return out


@pytest.fixture(scope="session")
def make_phantoms(tmp_path_factory):
    """Factory: ``make_phantoms(n, seed, **variant_options) -> folder`` (cached per args)."""
    made: dict = {}

    def make(n: int = 1, seed: int = 0, **options) -> Path:
        key = (n, seed, tuple(sorted(options.items())))
        if key not in made:
            out = tmp_path_factory.mktemp("variant")
            generate_cohort(out, n, seed=seed, variants=Variants(**options))
            made[key] = out
        return made[key]

    return make


@pytest.fixture(scope="session")
def module18(tmp_path_factory) -> Path:
    """A small published-layout module (ResNet18, three targets, random weights)."""
    return write_module(tmp_path_factory.mktemp("mods") / "module_small", **THREE_TARGETS,
                        backbone="resnet18")


@pytest.fixture(scope="session")
def cached(tmp_path_factory, phantom_dir) -> Path:
    """The three clean phantoms preprocessed into a cache."""
    cache = tmp_path_factory.mktemp("cache")
    assert mimir.preprocess([phantom_dir], cache).count("done") == 3
    return cache
