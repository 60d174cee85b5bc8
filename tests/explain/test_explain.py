"""Saliency on a module trained on phantoms: the demo module's liver-fat maps lie mostly
in the liver (the phantom's own anatomy, projected into the 2D image); the maps are
deterministic; ``mimir explain`` writes its files and the report shows them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mimir.cli import app
from mimir.explain.maps import cohort_map, normalised, region_share, relevance
from mimir.explain.saliency import Explainer
from mimir.modules.format import load_module
from mimir.phantom.regions import image_and_masks
from mimir.phantom.subject import draw_cohort

DEMO = Path(__file__).resolve().parents[2] / "src" / "mimir" / "demo_module" / "module_demo"
runner = CliRunner()


@pytest.fixture(scope="module")
def phantoms():
    """Six fast-path phantoms (seed 11, not the demo module's training seed) with their
    liver and body masks in the 2D image."""
    subjects = draw_cohort(6, 11)
    made = [image_and_masks(s, 11, ("liver", "body")) for s in subjects]
    return np.stack([m[0] for m in made]), [m[1] for m in made]


@pytest.mark.slow
def test_liver_fat_saliency_lies_mostly_in_the_liver(phantoms):
    images, masks = phantoms
    module = load_module(DEMO)
    names = [t.name for t in module.targets]
    attr = Explainer(module, names.index("liverFat")).attribute(images)
    liver = np.stack([m["liver"] for m in masks])
    union, body = liver.any(axis=0), np.stack([m["body"] for m in masks]).any(axis=0)
    cohort = cohort_map(attr.mean)
    share = region_share(cohort, union)
    # the liver covers about a tenth of the body's pixels (the union over six subjects)
    assert union.sum() / body.sum() < 0.15
    assert share > 0.6, share  # about 0.73 on these six; 0.78 on docs/explain.md's 16
    per_subject = [region_share(m, liver[i])
                   for i, m in enumerate(normalised(relevance(attr.mean)))]
    assert np.mean(per_subject) > 0.5, per_subject
    # specific: the thigh-muscle volume's map puts little of its mass there
    thigh = Explainer(module, names.index("thighMuscle")).attribute(images)
    assert region_share(cohort_map(thigh.mean), union) < 0.15
    # the variance's map too, less sharply
    assert region_share(cohort_map(attr.logvar), union) > 0.3
    # the predictions are the module's (up to float rounding of the folded network)
    from mimir.inference.engine import EngineOptions, LoadedModule

    mean, _ = LoadedModule(module, EngineOptions(device="cpu")).predict(images)
    assert np.allclose(attr.prediction, mean[:, names.index("liverFat")], rtol=1e-4,
                       atol=1e-4)


@pytest.mark.slow
def test_saliency_is_deterministic_on_the_cpu(phantoms):
    images, _ = phantoms
    module = load_module(DEMO)
    a = Explainer(module, 0).attribute(images[:3])
    b = Explainer(module, 0).attribute(images[:3])
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.logvar, b.logvar)


@pytest.mark.slow
def test_explain_command_writes_maps_and_the_report_shows_them(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    res = runner.invoke(app, ["phantom", str(cache), "--n", "3", "--seed", "5", "--fast"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["infer", "--cache", str(cache), "-m", str(DEMO), "-o", str(out),
                              "--device", "cpu"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["explain", str(out), "-t", "VAT", "-t", "liverFat",
                              "--subjects", "2"])
    assert res.exit_code == 0, res.output
    for target in ("VAT", "liverFat"):
        folder = out / "explain" / target
        info = json.loads((folder / "explain.json").read_text())
        assert info["method"] == "gradient x input" and len(info["subjects"]) == 2
        for n in info["subjects"]:
            arr = np.load(folder / "subjects" / f"{n}.npy")
            assert arr.shape == (2, 256, 256) and arr.dtype == np.float32
            assert np.abs(arr).sum() > 0
            assert (folder / "subjects" / f"{n}.png").read_bytes()[:4] == b"\x89PNG"
        cohort = np.load(folder / "cohort_mean.npy")
        assert cohort.shape == (256, 256) and cohort.sum() == pytest.approx(1.0)
    page = (out / "report.html").read_text()
    assert "id='saliency'" in page and "cohort saliency map of liverFat" in page
    # a target the run does not have is refused, naming the ones it has
    res = runner.invoke(app, ["explain", str(out), "-t", "nope"])
    assert res.exit_code == 2 and "no target 'nope'" in res.output and "VAT" in res.output


def test_an_ensemble_is_explained_through_its_mixture(tmp_path):
    """The explainer's prediction of an ensemble module is the engine's (the mixture's
    mean), and its gradients reach every member."""
    from mimir.inference.engine import EngineOptions, LoadedModule
    from tests.modules.module_factory import THREE_TARGETS, make_ensemble, write_module

    singles = [write_module(tmp_path / f"module_s{k}", **THREE_TARGETS, backbone="resnet18",
                            seed=k, scale=0.05) for k in range(2)]
    module = load_module(make_ensemble(tmp_path / "module_ens", singles))
    images = np.random.default_rng(1).integers(0, 255, (2, 3, 256, 256), dtype=np.uint8)
    ex = Explainer(module, 1)
    attr = ex.attribute(images)
    assert len(ex.nets) == 2
    mean, _ = LoadedModule(module, EngineOptions(device="cpu")).predict(images)
    assert np.allclose(attr.prediction, mean[:, 1], rtol=1e-4)
    assert attr.mean.shape == (2, 3, 256, 256) and np.isfinite(attr.logvar).all()
    one = Explainer(load_module(singles[0]), 1).attribute(images)
    assert not np.allclose(one.mean, attr.mean)  # the second member counts


def test_an_unreadable_image_is_skipped_and_an_earlier_run_cleared(tmp_path):
    """One corrupt cache entry does not stop the others; a rerun removes only the files
    the earlier one wrote."""
    from mimir.cache.store import CacheError
    from mimir.explain.run import clear_target, explain_target, target_dir
    from tests.modules.module_factory import THREE_TARGETS, write_module

    module = load_module(write_module(tmp_path / "module_s", **THREE_TARGETS,
                                      backbone="resnet18", scale=0.05))
    rng = np.random.default_rng(2)
    images = {n: rng.integers(0, 255, (3, 256, 256), dtype=np.uint8) for n in "abc"}

    def read(name):
        if name == "b":
            raise CacheError("subject b: image does not match its record")
        return images[name]

    out = tmp_path / "out"
    info = explain_target(out, module, 0, "AtlasVatVolume", ["a", "b", "c"], read)
    assert info["subjects"] == ["a", "c"] and info["skipped"][0]["name"] == "b"
    folder = target_dir(out, "AtlasVatVolume")
    assert sorted(p.name for p in (folder / "subjects").iterdir()) == [
        "a.npy", "a.png", "c.npy", "c.png"]
    (folder / "subjects" / "mine.txt").write_text("a user's note")
    clear_target(folder)
    assert [p.name for p in (folder / "subjects").iterdir()] == ["mine.txt"]
    assert not (folder / "explain.json").exists() and not (folder / "cohort.png").exists()
