"""Slow, literal reference implementation of the MIMIR preprocessing procedure.

This module is the independent oracle that the test-suite compares the fast implementation
in ``mimir`` against. It follows ``spec/preprocessing.md`` (in the shared folder) step by
step, in the order written, with the dtypes the spec gives, using explicit Python loops
wherever the spec describes a loop. It is deliberately slow and deliberately does not
import anything from ``mimir``.

Public API
----------
reference_volumes(zip_path)
    Steps 1-7: fused water and fat volumes, fat fraction, body mask and recorded overlaps.
reference_image(zip_path)
    Steps 1-8: the uint8 image of shape (3, 256, 256).

Both raise ``ValueError`` for the spec's failure rules (no water or no fat station, water
and fat positions that disagree, no finite image, unreadable zip or member).
"""

from __future__ import annotations

import io
import zipfile

import cv2
import numpy as np
import pydicom
from skimage.filters import threshold_otsu

#: Output voxel size s (mm), section 4.
OUTPUT_SPACING = np.array([2.23214293, 2.23214293, 3.0], dtype=np.float64)
#: Largest overlap (in output slices) kept between neighbouring stations, section 5.
MAX_OVERLAP = 8
#: Slices dropped at each end of the z axis, section 6.6.
DROPPED_END_SLICES = 4
#: Indices dropped at the posterior end of the y axis (patient table), section 8.
TABLE_CROP = 22
#: Side of the square output image, section 8.
IMAGE_SIZE = 256


# --------------------------------------------------------------------------------------
# Section 1: read water and fat slices
# --------------------------------------------------------------------------------------


def _parse_manifest(text):
    """Select the DICOM member names listed in a manifest (spec section 1.1).

    Parameters
    ----------
    text : str
        Decoded manifest contents. ``\\n`` and ``\\r\\n`` line ends are accepted; empty
        lines are ignored.

    Returns
    -------
    list of str or None
        The file names of the rows whose description contains ``_W`` or ``_F``, in
        manifest order, or ``None`` when the manifest is unusable (no header, no header
        field containing ``filename``, or no line with a field containing
        ``Dixon_noBH_F``).
    """
    lines = []
    for raw_line in text.split("\n"):
        line = raw_line.rstrip("\r")
        if line.strip() == "":
            continue
        lines.append(line.split(","))
    if not lines:
        return None

    header = lines[0]
    filename_column = None
    for index, field in enumerate(header):
        if "filename" in field:
            filename_column = index
            break
    if filename_column is None:
        return None

    description_column = None
    for fields in lines:  # header included
        for index, field in enumerate(fields):
            if "Dixon_noBH_F" in field:
                description_column = index
                break
        if description_column is not None:
            break
    if description_column is None:
        return None

    kept = []
    for fields in lines[1:]:
        if len(fields) <= max(filename_column, description_column):
            continue
        description = fields[description_column]
        if "_W" in description or "_F" in description:
            kept.append(fields[filename_column].strip())
    return kept


def _slice_record(ds):
    """Extract what section 1.2 reads from one DICOM slice.

    Parameters
    ----------
    ds : pydicom.Dataset
        The slice, with pixel data.

    Returns
    -------
    dict
        ``pixels`` (float32, rows x cols), ``series_number`` (int), ``description``
        (str), ``position`` (3 float32), ``pixel_spacing`` (2 float32) and ``time``
        (the raw SeriesTime string).
    """
    return {
        "pixels": ds.pixel_array.astype(np.float32),
        "series_number": int(ds.SeriesNumber),
        "description": str(ds.get("SeriesDescription", "")),
        "position": np.array([float(v) for v in ds.ImagePositionPatient], dtype=np.float32),
        "pixel_spacing": np.array([float(v) for v in ds.PixelSpacing], dtype=np.float32),
        "time": str(ds.get("SeriesTime", "")),
    }


def _read_member(archive, name):
    """Parse one zip member as DICOM.

    Parameters
    ----------
    archive : zipfile.ZipFile
        The open subject zip.
    name : str
        Member name.

    Returns
    -------
    pydicom.Dataset
        The parsed dataset.
    """
    try:
        data = archive.read(name)
    except KeyError as exc:
        raise ValueError(f"manifest lists {name!r}, which is not in the zip") from exc
    return pydicom.dcmread(io.BytesIO(data))


