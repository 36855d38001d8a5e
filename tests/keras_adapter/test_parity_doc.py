"""docs/parity.md lists every public name of sift_torch and sift_keras (with its counterpart or why not)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import sift_keras  # noqa: E402
import sift_torch  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "parity.md"


def test_every_public_name_of_both_adapters_is_in_the_parity_table():
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    named = {n for row in rows for n in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", row)}
    for package in (sift_torch, sift_keras):
        missing = sorted(set(package.__all__) - named)
        assert not missing, f"{package.__name__} names missing from docs/parity.md: {missing}"
    # every row names both sides or says why one is missing
    for row in rows[2:]:
        concept, torch_side, keras_side, why = [c.strip() for c in row.strip("|").split("|")]
        assert concept and (why or ("`" in torch_side and "`" in keras_side)), row
