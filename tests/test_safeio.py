"""Reading files that may have been replaced: regular files only, bounded, JSON depth
checked, zips whose directory points outside the file found."""

from __future__ import annotations

import io
import os
import struct
import time
import zipfile

import pytest

from mimir.safeio import (
    UntrustedFile,
    json_depth,
    load_json,
    read_regular,
    zip_layout_problem,
)


def test_regular_files_are_read_within_their_limit(tmp_path):
    p = tmp_path / "a.json"
    p.write_bytes(b'{"a": 1}')
    assert read_regular(p, 100) == b'{"a": 1}'
    with pytest.raises(UntrustedFile, match="holds 8 bytes, more than the 4"):
        read_regular(p, 4)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "none", 10)


def test_links_fifos_devices_and_folders_are_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "inside").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "inside")
    (tmp_path / "dir").mkdir()
    t0 = time.perf_counter()
    for name, says in (("fifo", "is a FIFO"), ("zero", "symbolic link"), ("link", "symbolic"),
                       ("dir", "folder")):
        with pytest.raises(UntrustedFile, match=says):
            read_regular(tmp_path / name, 1 << 20)
    with pytest.raises(UntrustedFile, match="is a device"):
        read_regular("/dev/zero", 1 << 20)
    assert time.perf_counter() - t0 < 5
    # within a folder given as root, a link to a regular file inside it is followed;
    # one out of it, or to a device, is not
    assert read_regular(tmp_path / "link", 10, root=tmp_path) == b"x"
    with pytest.raises(UntrustedFile, match="out of"):
        read_regular(tmp_path / "zero", 10, root=tmp_path)


def test_json_depth_is_checked_before_parsing():
    assert json_depth('{"a": ["[[[", {"b": "]]]\\"["}]}') == 3
    assert load_json(b'{"a": [1, 2]}', "x") == {"a": [1, 2]}
    with pytest.raises(UntrustedFile, match="nested more than 32"):
        load_json("[" * 400_000 + "]" * 400_000, "x")
    with pytest.raises(UntrustedFile, match="not valid JSON"):
        load_json("{", "x")
    with pytest.raises(UntrustedFile, match="not UTF-8"):
        load_json(b"\xff", "x")


def test_zip_whose_directory_points_outside_is_found():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello")
    data = bytearray(buf.getvalue())
    assert zip_layout_problem(zipfile.ZipFile(io.BytesIO(bytes(data))), len(data)) is None
    e = data.rindex(b"PK\x05\x06")
    struct.pack_into("<I", data, e + 16, struct.unpack_from("<I", data, e + 16)[0] + 100)
    why = zip_layout_problem(zipfile.ZipFile(io.BytesIO(bytes(data))), len(data))
    assert why is not None and "bogus central-directory offset" in why