def read_slices(zip_path):
    """Read the water and fat slices of one subject's zip (spec section 1).

    The manifest is the first member (in zip order) whose name contains ``manifest``.
    When there is none, or it is unusable, every ``.dcm`` member is read instead, in
    member-name order, and those whose SeriesDescription contains ``_W`` or ``_F`` are
    kept.

    Parameters
    ----------
    zip_path : str or os.PathLike
        Path of the subject's zip.

    Returns
    -------
    list of dict
        One record per kept slice (see ``_slice_record``), in manifest order.

    Raises
    ------
    ValueError
        If the file is not a zip or a listed member is missing.
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{zip_path}: not a readable zip file ({exc})") from exc
    with archive:
        names = archive.namelist()
        kept_names = None
        for name in names:
            if "manifest" in name:
                text = archive.read(name).decode("utf-8", errors="replace")
                kept_names = _parse_manifest(text)
                break
        slices = []
        if kept_names is not None:
            for name in kept_names:
                slices.append(_slice_record(_read_member(archive, name)))
        else:
            for name in sorted(names):
                if not name.lower().endswith(".dcm"):
                    continue
                ds = _read_member(archive, name)
                description = str(ds.get("SeriesDescription", ""))
                if "_W" in description or "_F" in description:
                    slices.append(_slice_record(ds))
    return slices


# --------------------------------------------------------------------------------------
# Section 2: group slices into stations
# --------------------------------------------------------------------------------------


def _stable_descending(values):
    """Indices that sort ``values`` in descending order, ties kept in input order.

    Parameters
    ----------
    values : sequence of float
        Keys.

    Returns
    -------
    list of int
        The permutation.
    """
    return sorted(range(len(values)), key=lambda k: float(values[k]), reverse=True)


def group_stations(slices):
    """Group slices into stations and split them into water and fat (spec section 2).

    Parameters
    ----------
    slices : list of dict
        Slice records from ``read_slices``, in manifest order.

    Returns
    -------
    water, fat : list of dict
        Stations in ascending series number. Each station has ``series_number``,
        ``name``, ``time``, ``position`` (3 float32: element-wise maximum of its slices'
        positions), ``voxels`` (float64, rows x cols x n, slices z-descending) and
        ``spacing`` (3 float32).
    """
    numbers = sorted({record["series_number"] for record in slices})
    stations = []
    for number in numbers:
        members = [record for record in slices if record["series_number"] == number]
        positions = np.array([record["position"] for record in members], dtype=np.float32)
        position = np.max(positions, axis=0)
        z = positions[:, 2]
        order = _stable_descending(z)
        voxels = np.stack([members[k]["pixels"] for k in order], axis=2).astype(np.float64)
        n = len(members)
        if n < 2:
            raise ValueError(f"series {number} has {n} slice(s): its slice spacing is undefined")
        slice_spacing = (z.max() - z.min()) / (n - 1)  # float32
        first = members[0]
        spacing = np.array(
            [first["pixel_spacing"][0], first["pixel_spacing"][1], slice_spacing],
            dtype=np.float32,
        )
        stations.append(
            {
                "series_number": number,
                "name": first["description"],
                "time": first["time"],
                "position": position,
                "voxels": voxels,
                "spacing": spacing,
            }
        )
    water = [station for station in stations if "_W" in station["name"]]
    fat = [station for station in stations if "_F" in station["name"]]
    return water, fat


# --------------------------------------------------------------------------------------
# Section 3: make the stations consistent
# --------------------------------------------------------------------------------------


def make_consistent(water, fat):
    """Check, de-duplicate, crop and order the stations (spec section 3).

    Parameters
    ----------
    water, fat : list of dict
        Stations from ``group_stations``, in ascending series number.

    Returns
    -------
    water, fat : list of dict
        New lists of (new) station dicts, paired index by index, ordered by position z
        descending, with paired voxel arrays cropped to a common shape.

    Raises
    ------
    ValueError
        If there is no water or no fat station, if their numbers differ, or if their
        positions are not allclose.
    """
    if not water:
        raise ValueError("no water (_W) station could be read")
    if not fat:
        raise ValueError("no fat (_F) station could be read")
    if len(water) != len(fat):
        raise ValueError(
            f"water and fat positions disagree: {len(water)} water stations "
            f"but {len(fat)} fat stations"
        )

    # 3.1
    water_positions = np.array([station["position"] for station in water])
    fat_positions = np.array([station["position"] for station in fat])
    if not np.allclose(water_positions, fat_positions):
        raise ValueError("water and fat positions disagree")

    water = [dict(station) for station in water]
    fat = [dict(station) for station in fat]

    # 3.2 superimposed stations
    keys = [tuple(float(v) for v in station["position"]) for station in water]
    if len(set(keys)) < len(keys):
        keep = []
        for key in sorted(set(keys)):
            candidates = [i for i in range(len(water)) if keys[i] == key]
            best = candidates[0]
            for i in candidates[1:]:
                if water[i]["time"].replace(".", "") > water[best]["time"].replace(".", ""):
                    best = i
            keep.append(best)
        water = [water[i] for i in keep]
        fat = [fat[i] for i in keep]

    # 3.3 crop differing shapes
    for k in range(len(water)):
        shape_w = water[k]["voxels"].shape
        shape_f = fat[k]["voxels"].shape
        if shape_w != shape_f:
            m0 = min(shape_w[0], shape_f[0])
            m1 = min(shape_w[1], shape_f[1])
            m2 = min(shape_w[2], shape_f[2])
            water[k]["voxels"] = water[k]["voxels"][:m0, :m1, :m2]
            fat[k]["voxels"] = fat[k]["voxels"][:m0, :m1, :m2]

    # 3.4 order by z descending (stable), using the water positions for both lists
    order = _stable_descending([station["position"][2] for station in water])
    water = [water[i] for i in order]
    fat = [fat[i] for i in order]
    return water, fat


# --------------------------------------------------------------------------------------
# Section 4: place stations on the output grid
# --------------------------------------------------------------------------------------


def place_stations(stations):
    """Compute the output-grid placement of the stations (spec section 4.1-4.3).

    Parameters
    ----------
    stations : list of dict
        Consistent stations (water), ordered by z descending.

    Returns
    -------
    dict
        ``R``, ``R_end`` (float64, S x 3), ``W``, ``W_end``, ``W_size`` (int64, S x 3),
        ``dims`` (int64, S x 3) and ``sp`` (float32, S x 3).
    """
    s = OUTPUT_SPACING
    P = np.array([station["position"] for station in stations], dtype=np.float32)
    dims = np.array([station["voxels"].shape for station in stations], dtype=np.int64)
    sp = np.array([station["spacing"] for station in stations], dtype=np.float32)

    R = (P - P[0]) / s
    R[:, 0] -= np.min(R[:, 0])
    R[:, 1] -= np.min(R[:, 1])
    R[:, 2] *= -1
    R = R[:, [1, 0, 2]]
    R_end = R + dims * sp / s

    W = np.round(R).astype(np.int64)
    W_end = np.round(R_end).astype(np.int64)
    W_size = W_end - W
    return {
        "R": R,
        "R_end": R_end,
        "W": W,
        "W_end": W_end,
        "W_size": W_size,
        "dims": dims,
        "sp": sp,
    }


def needs_resampling(R_i, R_end_i, W_size_i, dims_i):
    """Decide whether one station is resampled (spec section 4.4).

    Parameters
    ----------
    R_i, R_end_i : numpy.ndarray
        The station's three R and three R_end values.
    W_size_i, dims_i : numpy.ndarray
        The station's output size and its shape.

    Returns
    -------
    bool
        True when the largest |v - round(v)| over the six values exceeds 0.01, or when
        sum(W_size - dims) != 0.
    """
    largest = 0.0
    for v in list(R_i) + list(R_end_i):
        deviation = abs(float(v) - float(np.round(v)))
        if deviation > largest:
            largest = deviation
    return largest > 0.01 or int(np.sum(W_size_i - dims_i)) != 0


def _resample_axis(A, axis, size, offset, scale):
    """One 1D linear clamp-to-edge resampling pass along ``axis`` (spec section 4.5).

    Parameters
    ----------
    A : numpy.ndarray
        float64 input volume.
    axis : int
        Axis to resample.
    size : int
        Output length along ``axis``.
    offset, scale : float
        Geometry of the axis: the source coordinate of output index i is
        ``(i - offset) / scale``.

    Returns
    -------
    numpy.ndarray
        float64 volume with length ``size`` along ``axis``.
    """
    n = A.shape[axis]
    source = np.moveaxis(A, axis, 0)
    result = np.empty((size,) + source.shape[1:], dtype=np.float64)
    for i in range(size):
        a = (i - offset) / scale
        i0 = int(np.trunc(a))
        i1 = i0 + 1
        a = min(max(a, 0.0), float(n - 1))
        i0 = min(max(i0, 0), n - 1)
        i1 = min(max(i1, 0), n - 1)
        d = a - i0
        result[i] = d * source[i1] + (1 - d) * source[i0]
    return np.moveaxis(result, 0, axis)


def resample_station(voxels, R_i, R_end_i, W_i, W_size_i, dims_i):
    """Resample one station to shape ``W_size_i`` (spec section 4.5).

    Three separable passes (axis 0, then 1, then 2), each looping over output indices.

    Parameters
    ----------
    voxels : numpy.ndarray
        Station voxels (rows, cols, n).
    R_i, R_end_i : numpy.ndarray
        float64 start and end of the station in output voxels.
    W_i, W_size_i, dims_i : numpy.ndarray
        Integer start, output size and input shape.

    Returns
    -------
    numpy.ndarray
        float64, C-contiguous, shape ``W_size_i``.
    """
    scale = (R_end_i - R_i) / dims_i
    offset = R_i - W_i
    out = np.asarray(voxels, dtype=np.float64)
    for axis in range(3):
        out = _resample_axis(
            out, axis, int(W_size_i[axis]), float(offset[axis]), float(scale[axis])
        )
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------------------
# Section 5: trim overlaps
# --------------------------------------------------------------------------------------


def trim_overlaps(water_arrays, fat_arrays, geometry):
    """Trim overlaps between neighbouring stations (spec section 5), in place.

    Parameters
    ----------
    water_arrays, fat_arrays : list of numpy.ndarray
        Station voxel arrays (rows, cols, n); entries are replaced by trimmed views.
    geometry : dict
        From ``place_stations``; ``W``, ``W_end`` and ``W_size`` are updated in place.

    Returns
    -------
    list of int
        The recorded overlaps (S - 1 values).
    """
    W = geometry["W"]
    W_end = geometry["W_end"]
    W_size = geometry["W_size"]
    overlaps = []
    for i in range(len(water_arrays) - 1):
        overlap = int(W_end[i, 2] - W[i + 1, 2])
        if overlap <= 0:
            overlaps.append(overlap)  # the stations do not meet (a warning, not a failure)
        elif overlap <= MAX_OVERLAP:
            overlaps.append(overlap)
        else:
            c = (overlap - MAX_OVERLAP) / 2
            cut_a = int(np.floor(c))
            cut_b = int(np.ceil(c))
            for arrays in (water_arrays, fat_arrays):
                arrays[i] = arrays[i][:, :, : arrays[i].shape[2] - cut_a]
                arrays[i + 1] = arrays[i + 1][:, :, cut_b:]
            W_end[i, 2] -= cut_a
            W_size[i, 2] -= cut_a
            W[i + 1, 2] += cut_b
            W_size[i + 1, 2] -= cut_b
            overlaps.append(MAX_OVERLAP)
    return overlaps


# --------------------------------------------------------------------------------------
# Section 6: fuse
# --------------------------------------------------------------------------------------


def fuse(arrays, geometry, overlaps):
    """Fuse one signal's stations into one volume (spec section 6).

    Parameters
    ----------
    arrays : list of numpy.ndarray
        Trimmed station arrays (rows, cols, n), ordered neck first.
    geometry : dict
        Trimmed placement (``W``, ``W_end``, ``W_size``).
    overlaps : list of int
        Recorded overlaps.

    Returns
    -------
    numpy.ndarray
        float64 volume (x, y, z) with z from foot to head, 4 slices dropped at each end.
    """
    W = geometry["W"]
    W_end = geometry["W_end"]
    W_size = geometry["W_size"]
    S = len(arrays)

    # 6.1
    stations = [np.asarray(array).astype(np.float32) for array in arrays]

    # 6.2 fade
    for i in range(S):
        if i < S - 1:
            o = overlaps[i]
            for j in range(o):
                stations[i][:, :, W_size[i, 2] - 1 - j] *= (j + 1) / (o + 1)
    for i in range(S):
        if i > 0:
            o = overlaps[i - 1]
            for j in range(o):
                stations[i][:, :, j] *= (j + 1) / (o + 1)

    # 6.3 intensity correction
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(S - 1):
            o = overlaps[i]
            if o <= 0:
                continue  # nothing to correct (and slice o of the formula may not exist)
            mean_a = np.mean(stations[i + 1][:, :, o])
            mean_b = np.mean(stations[i][:, :, W_size[i, 2] - 1 - o])
            for j in range(o):
                target = mean_b + (mean_a - mean_b) * (j + 1) / (o + 1)
                current = np.mean(stations[i + 1][:, :, j]) + np.mean(
                    stations[i][:, :, W_size[i, 2] - o + j]
                )
                factor = target / current
                stations[i + 1][:, :, j] *= factor
                stations[i][:, :, W_size[i, 2] - o + j] *= factor

    # 6.4 sum
    shape = tuple(int(v) for v in np.max(W_end, axis=0))
    volume = np.zeros(shape, dtype=np.float64)
    for i in range(S):
        region = volume[W[i, 0] : W_end[i, 0], W[i, 1] : W_end[i, 1], W[i, 2] : W_end[i, 2]]
        if region.shape != stations[i].shape:
            raise ValueError(
                f"station {i} has shape {stations[i].shape} but its place on the output "
                f"grid has shape {region.shape}"
            )
        region += stations[i]

    # 6.5 flip the slice axis, swap axes 0 and 1
    volume = volume[:, :, ::-1]
    volume = np.swapaxes(volume, 0, 1)
    # 6.6 drop 4 slices at each end
    volume = volume[:, :, DROPPED_END_SLICES : volume.shape[2] - DROPPED_END_SLICES]
    return np.ascontiguousarray(volume)


# --------------------------------------------------------------------------------------
# Section 7: fat fraction and body mask
# --------------------------------------------------------------------------------------


def fat_fraction_and_mask(water, fat):
    """Fat fraction (per mille) and Otsu body mask (spec section 7).

    Parameters
    ----------
    water, fat : numpy.ndarray
        Fused float64 volumes (x, y, z).

    Returns
    -------
    ff : numpy.ndarray
        float64, ``1000 * fat / sum``.
    mask : numpy.ndarray
        bool, ``sum >= t`` with t the mean over y of Otsu thresholds of ``sum[:, y, :]``.
    """
    total = water + fat
    total[total == 0] = 1
    ff = 1000 * fat / total
    thresholds = []
    for y in range(total.shape[1]):
        thresholds.append(threshold_otsu(total[:, y, :]))
    t = np.mean(thresholds)
    mask = total >= t
    return ff, mask


def reference_volumes(zip_path):
    """Run spec steps 1-7 on one subject's zip.

    Parameters
    ----------
    zip_path : str or os.PathLike
        Path of the subject's zip.

    Returns
    -------
    dict
        ``water`` and ``fat``: float64 fused volumes after step 6, shape (X, Y, Z);
        ``ff`` (float64) and ``mask`` (bool) from step 7, same shape; ``overlaps``: list
        of the recorded overlaps (int), one per neighbouring pair of stations.

    Raises
    ------
    ValueError
        For the spec's failure rules.
    """
    slices = read_slices(zip_path)
    water, fat = group_stations(slices)
    water, fat = make_consistent(water, fat)

    geometry = place_stations(water)
    R, R_end = geometry["R"], geometry["R_end"]
    W, W_size, dims = geometry["W"], geometry["W_size"], geometry["dims"]
    if not (np.all(np.isfinite(R)) and np.all(np.isfinite(R_end))):
        raise ValueError("station geometry is not finite")

    water_arrays = []
    fat_arrays = []
    for i in range(len(water)):
        if needs_resampling(R[i], R_end[i], W_size[i], dims[i]):
            water_arrays.append(
                resample_station(water[i]["voxels"], R[i], R_end[i], W[i], W_size[i], dims[i])
            )
            fat_arrays.append(
                resample_station(fat[i]["voxels"], R[i], R_end[i], W[i], W_size[i], dims[i])
            )
        else:
            water_arrays.append(water[i]["voxels"])
            fat_arrays.append(fat[i]["voxels"])

    overlaps = trim_overlaps(water_arrays, fat_arrays, geometry)

    water_volume = fuse(water_arrays, geometry, overlaps)
    fat_volume = fuse(fat_arrays, geometry, overlaps)
    if water_volume.size == 0:
        raise ValueError(f"fused volume is empty (shape {water_volume.shape})")
    ff, mask = fat_fraction_and_mask(water_volume, fat_volume)
    return {"water": water_volume, "fat": fat_volume, "ff": ff, "mask": mask, "overlaps": overlaps}


# --------------------------------------------------------------------------------------
# Section 8: the 2D image
# --------------------------------------------------------------------------------------


def _normalised_uint8(image):
    """Min-max normalise to [0, 1] in float64, times 255, truncate to uint8.

    Parameters
    ----------
    image : numpy.ndarray
        float64 projection.

    Returns
    -------
    numpy.ndarray
        uint8 image.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = (image - np.min(image)) / (np.max(image) - np.min(image))
    if not np.all(np.isfinite(normalised)):
        raise ValueError("the computation produced no finite image (projection)")
    return (normalised * 255).astype(np.uint8)


