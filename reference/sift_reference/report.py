"""The run's report: results.json, report.md, a privacy-utility plot, reconstruction grids.

``results.json``: ``{"schema_version", "versions", "spec", "dataset", "backend", "rows":
[{"defence", "accuracy", "accuracy_drop", "edge_params", "edge_flops", "feature_size",
"privacy": {worst case}, "attacks": {name: {"mse", "psnr", "ssim", "feature_error",
"n_images", "convergence"} or {"failed", "reason"}}, "criterion": {...}}]}``; ``convergence``
is how the attack ended (``sift_reference.backends.Reconstructions``). Accuracies are fractions in
[0, 1]; ``accuracy_drop = accuracy(none) - accuracy(row)`` (positive = the defence costs
accuracy). ``privacy`` is the worst case over the attacks that finished
(:func:`sift_core.inversion.worst_case`: the highest SSIM, the lowest MSE, each with the
attack that reached it): the defence's privacy figure. The rank correlation of the
criterion with the worst-case MSE (and with each attack's) is written to
``rank_correlation.json`` and to ``report.md``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sift_core.stats import rankdata, spearman  # noqa: F401  (report.rankdata / report.spearman)

from . import cache

ATTACK_LABELS = {"inverse_network": "inverse network", "rmle": "rMLE", "hybrid": "hybrid",
                 "generative": "generative prior"}
SHORT = {"inverse_network": "InvNet", "rmle": "rMLE", "hybrid": "Hybrid", "generative": "GenPrior"}
#: version of the results.json layout (2: the attack suite, its worst case and provenance)
SCHEMA_VERSION = 2


def row_attacks(row: dict) -> list[str]:
    """The attacks of a results row, in the suite's order."""
    return [a for a in ATTACK_LABELS if a in row.get("attacks", {})] + \
        [a for a in row.get("attacks", {}) if a not in ATTACK_LABELS]


def rank_correlations(rows: list[dict]) -> dict[str, dict]:
    """Spearman between the criterion's ``difficulty_score`` and the attacks' MSE across rows:
    ``"worst_case"`` (the privacy figure) and each attack's own.

    A criterion that predicts inversion difficulty gives rho > 0 (harder -> larger error).
    """
    score = [_num(r.get("criterion", {}).get("difficulty_score")) for r in rows]
    out = {"worst_case": spearman(score, [_num(r.get("privacy", {}).get("mse")) for r in rows])}
    for attack in dict.fromkeys(a for r in rows for a in row_attacks(r)):
        mse = [_num(r["attacks"].get(attack, {}).get("mse")) for r in rows]
        out[attack] = spearman(score, mse)
    return out


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and v is not None else float("nan")


def _attack_fields(r: dict) -> dict:
    if r.get("failed"):
        return {"failed": True, "reason": str(r.get("reason", ""))}
    return {k: (float(v) if isinstance(v, float) else v) for k, v in r.items()}


def convergence_text(info) -> str:
    """How an attack ended, in words ("12 of at most 200 epochs (best 8, converged)", "steps 140 mean /
    300 max of 600 (converged)"); "" when there is no record."""
    if not isinstance(info, dict):
        return ""
    halted = info.get("halted") or 0
    ended = ("converged" if info.get("converged") else
             f"{halted} image(s) halted on a non-finite step" if halted else "stopped by its budget")
    if "epochs" in info:
        best = f"best {info['best_epoch']}, " if info.get("best_epoch") else ""
        return f"{info['epochs']} of at most {info.get('max_epochs')} epochs ({best}{ended})"
    if "steps_mean" in info:
        return (f"steps {info['steps_mean']:.0f} mean / {info['steps_max']} max of {info.get('max_steps')} "
                f"({ended})")
    if "restarts" in info:
        err = info.get("latent_feature_error")
        return f"{info['restarts']} latent restarts" + (f", latent feature objective {err:.4g}"
                                                         if isinstance(err, (int, float)) else "")
    return ""


def versions(backend: str, device: str | None = None) -> dict:
    """Provenance of a run: package, framework, numpy and Python versions, and the device."""
    import importlib.metadata
    import platform

    def version(pkg: str) -> str | None:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return None

    out = {"siftfunnel": version("siftfunnel"), "numpy": np.__version__, "python": platform.python_version()}
    for pkg in (("torch",) if backend == "torch" else ("keras", "tensorflow", "tensorflow-cpu")):
        if version(pkg):
            out[pkg] = version(pkg)
    out["device"] = device or "cpu"
    out["machine"] = platform.machine()
    return out


