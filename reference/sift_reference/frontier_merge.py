"""``siftfunnel merge``: the frontiers of several sweeps of one setting, in one report.

A sweep of new defences (or new variants of one) on a setting that an earlier sweep recorded
need not retrain the earlier defences: when both sweeps trained the same undefended model on
every seed they share, their points are comparable, and :func:`merge_frontiers` puts them in one
``frontier.json`` (iso-accuracy table, winners, plot) as if one sweep had run them all.

"The same undefended model" is checked, not assumed: on every seed the sweeps share, their
``none`` points must have the same accuracy and the same worst-case privacy figures (the same
spec, data, seed and code train the same model; attacks are seeded). Seeds that some sweep
lacks are dropped (a frontier needs every defence on the seeds it is averaged over), and a
defence name that two sweeps use for different points is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .frontier_report import SCHEMA_VERSION, build_frontier

__all__ = ["merge_frontiers", "read_frontier"]

_STRIP = ("accuracy_drop", "pareto")


def read_frontier(path: str | Path, name: str) -> dict:
    """A sweep's frontier.json (``path``: the sweep's folder or the file), checked; errors name ``name``."""
    p = Path(path)
    f = p / "frontier.json" if p.is_dir() else p
    if not f.is_file():
        raise ValueError(f"{name}: {p} holds no frontier.json (the output folder of `siftfunnel sweep`)")
    try:
        doc = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{name}: {f} is not readable JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION or not isinstance(
            doc.get("points"), list):
        raise ValueError(f"{name}: {f} is not a frontier.json of schema version {SCHEMA_VERSION}")
    for i, point in enumerate(doc["points"]):
        problem = _point_problem(point)
        if problem:
            raise ValueError(f"{name}: {f} points[{i}] {problem}")
    return doc


def _point_problem(point: Any) -> str | None:
    """What makes ``point`` unusable as a frontier record, or None (the fields merging and the report read)."""
    if not isinstance(point, dict):
        return f"is not a point record (a {type(point).__name__})"
    for key in ("defence", "point"):
        if not isinstance(point.get(key), str):
            return f"has no {key!r} name"
    seed = point.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        return f"has seed {seed!r}, not an integer"
    number = (int, float)
    if point.get("accuracy") is not None and (isinstance(point["accuracy"], bool)
                                              or not isinstance(point["accuracy"], number)):
        return f"has accuracy {point['accuracy']!r}, not a number"
    privacy = point.get("privacy")
    if privacy is not None and not isinstance(privacy, dict):
        return f"has privacy {privacy!r}, not a record of figures"
    for metric, value in (privacy or {}).items():
        if metric in ("ssim", "mse", "psnr") and value is not None and (isinstance(value, bool)
                                                                        or not isinstance(value, number)):
            return f"has privacy.{metric} {value!r}, not a number"
    return None


def _undefended(doc: dict) -> dict[Any, tuple]:
    out = {}
    for p in doc["points"]:
        if p.get("defence") == "none":
            priv = p.get("privacy") or {}
            out[p["seed"]] = (p.get("accuracy"), priv.get("ssim"), priv.get("mse"))
    return out


def merge_frontiers(docs: list[dict], *, names: list[str] | None = None, drops: Any = None,
                    title: str | None = None) -> dict:
    """One frontier document from the point records of several sweeps' frontier.json documents.

    ``names`` label the documents in errors (default ``sweeps[i]``); ``drops`` default to the
    first document's. Raises ValueError when the sweeps share no seed, when their undefended
    points differ on a shared seed, or when a defence name appears in two of them.
    """
    if not isinstance(docs, (list, tuple)) or len(docs) < 2:
        raise ValueError("sweeps: need at least two frontier documents to merge")
    names = list(names) if names is not None else [f"sweeps[{i}]" for i in range(len(docs))]
    base = [_undefended(d) for d in docs]
    for i, b in enumerate(base):
        if not b:
            raise ValueError(f"{names[i]}: has no undefended ('none') point to measure drops against")
    seeds = sorted(set.intersection(*(set(b) for b in base)))
    if not seeds:
        raise ValueError(f"{', '.join(names)}: the sweeps share no seed")
    for i in range(1, len(docs)):
        for s in seeds:
            if base[i][s] != base[0][s]:
                raise ValueError(
                    f"{names[i]}: seed {s}'s undefended model (accuracy, worst-case SSIM, MSE) {base[i][s]} differs "
                    f"from {names[0]}'s {base[0][s]}: not the same setting, so the frontiers are not comparable")
    owner: dict[str, str] = {}
    points = []
    for i, doc in enumerate(docs):
        for p in doc["points"]:
            if p.get("seed") not in seeds:
                continue
            d = p.get("defence")
            if d == "none":
                if i:
                    continue  # the same model as the first sweep's (checked above)
            elif owner.setdefault(d, names[i]) != names[i]:
                raise ValueError(f"{names[i]}: defence {d!r} is also a defence of {owner[d]}; rename it in one "
                                 "of the specs ([[defences]] name) so each line of the merged frontier is one defence")
            points.append({k: v for k, v in p.items() if k not in _STRIP})
    meta = {"title": title or "merged sweeps: privacy-utility frontiers", "merged_from": names,
            "seeds": seeds, "sources": [d.get("meta", {}) for d in docs]}
    return build_frontier(points, drops=docs[0].get("drops", (1.0, 3.0, 5.0)) if drops is None else drops, meta=meta)
