"""``import sift_core`` then ``sift_core.<submodule>``: every public submodule resolves on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import sift_core


@pytest.mark.parametrize("name", sorted(sift_core._SUBMODULES))
def test_submodule_is_reachable_as_an_attribute(name):
    assert getattr(sift_core, name) is importlib.import_module(f"sift_core.{name}")
    assert name in dir(sift_core) and name in sift_core.__all__


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        sift_core.nonsense  # noqa: B018


def test_attribute_access_works_in_a_fresh_interpreter_without_frameworks():
    code = ("import sys, sift_core; v = sift_core.mi.ksg; w = sift_core.inversion.worst_case; "
            "bad = [m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules]; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