def _projection_channel(volume):
    """Water or fat channel: coronal | sagittal sums, resized (spec section 8).

    Parameters
    ----------
    volume : numpy.ndarray
        Table-cropped float64 volume (x, y, z).

    Returns
    -------
    numpy.ndarray
        uint8, 256 x 256.
    """
    coronal = np.rot90(np.sum(volume, axis=1))
    sagittal = np.rot90(np.sum(volume, axis=0))
    image = np.concatenate([_normalised_uint8(coronal), _normalised_uint8(sagittal)], axis=1)
    return cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE))


def _first_reaching(plane_counts, target):
    """Smallest k in range(n) whose count over indices [0, k) reaches ``target``.

    Parameters
    ----------
    plane_counts : list of int
        Mask voxel count of each plane along the axis (n planes).
    target : float
        Count to reach (``>=``).

    Returns
    -------
    int
        The index, or 0 when the target is never reached.
    """
    for k in range(len(plane_counts)):
        count = 0
        for m in range(k):
            count += plane_counts[m]
        if count >= target:
            return k
    return 0


def _fat_fraction_plane(plane):
    """Rotate, /500, clip to [0, 1], times 255, truncate to uint8.

    Parameters
    ----------
    plane : numpy.ndarray
        float64 fat-fraction plane (per mille).

    Returns
    -------
    numpy.ndarray
        uint8 image.
    """
    scaled = np.clip(np.rot90(plane) / 500, 0, 1)
    if not np.all(np.isfinite(scaled)):
        raise ValueError("the computation produced no finite image (fat fraction)")
    return (scaled * 255).astype(np.uint8)


