"""The report of a sweep: each defence's privacy-utility frontier, compared at fixed accuracy drops.

A sweep trains each defence at several strengths and seeds; every trained model is one point
record ``{"defence", "kind", "point", "strength", "seed", "accuracy", "privacy", "seconds"}``
whose ``privacy`` is the worst case over the attack suite (the highest SSIM and the lowest
MSE any attack reached). ``frontier.json`` (:func:`build_frontier`) holds:

* ``points``: the records, each with ``accuracy_drop`` in percentage points against the
  undefended model (``"none"``) of the same seed, and ``pareto`` flags computed among the
  points of its defence and seed;
* ``mean_points``: per defence and strength, mean and sample sd over seeds, with ``pareto``
  flags computed on the means;
* ``iso_accuracy``: per accuracy drop and defence, the SSIM and MSE each seed's frontier
  reaches at that drop (:func:`sift_core.frontier.iso_cost`: linear between Pareto points,
  log-linear for MSE, reported only where every seed's frontier reaches);
* ``winners``: per drop, a sentence naming the most private defence and whether its lead
  exceeds the seed spread.
"""

from __future__ import annotations

import copy
import heapq
import math
from pathlib import Path
from typing import Any

import numpy as np

from sift_core.frontier import iso_cost, pareto_mask

from . import cache, report

#: version of the frontier.json layout
SCHEMA_VERSION = 1
#: per privacy figure: which direction is more private
BETTER = {"ssim": "low", "mse": "high"}
#: accuracy drops are rounded to this many decimals of a point: float noise in 100 * (a - b) must
#: not push a point that sits exactly on an iso line (a drop of 3.0) out of range
DROP_DECIMALS = 9
_REQUIRED = ("defence", "point", "seed", "accuracy")


def _num(v: Any) -> float:
    """A finite float, or NaN for None, booleans and anything non-finite (ignored by the frontiers)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return math.nan
    return float(v) if math.isfinite(v) else math.nan


def _privacy(rec: dict, metric: str) -> float:
    return _num((rec.get("privacy") or {}).get(metric))


def _stat(values: list[float]) -> dict[str, Any]:
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    return {"mean": float(v.mean()) if len(v) else None, "sd": float(v.std(ddof=1)) if len(v) >= 2 else None,
            "n": int(len(v))}


def _drop_text(d: float) -> str:
    return f"accuracy drop of {d:g} point{'' if d == 1 else 's'}"


def build_frontier(points: list[dict], *, drops: Any = (1.0, 3.0, 5.0), meta: dict | None = None) -> dict:
    """The frontier.json document of a sweep (see the module docstring).

    ``points`` are the sweep's point records; every seed needs a ``"none"`` record (the
    undefended model) to measure accuracy drops against. A record whose privacy value is None
    is kept but takes no part in the frontiers of that figure.
    """
    if not isinstance(points, (list, tuple)) or not points:
        raise ValueError("points: need at least one point record")
    for i, r in enumerate(points):
        missing = [k for k in _REQUIRED if not isinstance(r, dict) or k not in r]
        if missing:
            raise ValueError(f"points: record {i} lacks {missing}")
    given = drops
    try:
        drops = [float(d) for d in given]
    except (TypeError, ValueError):
        drops = [math.nan]
    if not all(math.isfinite(d) for d in drops):
        raise ValueError(f"drops: must be finite numbers of percentage points; got {given!r}")
    seeds = sorted({r["seed"] for r in points})
    base: dict[Any, float] = {}
    for r in points:
        if r["defence"] == "none" and r["seed"] not in base:
            base[r["seed"]] = _num(r["accuracy"])
    for s in seeds:
        if not math.isfinite(base.get(s, math.nan)):
            raise ValueError(f"seed {s}: no 'none' (undefended) point with an accuracy to measure drops against")

    out = []
    for r in points:
        p = copy.deepcopy(dict(r))
        drop = 100.0 * (base[r["seed"]] - _num(r["accuracy"]))
        p["accuracy_drop"] = round(drop, DROP_DECIMALS) if math.isfinite(drop) else None
        out.append(p)
    for idx in _groups(out, ("defence", "seed")).values():
        cost = [_num(out[i]["accuracy_drop"]) for i in idx]
        flags = {m: pareto_mask(cost, [_privacy(out[i], m) for i in idx], better=BETTER[m]) for m in BETTER}
        for j, i in enumerate(idx):
            out[i]["pareto"] = {m: bool(flags[m][j]) for m in BETTER}

    means = []
    for idx in _groups(out, ("defence", "point")).values():
        first = out[idx[0]]
        means.append({
            "defence": first["defence"], "kind": first.get("kind"), "point": first["point"],
            "strength": copy.deepcopy(first.get("strength", {})), "n_seeds": len(idx),
            "accuracy": _stat([_num(out[i]["accuracy"]) for i in idx]),
            "accuracy_drop": _stat([_num(out[i]["accuracy_drop"]) for i in idx]),
            **{m: _stat([_privacy(out[i], m) for i in idx]) for m in BETTER},
        })
    for idx in _groups(means, ("defence",)).values():
        cost = [_num(means[i]["accuracy_drop"]["mean"]) for i in idx]
        flags = {m: pareto_mask(cost, [_num(means[i][m]["mean"]) for i in idx], better=BETTER[m]) for m in BETTER}
        for j, i in enumerate(idx):
            means[i]["pareto"] = {m: bool(flags[m][j]) for m in BETTER}

    defences = [d for d in dict.fromkeys(r["defence"] for r in out) if d != "none"]
    iso: dict[str, dict] = {}
    for drop in drops:
        iso[str(drop)] = {d: _iso(out, d, seeds, drop) for d in defences}
    winners = {str(drop): winner_sentence(drop, iso[str(drop)]) for drop in drops}
    return {"schema_version": SCHEMA_VERSION, "meta": copy.deepcopy(meta or {}), "seeds": seeds, "drops": drops,
            "points": out, "mean_points": means, "iso_accuracy": iso, "winners": winners}


def _groups(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[int]]:
    """Row indices grouped by ``keys``, groups and members in order of first appearance."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(tuple(r[k] for k in keys), []).append(i)
    return groups


