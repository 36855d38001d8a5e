"""The harness's atomic writers: content round-trips, no temporary file is left, and the files get the
umask's permissions like the run's plots and logs (they were 0600 through tempfile.mkstemp)."""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pytest
from sift_reference import cache


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_written_results_are_as_readable_as_any_new_file(tmp_path, mask):
    old = os.umask(mask)
    try:
        cache.write_json(tmp_path / "results.json", {"a": [1, 2.5, None]})
        cache.write_text(tmp_path / "report.md", "# report\n")
        cache.write_npy(tmp_path / "x_recon.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
        with open(tmp_path / "plain.txt", "w"):
            pass
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert set(modes) == {"results.json", "report.md", "x_recon.npy", "plain.txt"}  # nothing left behind
    assert set(modes.values()) == {0o666 & ~mask}
    assert cache.read_json(tmp_path / "results.json") == {"a": [1, 2.5, None]}
    assert (tmp_path / "report.md").read_text() == "# report\n"
    np.testing.assert_array_equal(np.load(tmp_path / "x_recon.npy"), np.arange(6, dtype=np.float32).reshape(2, 3))
