"""The compiled kernels (mimir._kernels) give numpy's numbers bit for bit, refuse what
they cannot take with ValueError (never touching memory they were not given), and the
switch between them and numpy works."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mimir.projection.fractions as fractions
from mimir import native
from mimir.fusion.resample import PlaneResampler, StationResampler, axis_map, station_map
from mimir.projection.passes import SumAccumulator

K = native.kernels()


@pytest.fixture
def numpy_only():
    """Numpy's arithmetic for the duration of a test (the kernels afterwards)."""
    native.set_enabled(False)
    yield
    native.set_enabled(True)


def test_the_install_built_the_kernels():
    # make install compiles src/mimir/_kernels.c; without a C compiler it would not, and
    # preprocessing would run at numpy's speed: this test says so rather than skipping
    assert K is not None, native.status()
    assert native.status() == "compiled kernels"


def test_the_environment_switch_selects_numpy():
    code = "from mimir import native; print(native.status()); print(native.kernels())"
    env = dict(os.environ, MIMIR_NATIVE="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out == ["numpy (MIMIR_NATIVE=0)", "None"]


def test_set_enabled_switches_in_process(numpy_only):
    assert native.kernels() is None
    assert native.status() == "numpy (switched off in this process)"
    native.set_enabled(True)
    assert native.kernels() is K


def assert_same(got: np.ndarray, expected: np.ndarray, err_msg: str = "") -> None:
    """Equal bit for bit (so -0.0 != 0.0), NaN where the other has NaN (a NaN's sign
    and payload depend on the order in which a compiler hands operands to the CPU; DICOM
    pixels, being integers, never make one)."""
    assert got.dtype == expected.dtype and got.shape == expected.shape, err_msg
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg=err_msg)
    view = np.uint64 if got.dtype == np.float64 else np.uint32
    np.testing.assert_array_equal(np.ascontiguousarray(got).view(view)[~nan],
                                  np.ascontiguousarray(expected).view(view)[~nan],
                                  err_msg=err_msg)


@st.composite
def stations(draw):
    """A small station (n, rows, cols) of one dtype and a geometry to resample it to."""
    n, rows, cols = (draw(st.integers(1, 6)), draw(st.integers(1, 12)),
                     draw(st.integers(1, 12)))
    dtype = draw(st.sampled_from([np.uint16, np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if dtype == np.uint16:
        a = rng.integers(0, 65536, (n, rows, cols)).astype(np.uint16)
    else:
        a = (rng.standard_normal((n, rows, cols)) * 10 ** rng.uniform(-3, 6)).astype(dtype)
        special = rng.random(a.shape) < 0.05
        a[special] = rng.choice(np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=dtype),
                                special.sum())
    # output sizes that keep, grow or shrink each axis; exact placement or not
    W_size = np.array([draw(st.integers(1, 16)), draw(st.integers(1, 16)),
                       draw(st.integers(1, 8))])
    if draw(st.booleans()):
        W_size[:2] = (rows, cols)
    R = np.array([draw(st.floats(-2, 2)) for _ in range(3)])
    span = np.array([draw(st.floats(0.5, 20)) for _ in range(3)])
    if draw(st.booleans()):  # rows and columns on the grid (identity maps)
        R[:2], span[:2] = 0.0, (rows, cols)
    return a, station_map(a.shape, R, R + span, np.zeros(3), W_size)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf * 0 and the like, on purpose
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stations(), st.sampled_from([np.float64, np.float32]))
def test_resampled_slices_equal_numpy_bit_for_bit(station, out_dtype):
    a, sm = station
    out = {}
    for enabled in (False, True):
        native.set_enabled(enabled)
        try:
            res = StationResampler(a, sm)
            out[enabled] = res.into(np.empty(sm.shape, dtype=out_dtype))
        finally:
            native.set_enabled(True)
    assert_same(out[True], out[False])


def test_plane_kernel_equals_numpy_on_a_station_sized_plane(numpy_only):
    rng = np.random.default_rng(7)
    plane = rng.integers(0, 4000, (174, 224)).astype(np.uint16)
    sm = station_map((1, 174, 224), np.array([0.4, -0.3, 0.0]),
                     np.array([200.4, 223.9, 1.0]), np.zeros(3), np.array([200, 224, 1]))
    assert not sm.rows.identity and not sm.cols.identity
    expected = PlaneResampler(sm)(plane)
    out = np.empty_like(expected)
    K.resample_plane(plane, out, (sm.rows.i0, sm.rows.i1, sm.rows.d, sm.rows.e),
                     (sm.cols.i0, sm.cols.i1, sm.cols.d, sm.cols.e))
    assert_same(out, expected)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf and the like, on purpose
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**32 - 1),
       st.booleans(), st.integers(0, 3))