def _iso(rows: list[dict], defence: str, seeds: list, drop: float) -> dict[str, dict]:
    """SSIM and MSE that the defence's per-seed frontiers reach at ``drop``; a seed without points is out of range."""
    mine = [r for r in rows if r["defence"] == defence]
    res = {}
    for m in BETTER:
        curves = [([_num(r["accuracy_drop"]) for r in mine if r["seed"] == s],
                   [_privacy(r, m) for r in mine if r["seed"] == s]) for s in seeds]
        finite = [v for _, vs in curves for v in vs if math.isfinite(v)]
        # MSE spans decades: log-linear between Pareto points, unless a value is 0 (a perfect reconstruction)
        log = m == "mse" and all(v > 0 for v in finite)
        res[m] = {**iso_cost(curves, drop, better=BETTER[m], log=log), "log": log}
    return res


def _pm(iso: dict, spec: str = ".3f") -> str:
    seeds = f"{iso['n_seeds']} seed{'' if iso['n_seeds'] == 1 else 's'}"
    if iso["sd"] is None:
        return f"{iso['mean']:{spec}} ({seeds})"
    return f"{iso['mean']:{spec}} ± {iso['sd']:{spec}} ({seeds})"


def winner_sentence(drop: float, iso_at_drop: dict[str, dict]) -> str:
    """Which defence's frontier has the lowest mean worst-case SSIM at ``drop``, and is its lead clear?

    The lead is clear when the gap to the runner-up exceeds the sum of the two seed sds.
    """
    ranked = sorted(((v["ssim"]["mean"], d) for d, v in iso_at_drop.items() if v["ssim"]["mean"] is not None),
                    key=lambda t: t[0])
    at = _drop_text(drop)
    if not ranked:
        return f"No defence's frontier reaches an {at}."
    best = ranked[0][1]
    a = iso_at_drop[best]["ssim"]
    if len(ranked) == 1:
        return (f"At an {at}, only {best}'s frontier reaches on every seed: worst-case SSIM {_pm(a)}; "
                "no other defence can be compared there.")
    second = ranked[1][1]
    b = iso_at_drop[second]["ssim"]
    gap = b["mean"] - a["mean"]
    head = (f"At an {at}, {best} has the lowest worst-case SSIM, {_pm(a)}, ahead of {second} at {_pm(b)}; "
            f"the gap of {gap:.3f}")
    if a["sd"] is None or b["sd"] is None:
        return f"{head} cannot be set against a seed spread (one seed): no clear winner."
    spread = a["sd"] + b["sd"]
    if gap > spread:
        return f"{head} exceeds the sum of the two sds ({spread:.3f}): a clear winner."
    return f"{head} does not exceed the sum of the two sds ({spread:.3f}), within the seed spread: no clear winner."


