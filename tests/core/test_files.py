"""Atomic writes leave new files with the umask's permissions (tempfile.mkstemp's are always 0600)."""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pytest

from sift_core.files import temp_file_beside, write_atomically

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_temporary_file_gets_what_open_would_give(tmp_path, umask):
    with open(tmp_path / "plain", "w"):
        pass
    fd, name = temp_file_beside(tmp_path / "sub" / "result.json", suffix=".tmp")
    os.close(fd)
    assert os.path.dirname(name) == str(tmp_path / "sub")  # beside the target: os.replace stays on one filesystem
    assert os.path.basename(name).startswith(".result.json.") and name.endswith(".tmp")
    assert _mode(name) == _mode(tmp_path / "plain") == 0o666 & ~umask


def test_names_are_unique_and_never_reuse_an_existing_file(tmp_path):
    made = set()
    for _ in range(50):
        fd, name = temp_file_beside(tmp_path / "x.png")
        os.close(fd)
        made.add(name)
    assert len(made) == 50 and all(os.path.getsize(n) == 0 for n in made)


def test_an_image_grid_written_atomically_is_readable_as_the_umask_allows(tmp_path, umask):
    pytest.importorskip("matplotlib")
    from sift_core.imaging import save_grid_png

    out = tmp_path / "grid.png"
    save_grid_png(out, np.zeros((8, 8, 3)))
    assert _mode(out) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary file left


def test_a_write_that_fails_leaves_the_earlier_file_and_no_temporary_one(tmp_path, umask):
    target = tmp_path / "results.json"
    write_atomically(target, lambda fh: fh.write(b"first"))
    assert target.read_bytes() == b"first" and _mode(target) == 0o666 & ~umask

    def half_then_crash(fh):
        fh.write(b"half of the sec")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, half_then_crash)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    write_atomically(target, lambda fh: fh.write(b"second"), suffix=".json")
    assert target.read_bytes() == b"second" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