def image_from_volumes(volumes):
    """Build the (3, 256, 256) uint8 image from step-7 volumes (spec section 8).

    Parameters
    ----------
    volumes : dict
        Output of ``reference_volumes``.

    Returns
    -------
    numpy.ndarray
        uint8, shape (3, 256, 256): water, fat, fat fraction.
    """
    n_y = volumes["water"].shape[1]
    keep_y = n_y - TABLE_CROP
    if keep_y <= 0:
        raise ValueError(f"volume has only {n_y} y indices; cannot drop {TABLE_CROP}")
    water = volumes["water"][:, :keep_y, :]
    fat = volumes["fat"][:, :keep_y, :]
    ff = volumes["ff"][:, :keep_y, :]
    mask = volumes["mask"][:, :keep_y, :]

    water_channel = _projection_channel(water)
    fat_channel = _projection_channel(fat)

    n_x, n_y, _ = mask.shape
    counts_y = []
    for k in range(n_y):
        counts_y.append(int(np.sum(mask[:, k, :])))
    counts_x = []
    for k in range(n_x):
        counts_x.append(int(np.sum(mask[k, :, :])))

    whole = int(np.sum(mask))
    coronal_index = _first_reaching(counts_y, whole / 2)
    first_half = int(np.sum(mask[: int(n_x / 2), :, :]))
    sagittal_index = _first_reaching(counts_x, first_half / 2)

    coronal = _fat_fraction_plane(ff[:, coronal_index, :])
    sagittal = _fat_fraction_plane(ff[sagittal_index, :, :])
    ff_channel = cv2.resize(np.concatenate([coronal, sagittal], axis=1), (IMAGE_SIZE, IMAGE_SIZE))

    return np.stack([water_channel, fat_channel, ff_channel], axis=0).astype(np.uint8)


def reference_image(zip_path):
    """Run the whole procedure (spec steps 1-8) on one subject's zip.

    Parameters
    ----------
    zip_path : str or os.PathLike
        Path of the subject's zip.

    Returns
    -------
    numpy.ndarray
        uint8, shape (3, 256, 256): channels water, fat, fat fraction.

    Raises
    ------
    ValueError
        For the spec's failure rules.
    """
    return image_from_volumes(reference_volumes(zip_path))
