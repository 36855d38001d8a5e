"""The criterion's report (a frozen dataclass) and the ranked comparison of several reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Report", "Comparison", "compare", "PSNR_CAP_DB"]


#: PSNR reported for an exactly zero MSE
PSNR_CAP_DB = 300.0


@dataclass(frozen=True)
class Report:
    """How hard features ``z`` are to invert back to inputs ``x``: see :func:`sift_core.criterion.assess`.

    Two sides: ``probe_*`` is *certified* (an achievable held-out error, so the best attacker's
    minimum MSE is at most it, up to its interval); ``floor_estimate_*``, ``mi_*`` and ``h_u*`` are
    *estimates* about ``u``, the first ``x_components`` principal components of (dequantised) x, and
    the floor estimate is biased up because the information estimates are biased down.
    """

    # sizes and preprocessing
    n: int
    x_dim: int
    z_dim: int
    x_components: int
    z_components: int
    x_variance_explained: float
    dequantize_step: float
    data_range: float
    # certified side: the probe decoder
    probe_mse: float
    probe_mse_ci: tuple[float, float]
    probe_baseline_mse: float
    probe_mse_fraction: float
    probe_psnr: float
    probe_mse_u: float
    probe_mse_u_ci: tuple[float, float]
    probe_kind: str
    probe_ridge: float
    probe_bandwidth: float
    probe_features: int
    probe_train: int
    probe_test: int
    confidence: float
    # estimated side: information about u
    mi_estimate: float
    mi_estimator: str
    mi_nonparametric: float
    mi_nonparametric_estimator: str
    mi_linear: float
    mi_linear_estimator: str
    mi_probe: float
    mi_probe_estimator: str
    h_u: float
    h_u_estimator: str
    h_u_given_z_estimate: float
    floor_estimate_mse: float
    floor_estimate_mse_per_pixel: float
    psnr_ceiling_estimate: float
    information_fraction: float
    # where the minimum MSE lies: [floor estimate, probe MSE]
    mse_interval_u: tuple[float, float]
    mse_interval: tuple[float, float]
    # descriptive, not scored: effective information volume of z, dependence
    nonzero_fraction: float
    nonzero_count: float
    effective_rank: float
    participation_ratio: float
    effective_dof: float
    dcor_u: float
    dcor_v: float
    hsic_normalized: float
    dependence_samples: int
    # score
    score_probe: float
    score_information: float
    weight_probe: float
    weight_information: float
    difficulty_score: float
    # provenance
    k: int
    seed: int
    x_digest: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable values (floats, ints, strings; tuples become lists).

        Keys (MSEs in x's squared units; "per pixel" = per coordinate of the flattened x):

        * ``difficulty_score`` -- in [0, 1], higher = harder to invert; ``weight_probe * score_probe
          + weight_information * score_information``; exactly 1 for constant z.
        * ``probe_mse`` -- held-out MSE per pixel of the probe decoder: achievable, so the best
          attacker's minimum MSE is at most this; ``probe_mse_ci`` [low, high] its ``confidence``
          interval (normal approximation on the held-out per-sample errors); ``probe_psnr`` the PSNR
          it reaches at ``data_range`` (a PSNR the best attacker reaches at least; capped at 300 dB).
        * ``probe_baseline_mse`` -- the training mean's error on the same rows; ``probe_mse_fraction``
          = probe_mse / baseline (1 - R^2); ``score_probe`` = that clipped to [0, 1].
        * ``probe_mse_u``, ``probe_mse_u_ci`` -- the probe's error per component of u.
        * ``probe_kind``, ``probe_ridge`` (relative penalty), ``probe_bandwidth`` (median-heuristic
          multiplier, 0 if not a kernel), ``probe_features``, ``probe_train``, ``probe_test``.
        * ``floor_estimate_mse`` -- ``exp(2 (H(u) - I) / p) / (2 pi e)`` per component of u: an
          *estimate* of the entropy-power floor, biased up (I is estimated low); not a guarantee;
          capped at ``probe_mse_u`` (a note says when the cap binds).
          ``floor_estimate_mse_per_pixel`` = p / d times it; ``psnr_ceiling_estimate`` its PSNR.
        * ``mse_interval_u`` -- [floor estimate, probe MSE] per component of u; ``mse_interval`` the
          same per pixel of x.
        * ``mi_estimate`` -- I(u; z) in nats, the largest of ``mi_nonparametric`` (KSG or MINE on
          (u, w); an estimator biased low in many dimensions), ``mi_linear`` and ``mi_probe``
          (lower bounds given H(u), from ridge and probe residuals) and 0.
          ``information_fraction`` = ``score_information`` = ``exp(-2 mi_estimate / p)``.
        * ``h_u``, ``h_u_given_z_estimate`` -- H(u) (Kozachenko-Leonenko) and H(u) - mi_estimate.
        * descriptive, not scored: ``nonzero_fraction``, ``nonzero_count``, ``effective_rank``,
          ``participation_ratio``, ``effective_dof`` of z; ``dcor_u``, ``dcor_v``, ``hsic_normalized``.
        * sizes and provenance: ``n``, ``x_dim``, ``z_dim``, ``x_components`` (p), ``z_components``,
          ``x_variance_explained``, ``dequantize_step``, ``data_range``, ``k``, ``seed``,
          ``x_digest``, ``notes``.
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def __str__(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        lines = [
            f"MIA difficulty report (n={self.n}; x: {self.x_dim} dims, u = its first {self.x_components} principal "
            f"components ({100 * self.x_variance_explained:.1f}% of variance); z: {self.z_dim} dims, w = its first "
            f"{self.z_components} components)",
            f"  difficulty score      {self.difficulty_score:.4f}   "
            "(0 = trivially invertible, 1 = nothing transmitted)",
            f"    = {self.weight_probe:g} * probe {self.score_probe:.3f} [probe MSE / training-mean MSE] + "
            f"{self.weight_information:g} * information {self.score_information:.3f} [exp(-2 I(u; z) / p)]",
            f"  certified: probe decoder [{self.probe_kind}], trained on {self.probe_train}, scored on "
            f"{self.probe_test} held-out samples",
            f"    MSE per pixel       {self.probe_mse:.4g} ({pct} CI {self.probe_mse_ci[0]:.4g} to "
            f"{self.probe_mse_ci[1]:.4g}; PSNR {self.probe_psnr:.2f} dB at range {self.data_range:g}): "
            "the best attacker's MSE is at most this",
            f"    MSE per component of u  {self.probe_mse_u:.4g} ({pct} CI {self.probe_mse_u_ci[0]:.4g} to "
            f"{self.probe_mse_u_ci[1]:.4g}); training mean {self.probe_baseline_mse:.4g} per pixel",
            "  estimated: information about u (biased low, so the floor estimate is biased high; not a guarantee)",
            f"    I(u; z) estimate    {self.mi_estimate:.4f} nats  [{self.mi_estimator}]",
            f"      non-parametric    {self.mi_nonparametric:.4f}  [{self.mi_nonparametric_estimator}]",
            f"      linear-Gaussian   {self.mi_linear:.4f}  [{self.mi_linear_estimator}]",
            f"      probe residuals   {self.mi_probe:.4f}  [{self.mi_probe_estimator}]",
            f"    H(u)                {self.h_u:.4f} nats  [{self.h_u_estimator}]",
            f"    H(u | z) estimate   {self.h_u_given_z_estimate:.4f} nats  [H(u) - I(u; z) estimate]",
            f"    floor estimate      {self.floor_estimate_mse:.4g} per component of u, "
            f"{self.floor_estimate_mse_per_pixel:.4g} per pixel (PSNR ceiling estimate "
            f"{self.psnr_ceiling_estimate:.2f} dB)",
            f"  minimum MSE per component of u in [floor estimate, probe] = [{self.mse_interval_u[0]:.4g}, "
            f"{self.mse_interval_u[1]:.4g}]",
            f"  not scored: volume    nonzero {100 * self.nonzero_fraction:.1f}% ({self.nonzero_count:.1f} of "
            f"{self.z_dim}), effective rank {self.effective_rank:.1f}, participation ratio "
            f"{self.participation_ratio:.1f}, dof {self.effective_dof:.1f}",
            f"  not scored: dependence  dCor_U {self.dcor_u:.4f}, dCor_V {self.dcor_v:.4f}, "
            f"normalised HSIC_U {self.hsic_normalized:.4f} (on {self.dependence_samples} samples)",
        ]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


#: columns of :func:`compare`'s table: (key, header, format)
_COLUMNS = (
    ("difficulty_score", "score", "{:.4f}"),
    ("probe_mse", "probe MSE/px", "{:.3g}"),
    ("probe_psnr", "probe PSNR", "{:.2f}"),
    ("floor_estimate_mse_per_pixel", "floor est./px", "{:.3g}"),
    ("mi_estimate", "I(u;z) est.", "{:.3f}"),
    ("dcor_u", "dCor_U", "{:.3f}"),
    ("z_dim", "z size", "{:d}"),
)


@dataclass(frozen=True)
class Comparison:
    """Reports ranked by difficulty score, hardest to invert first.

    ``rows`` are plain dicts (``rank``, ``name`` and the table's columns);
    ``comparable`` is False when the reports were computed on different x or
    with different settings (x components, k, seed), in which case their
    information quantities refer to different targets; ``str()`` is the table.
    """

    rows: tuple[dict, ...]
    comparable: bool

    def to_list(self) -> list[dict]:
        return [dict(r) for r in self.rows]

    def __str__(self) -> str:
        headers = ["rank", "name"] + [h for _, h, _ in _COLUMNS]
        body = [[str(r["rank"]), r["name"]] + [fmt.format(r[key]) for key, _, fmt in _COLUMNS] for r in self.rows]
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]
        out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
        out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
        if not self.comparable:
            out.append("warning: the reports were computed on different x or settings; the ranking mixes targets")
        return "\n".join(out)


def compare(reports: dict[str, Report]) -> Comparison:
    """Rank named reports (e.g. defences or split points on the same x) by difficulty score, highest first.

    Ties keep the order of the mapping.  See :class:`Comparison`.
    """
    if not isinstance(reports, dict):
        raise TypeError(f"reports must be a dict mapping names to Report; got {type(reports).__name__}")
    if not reports:
        raise ValueError("reports is empty; pass at least one Report")
    for name, rep in reports.items():
        if not isinstance(rep, Report):
            raise TypeError(f"reports[{name!r}] must be a Report; got {type(rep).__name__}")
    ordered = sorted(reports.items(), key=lambda kv: -kv[1].difficulty_score)
    rows = []
    for rank, (name, rep) in enumerate(ordered, start=1):
        row = {"rank": rank, "name": str(name)}
        row.update({key: getattr(rep, key) for key, _, _ in _COLUMNS})
        rows.append(row)
    keys = {(r.x_digest, r.x_components, r.k, r.seed, r.dequantize_step) for r in reports.values()}
    return Comparison(rows=tuple(rows), comparable=len(keys) == 1)


def finite(value: float, name: str) -> float:
    """A plain float, asserting the criterion's guarantee that report values are finite."""
    value = float(value)
    if not math.isfinite(value):  # pragma: no cover - the criterion's construction rules this out
        raise ArithmeticError(f"{name} is not finite ({value}); this is a defect in the criterion")
    return value
