"""Crash-safe result files: every finished unit of work is one file, written atomically.

A unit (a trained model's evaluation, the criterion, one attack) is stored as JSON
with the hash of every setting it depends on. ``--resume`` reuses a unit only when
its hash matches, so a changed spec recomputes exactly what it affects, and an
interrupted write never leaves a half file (temp file + ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from sift_core.files import write_atomically


def _jsonable(obj: Any) -> Any:
    """numpy scalars/arrays -> Python; NaN/inf -> None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n"


def _atomic(path: Path, write) -> None:
    # the umask's permissions, as for any new file (tempfile.mkstemp's are always 0600)
    write_atomically(path, write)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    data = dumps(obj).encode()
    _atomic(Path(path), lambda fh: fh.write(data))


def write_text(path: str | os.PathLike, text: str) -> None:
    data = text.encode()
    _atomic(Path(path), lambda fh: fh.write(data))


def write_npy(path: str | os.PathLike, arr: np.ndarray) -> None:
    _atomic(Path(path), lambda fh: np.save(fh, np.asarray(arr), allow_pickle=False))


def read_json(path: str | os.PathLike) -> Any | None:
    """The JSON at ``path``, or None when it is missing or unreadable (treated as not done)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def settings_hash(*parts: Any) -> str:
    """A stable hash of JSON-able settings (key order does not matter)."""
    text = json.dumps(_jsonable(list(parts)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_unit(path: str | os.PathLike, key: str) -> dict | None:
    """The cached unit at ``path`` when it was computed with settings hash ``key``, else None."""
    unit = read_json(path)
    if isinstance(unit, dict) and unit.get("key") == key and "result" in unit:
        return unit["result"]
    return None


def save_unit(path: str | os.PathLike, key: str, result: dict, *, seconds: float | None = None,
              cpu_seconds: float | None = None) -> None:
    write_json(path, {"key": key, "seconds": seconds, "cpu_seconds": cpu_seconds, "result": result})