def test_signal_sum_and_ranges_equal_numpy(k, Y, X, seed, reversed_planes, crop):
    rng = np.random.default_rng(seed)
    vals = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 2.5, -2.5])
    water = rng.choice(vals, (k, Y, X)) * rng.integers(1, 4, (k, Y, X))
    fat = rng.choice(vals, (k, Y, X))
    if reversed_planes:  # as the streamed sweep passes them (negative plane stride)
        water, fat = water[::-1], fat[::-1]
    before = rng.choice(vals, (Y, X))  # running ranges that already hold values
    accs = {}
    for enabled in (False, True):
        acc = SumAccumulator(X, Y, k, crop=crop)
        acc._lo[...] = before
        acc._hi[...] = before
        native.set_enabled(enabled)
        try:
            acc.add(slice(0, k), water, fat)
        finally:
            native.set_enabled(True)
        accs[enabled] = acc
    for name in ("total_s", "_lo", "_hi"):
        assert_same(getattr(accs[True], name), getattr(accs[False], name), err_msg=name)
    for part in ("cor", "sag"):
        for name in ("water", "fat"):
            assert_same(getattr(accs[True], part)[name], getattr(accs[False], part)[name],
                        err_msg=f"{part} {name}")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 7), st.integers(1, 40), st.integers(0, 2**32 - 1),
       st.sampled_from([1, 2, 5, 1 << 14]))
def test_histograms_equal_numpy_histogram(Z, Y, X, seed, hits):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((Z, Y, X)) * rng.uniform(0.1, 1e4)
    # values on bin edges, repeated values and constant planes
    v[:, 0, :] = np.round(v[:, 0, :] * 4) / 4
    if Y > 2:
        v[:, 2, :] = 3.0
    volume = v.transpose(2, 1, 0)
    lo, hi = v.min(axis=(0, 2)), v.max(axis=(0, 2))
    old = fractions._HITS
    fractions._HITS = hits  # near-edge values handed back in batches of this size
    try:
        fast = fractions.coronal_histograms(volume, lo, hi)
        native.set_enabled(False)
        slow = fractions.coronal_histograms(volume, lo, hi)
    finally:
        fractions._HITS = old
        native.set_enabled(True)
    np.testing.assert_array_equal(fast, slow)
    for y in range(Y):
        if lo[y] < hi[y]:
            np.testing.assert_array_equal(fast[y], np.histogram(v[:, y, :], bins=256)[0])


def _axis(n: int, size: int):
    m = axis_map(n, size, size / n, 0.0)
    return m.i0, m.i1, m.d, m.e


def test_resample_plane_refuses_bad_arguments():
    src = np.ones((4, 5), dtype=np.uint16)
    out = np.zeros((6, 5))
    rows, cols = _axis(4, 6), _axis(5, 5)
    K.resample_plane(src, out, rows, cols)
    np.testing.assert_array_equal(out, 1.0)
    with pytest.raises(ValueError, match="out of range"):  # a source row past the end
        K.resample_plane(src, out, (np.array([0, 1, 2, 3, 4, 99]),) + rows[1:], cols)
    with pytest.raises(ValueError, match="out of range"):  # a negative source column
        K.resample_plane(src, out, rows, (np.array([0, 1, 2, 3, -1]),) + cols[1:])
    with pytest.raises(ValueError, match="lengths"):
        K.resample_plane(src, out, (rows[0], rows[1], rows[2][:-1], rows[3]), cols)
    with pytest.raises(ValueError, match="shape"):
        K.resample_plane(src, np.zeros((6, 4)), rows, cols)
    with pytest.raises(ValueError, match="dtype"):
        K.resample_plane(src.astype(np.int32), out, rows, cols)
    with pytest.raises(ValueError, match="dtype"):
        K.resample_plane(src, out.astype(np.float32), rows, cols)
    with pytest.raises(ValueError, match="contiguous"):
        K.resample_plane(np.ones((5, 4), dtype=np.uint16).T, out, rows, cols)
    with pytest.raises(ValueError, match="writable"):
        ro = np.zeros((6, 5))
        ro.flags.writeable = False
        K.resample_plane(src, ro, rows, cols)
    with pytest.raises(ValueError, match="dtype"):
        K.resample_plane(src, out, (rows[0].astype(np.int32),) + rows[1:], cols)
    with pytest.raises(ValueError):
        K.resample_plane(src, out, "rows", cols)