def _fmt_mse(mean: float, sd: float | None) -> str:
    spec = ".2e" if abs(mean) < 1e-3 else ".4f"
    return f"{mean:{spec}}" if sd is None else f"{mean:{spec}} ± {sd:{'.1e' if spec == '.2e' else spec}}"


def _iso_cell(iso: dict, metric: str) -> str:
    if iso["mean"] is None:
        k, n = iso["n_in_range"], iso["n_seeds"]
        return "out of range" + (f" ({k}/{n} seeds)" if 0 < k < n else "")
    if metric == "mse":
        return _fmt_mse(iso["mean"], iso["sd"])
    return f"{iso['mean']:.3f}" + ("" if iso["sd"] is None else f" ± {iso['sd']:.3f}")


def iso_table_md(doc: dict) -> str:
    """Markdown: per defence and accuracy drop, the SSIM and MSE its frontier reaches; then the winners."""
    drops = doc["drops"]
    defences = [d for d in dict.fromkeys(m["defence"] for m in doc["mean_points"]) if d != "none"]
    cols = [f"{m.upper()} @ -{d:g} pt" for d in drops for m in BETTER]
    lines = ["| defence | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for name in defences:
        cells = [_iso_cell(doc["iso_accuracy"][str(d)][name][m], m) for d in drops for m in BETTER]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [""] + [f"- {doc['winners'][str(d)]}" for d in drops]
    return "\n".join(lines)


def plot_frontier(doc: dict, path: str | Path) -> None:
    """Test accuracy (%) against the worst-case SSIM and MSE: one line per defence through its mean
    points (strengths in the order of the sweep), seed sd as error bars on both axes; filled markers
    on the frontier of the means, hollow ones off it; the undefended model as a black star."""
    plt = report._mpl()
    from matplotlib.lines import Line2D

    mp = doc["mean_points"]
    defences = list(dict.fromkeys(m["defence"] for m in mp))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=120)
    for ax, metric, note in ((axes[0], "ssim", "lower = more private"), (axes[1], "mse", "higher = more private")):
        xs_all: list[float] = []
        k = 0
        for d in defences:
            pts = [m for m in mp if m["defence"] == d]
            x = np.array([_num(m[metric]["mean"]) for m in pts])
            y = np.array([100 * _num(m["accuracy"]["mean"]) for m in pts])
            xe = np.array([_num(m[metric]["sd"]) for m in pts])
            ye = np.array([100 * _num(m["accuracy"]["sd"]) for m in pts])
            xe, ye = np.nan_to_num(xe), np.nan_to_num(ye)  # one seed: no bar
            xs_all += [v for v in x if math.isfinite(v)]
            if d == "none":
                ax.errorbar(x, y, xerr=xe, yerr=ye, fmt="*", color="black", markersize=13, capsize=2, zorder=5,
                            label="undefended")
                continue
            c = colours[k % len(colours)]
            k += 1
            ax.errorbar(x, y, xerr=xe, yerr=ye, fmt="-", color=c, lw=1.3, elinewidth=0.8, capsize=2, label=d,
                        zorder=2)
            on = np.array([bool(m.get("pareto", {}).get(metric)) for m in pts])
            ax.scatter(x[on], y[on], marker="o", s=38, color=c, zorder=3)
            ax.scatter(x[~on], y[~on], marker="o", s=38, facecolors="white", edgecolors=c, zorder=3)
        if metric == "mse" and xs_all and min(xs_all) > 0:
            ax.set_xscale("log")
        ax.set_xlabel(f"worst-case {metric.upper()} over the attack suite ({note})")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        handles += [Line2D([], [], marker="o", ls="", color="gray", label="on the frontier (means)"),
                    Line2D([], [], marker="o", ls="", mfc="white", mec="gray", label="dominated")]
        ax.legend(handles=handles, fontsize=7)
    fig.suptitle((doc.get("meta") or {}).get("title") or "Privacy-utility frontiers", fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.22)
    report._save_atomic(fig, path)
    plt.close(fig)


def _check_seconds(values: Any, name: str) -> list[float]:
    out = [_num(v) for v in values]
    if any(not (v >= 0) for v in out):
        raise ValueError(f"{name}: every unit needs a finite duration >= 0; got {list(values)}")
    return out