def build_results(spec_dict: dict, dataset: str, backend: str, rows: list[dict]) -> dict:
    """Assemble results.json; fills ``accuracy_drop`` against the row ``"none"`` and each row's
    worst case over the attacks."""
    from sift_core.inversion import worst_case

    base = next(r["accuracy"] for r in rows if r["defence"] == "none")
    out_rows = []
    for r in rows:
        attacks = {a: _attack_fields(r["attacks"][a]) for a in row_attacks(r)}
        out_rows.append({
            "defence": str(r["defence"]),
            "accuracy": float(r["accuracy"]),
            "accuracy_drop": float(base - r["accuracy"]),
            "edge_params": int(r["edge_params"]),
            "edge_flops": int(r["edge_flops"]),
            "feature_size": int(r["feature_size"]),
            "privacy": worst_case(attacks),
            "attacks": attacks,
            "criterion": dict(r["criterion"]),
        })
    device = spec_dict.get("training", {}).get("device")
    return {"schema_version": SCHEMA_VERSION, "versions": versions(backend, device), "spec": spec_dict,
            "dataset": dataset, "backend": backend, "rows": out_rows}


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def markdown(results: dict, corr: dict, *, extra: dict | None = None) -> str:
    """report.md: the results table, the rank correlations, the figures."""
    rows = results["rows"]
    lines = [f"# SiftFunnel evaluation: {results['spec']['experiment']['name']}", ""]
    lines += [f"- dataset: {results['dataset']}", f"- backend: {results['backend']}",
              f"- seed: {results['spec']['experiment']['seed']}"]
    for k, v in (extra or {}).items():
        lines.append(f"- {k}: {v}")
    lines += ["", "Accuracy on the target test split; attacks on the private split (MSE/PSNR/SSIM per image, "
              "data range 1, averaged). Lower SSIM / higher MSE = better privacy.", ""]
    attacks = list(dict.fromkeys(a for r in rows for a in row_attacks(r)))
    head = ("| defence | accuracy % | drop (pts) | feature size | worst SSIM (attack) | worst MSE (attack) | "
            + " | ".join(f"{SHORT.get(a, a)} SSIM / MSE" for a in attacks) + " | difficulty |")
    lines += ["The privacy of a defence is the worst case over the attack suite: the highest SSIM and the "
              "lowest MSE any attack reached (named in brackets).", ""]
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        p = r.get("privacy", {})
        cells = []
        for a in attacks:
            m = r["attacks"].get(a, {})
            cells.append("failed" if m.get("failed") else
                         "n/a" if "ssim" not in m else f"{m['ssim']:.3f} / {m['mse']:.4f}")
        worst_ssim = "n/a" if p.get("ssim") is None else f"**{p['ssim']:.3f}** ({SHORT.get(p['ssim_attack'])})"
        worst_mse = "n/a" if p.get("mse") is None else f"**{p['mse']:.4f}** ({SHORT.get(p['mse_attack'])})"
        lines.append(f"| {r['defence']} | {100 * r['accuracy']:.2f} | {100 * r['accuracy_drop']:+.2f} "
                     f"| {r['feature_size']:,} | {worst_ssim} | {worst_mse} | " + " | ".join(cells)
                     + f" | {_fmt(r['criterion'].get('difficulty_score'), '.3f')} |")
    failed = [(r["defence"], a, m.get("reason")) for r in rows for a, m in r["attacks"].items() if m.get("failed")]
    if failed:
        lines += ["", "Failed attacks (not counted in the worst case):"]
        lines += [f"- {d} / {ATTACK_LABELS.get(a, a)}: {why}" for d, a, why in failed]
    ended = [(r["defence"], a, convergence_text(m.get("convergence"))) for r in rows
             for a, m in r["attacks"].items() if not m.get("failed")]
    if any(text for _, _, text in ended):
        lines += ["", "How each attack ended (an attack stopped by its budget may be flattering the defence):"]
        lines += [f"- {d} / {ATTACK_LABELS.get(a, a)}: {text}" for d, a, text in ended if text]
    lines += ["", "Edge parameters and FLOPs: "
              + "; ".join(f"{r['defence']} {r['edge_params']:,} / {r['edge_flops']:,}" for r in rows) + "."]
    lines += ["", "## Does the criterion rank the defences like the attacks do?", "",
              "Spearman rank correlation between the criterion's `difficulty_score` and the worst-case MSE "
              "(and each attack's MSE) across the rows (expected > 0).", ""]
    for attack, c in corr.items():
        rho = _fmt(c.get("rho"), "+.3f")
        p = "" if c.get("p_value") is None else f", p = {c['p_value']:.3g}"
        note = f" ({c['note']})" if c.get("note") else ""
        label = "worst case" if attack == "worst_case" else ATTACK_LABELS.get(attack, attack)
        lines.append(f"- {label}: rho = {rho}{p}, n = {c['n']}{note}")
    lines += ["", "## Figures", "", "![privacy-utility](privacy_utility.png)", "",
              "![reconstructions](reconstructions.png)", ""]
    return "\n".join(lines)


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_privacy_utility(results: dict, path: str | Path) -> None:
    """Accuracy (y) against the worst-case SSIM and MSE over the attack suite (x), one labelled
    point per defence; each attack's own point is drawn small and faint beside it.

    MSE spans orders of magnitude between defences, so its axis is logarithmic when every
    value is positive. Labels are placed so that they do not cover each other.
    """
    plt = _mpl()
    from .labels import annotate_points

    rows = results["rows"]
    attacks = list(dict.fromkeys(a for r in rows for a in row_attacks(r)))
    markers = dict(zip(attacks, "sD^v<>p"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    panels = ((axes[0], "ssim", "lower SSIM = more private"), (axes[1], "mse", "higher MSE = more private"))
    panels_points = []  # per panel, the worst-case points: their labels avoid each other
    for ax, metric, better in panels:
        ys = [100 * r["accuracy"] for r in rows]
        for attack in attacks:
            xs = [_num(r["attacks"].get(attack, {}).get(metric)) for r in rows]
            ax.scatter(xs, ys, marker=markers[attack], s=14, alpha=0.45, label=ATTACK_LABELS.get(attack, attack),
                       zorder=2)
        worst = [_num(r.get("privacy", {}).get(metric)) for r in rows]
        ax.scatter(worst, ys, marker="o", s=46, color="black", label="worst case over the suite", zorder=3)
        px, py, names = [], [], []
        for x, y, r in zip(worst, ys, rows):
            if math.isfinite(x) and math.isfinite(y):
                px.append(x)
                py.append(y)
                names.append(r["defence"])
        every = [v for a in attacks for v in (_num(r["attacks"].get(a, {}).get(metric)) for r in rows)
                 if math.isfinite(v)] + px
        if metric == "mse" and every and min(every) > 0:
            ax.set_xscale("log")
        ax.set_xlabel(f"{metric.upper()} of reconstructions ({better})")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.margins(x=0.15, y=0.12)
        ax.legend(fontsize=7)
        panels_points.append((ax, px, py, names))
    fig.suptitle(f"Privacy vs utility: {results['dataset']}", fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.88, wspace=0.22)
    for ax, px, py, names in panels_points:
        annotate_points(ax, px, py, names)  # after limits and layout are final: it works in pixels
    _save_atomic(fig, path)
    plt.close(fig)


def _save_atomic(fig, path: str | Path, **kw) -> None:
    """Save a figure next to ``path`` and rename it into place: a crash never leaves half a PNG."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, **kw)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def montage(rows: list[np.ndarray], *, pad: int = 2) -> np.ndarray:
    """Tile rows of (k, C, H, W) images into one (H', W', C) float32 image, ``pad`` white pixels between tiles.

    :func:`sift_core.imaging.grid_image` at scale 1 without its outer border, in the input's channels.
    """
    from sift_core.imaging import grid_image

    k, c, h = rows[0].shape[:3]
    # grid_image wants at least one row under the first: a lone row is drawn twice and cropped
    grid = grid_image(rows[0], list(rows[1:]) or [rows[0]], n=k, scale=1, pad=pad)
    height = len(rows) * (h + pad) - pad
    return np.ascontiguousarray(grid[pad : pad + height, pad : grid.shape[1] - pad, :c], dtype=np.float32)


def plot_reconstructions(originals: np.ndarray, recons: dict[str, dict[str, np.ndarray]], path: str | Path) -> None:
    """One panel per attack: originals on the top row, then one row per defence.

    ``recons[attack][defence]`` is (k, C, H, W) aligned with ``originals`` (k, C, H, W).
    The tiles are assembled into one image (one ``imshow`` per panel: fast to draw).
    """
    plt = _mpl()
    attacks = [a for a in recons if recons.get(a)]
    if not attacks:  # every attack failed: nothing to show
        return
    h = originals.shape[2]
    heights = [1 + len(recons[a]) for a in attacks]
    k = len(originals)
    fig, axes = plt.subplots(len(attacks), 1, figsize=(0.9 * k + 1.6, 0.9 * sum(heights) + 0.5 * len(attacks)),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, attack in zip(axes[:, 0], attacks):
        labels = ["original"] + list(recons[attack])
        img = montage([originals] + [recons[attack][d] for d in recons[attack]])
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks([(h + 2) * i + h / 2 for i in range(len(labels))], labels, fontsize=8)
        ax.set_xticks([])
        ax.set_title(f"{ATTACK_LABELS.get(attack, attack)} reconstructions", fontsize=9)
    fig.subplots_adjust(left=0.2, right=0.98, top=0.95, bottom=0.02, hspace=0.25)
    _save_atomic(fig, path, dpi=100)
    plt.close(fig)


def write_report(out: str | Path, results: dict, originals: np.ndarray, recons: dict, *,
                 extra: dict | None = None) -> dict:
    """Write results.json, rank_correlation.json, report.md and both PNGs into ``out``; returns the correlations."""
    out = Path(out)
    corr = rank_correlations(results["rows"])
    cache.write_json(out / "results.json", results)
    cache.write_json(out / "rank_correlation.json", {"difficulty_score_vs_mse": corr})
    plot_privacy_utility(results, out / "privacy_utility.png")
    plot_reconstructions(originals, recons, out / "reconstructions.png")
    cache.write_text(out / "report.md", markdown(results, corr, extra=extra))
    return corr


def summarize(results: list[dict]) -> str:
    """A markdown table of several runs of one spec (e.g. seeds): mean +- sample sd per defence.

    Rows follow the first run's order; a defence missing from some run is averaged over the runs
    that have it (the n column says how many).
    """
    if not results:
        raise ValueError("results: need at least one results.json")
    names = [r["defence"] for r in results[0]["rows"]]
    cols = [("accuracy %", lambda r: 100 * r["accuracy"]), ("drop (pts)", lambda r: 100 * r["accuracy_drop"]),
            ("worst MSE", lambda r: _num(r.get("privacy", {}).get("mse"))),
            ("worst SSIM", lambda r: _num(r.get("privacy", {}).get("ssim")))]
    for a in dict.fromkeys(a for res in results for r in res["rows"] for a in row_attacks(r)):
        cols += [(f"{SHORT.get(a, a)} MSE", lambda r, a=a: _num(r["attacks"].get(a, {}).get("mse"))),
                 (f"{SHORT.get(a, a)} SSIM", lambda r, a=a: _num(r["attacks"].get(a, {}).get("ssim")))]
    cols.append(("difficulty", lambda r: _num(r["criterion"].get("difficulty_score"))))
    lines = ["| defence | n | " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for name in names:
        rows = [row for res in results for row in res["rows"] if row["defence"] == name]
        cells = []
        for label, get in cols:
            v = np.array([get(r) for r in rows], dtype=np.float64)
            v = v[np.isfinite(v)]
            digits = 2 if "%" in label or "pts" in label else (4 if "MSE" in label else 3)
            if len(v) == 0:
                cells.append("n/a")
            elif len(v) == 1:
                cells.append(f"{v[0]:.{digits}f}")
            else:
                cells.append(f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}")
        lines.append(f"| {name} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def console_table(results: dict) -> str:
    """The plain-text table the command prints: accuracy, the worst case over the suite (with the
    attack that reached it) and each attack's SSIM."""
    rows = results["rows"]
    attacks = list(dict.fromkeys(a for r in rows for a in row_attacks(r)))
    head = (f"{'defence':<14} {'acc %':>6} {'drop':>6} {'feature':>8} {'worst SSIM':>16} {'worst MSE':>16} "
            + " ".join(f"{SHORT.get(a, a) + ' SSIM':>13}" for a in attacks) + f" {'difficulty':>10}")
    lines = [head]
    for r in rows:
        p = r.get("privacy", {})
        ssim = "n/a" if p.get("ssim") is None else f"{p['ssim']:.3f} ({SHORT.get(p['ssim_attack'])})"
        mse = "n/a" if p.get("mse") is None else f"{p['mse']:.4f} ({SHORT.get(p['mse_attack'])})"
        cells = []
        for a in attacks:
            m = r["attacks"].get(a, {})
            cells.append(f"{'failed' if m.get('failed') else _fmt(m.get('ssim'), '.3f'):>13}")
        lines.append(f"{r['defence']:<14} {100 * r['accuracy']:>6.2f} {100 * r['accuracy_drop']:>+6.2f} "
                     f"{r['feature_size']:>8} {ssim:>16} {mse:>16} " + " ".join(cells)
                     + f" {_fmt(r['criterion'].get('difficulty_score'), '.3f'):>10}")
    return "\n".join(lines)


def rank_summary(run_dirs: list) -> list[str]:
    """Per attack (worst case first), each run's Spearman rho of the difficulty score with the MSE."""
    corrs = []
    for d in run_dirs:
        path = Path(d) / "rank_correlation.json"
        corrs.append(cache.read_json(path) or {} if path.is_file() else {})
    keys = list(dict.fromkeys(k for c in corrs for k in c.get("difficulty_score_vs_mse", {})))
    lines = []
    for attack in keys:
        rhos = [c.get("difficulty_score_vs_mse", {}).get(attack, {}).get("rho") for c in corrs]
        label = "worst-case" if attack == "worst_case" else attack
        lines.append(f"Spearman(difficulty_score, {label} MSE) per run: "
                     + ", ".join("n/a" if rho is None else f"{rho:+.2f}" for rho in rhos))
    return lines