def test_other_kernels_refuse_bad_arguments():
    p = np.ones((3, 4))
    with pytest.raises(ValueError):
        K.lerp_planes(p, 0.5, np.ones((3, 5)), 0.5, np.empty((3, 4)))
    with pytest.raises(ValueError):
        K.lerp_planes(p, 0.5, p, 0.5, np.empty((3, 4), dtype=np.int64))
    w = np.ones((2, 3, 4))
    lo, hi = np.full((3, 4), np.inf), np.full((3, 4), -np.inf)
    cor = np.empty((2, 4))
    with pytest.raises(ValueError):
        K.sum_range(w, w, np.empty((2, 3, 5)), lo, hi, cor, cor.copy(), 3)
    with pytest.raises(ValueError):
        K.sum_range(w, w, np.empty((2, 3, 4)), lo, hi, cor, cor.copy(), 4)  # keep > Y
    with pytest.raises(ValueError, match="contiguous planes"):
        K.sum_range(w[:, :, ::2], w[:, :, ::2], np.empty((2, 3, 2)), lo[:, :2].copy(),
                    hi[:, :2].copy(), cor[:, :2].copy(), cor[:, :2].copy(), 3)
    counts = np.zeros(3 * 256 + 1, dtype=np.int64)
    hits = np.empty(8, dtype=np.int64)
    a, b = np.full(3, 1.0), np.arange(3) * 256.0
    with pytest.raises(ValueError, match="out of range"):
        K.hist_estimate(np.full((1, 3, 4), 1e9), a, b, 1e-6, counts, hits, 0)
    with pytest.raises(ValueError, match="out of range"):
        K.hist_estimate(np.full((1, 3, 4), np.nan), a, b, 1e-6, counts, hits, 0)
    with pytest.raises(ValueError):
        K.hist_estimate(w, a, b, 1e-6, counts, hits, 10**6)  # start past the end
    with pytest.raises(ValueError):
        K.hist_estimate(w, a[:2], b, 1e-6, counts, hits, 0)  # a per plane: wrong length


def test_a_layout_the_kernels_do_not_take_falls_back_to_numpy():
    """A station slice that is not contiguous goes through numpy, with the same values."""
    rng = np.random.default_rng(3)
    wide = rng.integers(0, 4000, (174, 448)).astype(np.uint16)
    plane = wide[:, ::2]  # a view with a stride: the kernel refuses it
    sm = station_map((1, 174, 224), np.array([0.4, -0.3, 0.0]),
                     np.array([200.4, 223.9, 1.0]), np.zeros(3), np.array([200, 224, 1]))
    got = PlaneResampler(sm)(plane)
    native.set_enabled(False)
    try:
        expected = PlaneResampler(sm)(np.ascontiguousarray(plane))
    finally:
        native.set_enabled(True)
    assert_same(got, expected)


def test_without_the_built_kernels_numpy_runs_and_says_so(tmp_path):
    """As after an install without a C compiler: the import of the extension fails,
    status says why, and a subject preprocesses to the same image."""
    from mimir.phantom.cohort import generate_cohort

    generate_cohort(tmp_path, 1, seed=41)
    zip_path = next(tmp_path.glob("*.zip"))
    code = (
        "import sys, numpy as np\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mimir._kernels':\n"
        "            raise ImportError('not built')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from mimir import native\n"
        "from mimir.pipeline import preprocess_subject\n"
        f"image = preprocess_subject({str(zip_path)!r}).image\n"
        f"np.save({str(tmp_path / 'numpy.npy')!r}, image)\n"
        "print(native.status())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "numpy (the compiled kernels were not built)"
    from mimir.pipeline import preprocess_subject

    np.testing.assert_array_equal(np.load(tmp_path / "numpy.npy"),
                                  preprocess_subject(zip_path).image)


def test_the_loops_let_other_threads_run():
    """A thread keeps counting while a kernel works on a large volume (the GIL is
    released around the loops), so threads of one worker preprocess side by side."""
    import threading
    import time

    v = np.random.default_rng(5).random((60, 300, 300))
    a, b = np.full(300, 100.0), np.arange(300) * 256.0
    counts = np.zeros(300 * 256 + 1, dtype=np.int64)
    hits = np.empty(1 << 20, dtype=np.int64)
    ticks = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0)  # gives the GIL back at once

    interval = sys.getswitchinterval()
    # the GIL changes hands only where it is given up: none while a C call holds it
    sys.setswitchinterval(1.0)
    worker = threading.Thread(target=count)
    worker.start()
    try:
        time.sleep(0.02)
        before = ticks[0]
        K.hist_estimate(v, a, b, 1e-9, counts, hits, 0)
        during = ticks[0] - before
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(interval)
    assert during >= 10, f"the other thread counted {during} times during the call"