def _lpt(seconds: list[float], workers: int) -> float:
    """Makespan of longest-processing-time-first list scheduling: each unit, longest first, goes
    to the worker that frees up first (Graham 1969: at most 4/3 - 1/(3 workers) of the optimum)."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + s)
    return max(loads)


def _bound(seconds: list[float], workers: int) -> float:
    return max(max(seconds, default=0.0), sum(seconds) / workers)


def predict_wall_time(unit_seconds: list[float], workers: int, *, first: Any = ()) -> dict[str, Any]:
    """The sweep's wall time on ``workers`` parallel workers, from the units' own durations.

    The ``first`` units (a per-seed generator, say) run before any other starts, scheduled
    longest first among themselves; then ``unit_seconds`` are scheduled longest first (LPT) on
    the workers. Modelling the first phase as a barrier overstates the time when a unit waits
    only on its own seed's first unit.

    Returns ``{"workers", "predicted_s", "lower_bound_s", "total_s", "n_units"}``: the LPT
    makespan of both phases; a bound no schedule of them beats (per phase, the longest unit
    or the total over the workers, whichever is larger); the summed durations; and the number
    of units, both phases.
    """
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers: must be a positive integer; got {workers!r}")
    workers = int(workers)
    rest, pre = _check_seconds(unit_seconds, "unit_seconds"), _check_seconds(first, "first")
    return {"workers": workers, "predicted_s": _lpt(pre, workers) + _lpt(rest, workers),
            "lower_bound_s": _bound(pre, workers) + _bound(rest, workers), "total_s": sum(pre) + sum(rest),
            "n_units": len(pre) + len(rest)}


def _cell(stat: dict, spec: str, scale: float = 1.0) -> str:
    if stat["mean"] is None:
        return "n/a"
    if spec == "mse":
        return _fmt_mse(stat["mean"], stat["sd"])
    m = f"{scale * stat['mean']:{spec}}"
    return m if stat["sd"] is None else f"{m} ± {scale * stat['sd']:{spec}}"


def frontier_markdown(doc: dict) -> str:
    """frontier.md: what the numbers are, the iso-accuracy table, the winners, the figure, the mean points."""
    title = (doc.get("meta") or {}).get("title")
    seeds = doc["seeds"]
    lines = [f"# {title or 'Privacy-utility frontiers'}", "",
             f"Seeds: {', '.join(str(s) for s in seeds)}. Privacy is the worst case over the attack suite "
             "(the highest SSIM and the lowest MSE of any attack's reconstructions); the accuracy drop is in "
             "percentage points against the undefended model of the same seed. Values are the mean ± sample sd "
             "over seeds of what each seed's Pareto frontier reaches at that drop: linear interpolation between "
             "Pareto points, log-linear for MSE. \"Out of range\" means a frontier does not reach that drop on "
             "every seed (the seeds that do are counted in brackets); nothing is extrapolated.", "",
             "## At a fixed accuracy drop", "", iso_table_md(doc), "",
             "## Figure", "", "![privacy-utility frontiers](frontier.png)", "",
             "## Mean points", "",
             "Filled markers in the figure and \"yes\" below: on the frontier of the defence's mean points.", "",
             "| defence | strength | seeds | accuracy % | drop (pts) | worst SSIM | worst MSE | Pareto SSIM / MSE |",
             "|---|---|---|---|---|---|---|---|"]
    for m in doc["mean_points"]:
        strength = ", ".join(f"{k} = {v}" for k, v in (m.get("strength") or {}).items()) or "—"
        par = " / ".join("yes" if m.get("pareto", {}).get(k) else "no" for k in BETTER)
        lines.append(f"| {m['defence']} | {strength} | {m['n_seeds']} | {_cell(m['accuracy'], '.2f', 100)} | "
                     f"{_cell(m['accuracy_drop'], '.2f')} | {_cell(m['ssim'], '.3f')} | {_cell(m['mse'], 'mse')} | "
                     f"{par} |")
    return "\n".join(lines) + "\n"


def write_frontier_report(out: str | Path, doc: dict) -> None:
    """Write frontier.json, frontier.png and frontier.md into ``out`` (each atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache.write_json(out / "frontier.json", doc)
    plot_frontier(doc, out / "frontier.png")
    cache.write_text(out / "frontier.md", frontier_markdown(doc))
