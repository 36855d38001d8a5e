"""The test tree must not shadow the frameworks whose absence the core tests rely on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "scipy", "sklearn", "matplotlib")


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_framework_names_resolve_to_real_packages_or_nothing(name):
    # A directory on sys.path named like a framework imports as a namespace package (no
    # __init__, origin None) when the framework is absent, and importorskip then does not skip.
    spec = importlib.util.find_spec(name)  # the module's own __spec__ once it is imported
    if spec is None:
        return
    where = list(spec.submodule_search_locations or [])
    assert spec.origin not in (None, "namespace"), f"{name!r} resolves to a namespace package: {where}"


def test_no_test_directory_is_named_like_a_framework():
    tests = Path(__file__).resolve().parents[1]
    clashes = sorted(p.name for p in tests.iterdir() if p.is_dir() and p.name in FRAMEWORKS)
    assert not clashes, f"tests/ holds directories named like frameworks: {clashes}"
