"""The criterion's report (a frozen dataclass) and the ranked comparison of several reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Report", "Comparison", "compare"]


@dataclass(frozen=True)
class Report:
    """How hard features ``z`` are to invert back to inputs ``x``: see :func:`sift_core.criterion.assess`.

    Information quantities are in nats and refer to ``u``, the first
    ``x_components`` principal components of (dequantised) x; ``mse_floor`` is
    per component of u, ``mse_floor_per_pixel`` per coordinate of the full x.
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
    # information
    mi: float
    mi_estimator: str
    mi_nonparametric: float
    mi_nonparametric_estimator: str
    mi_linear: float
    mi_linear_estimator: str
    h_x: float
    h_x_estimator: str
    h_x_given_z: float
    # entropy-power floor
    mse_floor: float
    mse_floor_per_pixel: float
    psnr_ceiling: float
    floor_fraction: float
    # effective information volume of z
    nonzero_fraction: float
    nonzero_count: float
    effective_rank: float
    participation_ratio: float
    effective_dof: float
    x_effective_dof: float
    volume_ratio: float
    # dependence
    dcor_u: float
    dcor_v: float
    hsic_normalized: float
    dependence_samples: int
    # score
    score_floor: float
    score_dependence: float
    score_volume: float
    weight_floor: float
    weight_dependence: float
    weight_volume: float
    difficulty_score: float
    # provenance
    k: int
    seed: int
    x_digest: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable values (floats, ints, strings, a list of notes)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def __str__(self) -> str:
        lines = [
            f"MIA difficulty report (n={self.n}, x: {self.x_dim} dims -> {self.x_components} PCs "
            f"({100 * self.x_variance_explained:.1f}% of variance), z: {self.z_dim} dims -> {self.z_components} PCs)",
            f"  difficulty score     {self.difficulty_score:.4f}   (0 = trivially invertible, 1 = hardest)",
            f"    = {self.weight_floor:g} * floor {self.score_floor:.3f} + {self.weight_dependence:g} * dependence "
            f"{self.score_dependence:.3f} + {self.weight_volume:g} * volume {self.score_volume:.3f}",
            f"  I(x; z)              {self.mi:.4f} nats  [{self.mi_estimator}]",
            f"    non-parametric     {self.mi_nonparametric:.4f}  [{self.mi_nonparametric_estimator}]",
            f"    linear-Gaussian    {self.mi_linear:.4f}  [{self.mi_linear_estimator}]",
            f"  H(x)                 {self.h_x:.4f} nats  [{self.h_x_estimator}]",
            f"  H(x | z)             {self.h_x_given_z:.4f} nats  [H(x) - I(x; z)]",
            f"  MSE floor            {self.mse_floor:.4g} per component, {self.mse_floor_per_pixel:.4g} per pixel "
            f"(PSNR ceiling {self.psnr_ceiling:.2f} dB at range {self.data_range:g})",
            f"  effective volume     nonzero {100 * self.nonzero_fraction:.1f}% ({self.nonzero_count:.1f} of "
            f"{self.z_dim}), effective rank {self.effective_rank:.1f}, participation ratio "
            f"{self.participation_ratio:.1f}, dof {self.effective_dof:.1f} (x: {self.x_effective_dof:.1f})",
            f"  dependence           dCor_U {self.dcor_u:.4f}, dCor_V {self.dcor_v:.4f}, "
            f"normalised HSIC_U {self.hsic_normalized:.4f} (on {self.dependence_samples} samples)",
        ]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


#: columns of :func:`compare`'s table: (key, header, format)
_COLUMNS = (
    ("difficulty_score", "score", "{:.4f}"),
    ("mi", "I(x;z)", "{:.3f}"),
    ("mse_floor_per_pixel", "MSE floor/px", "{:.3g}"),
    ("psnr_ceiling", "PSNR ceil", "{:.2f}"),
    ("dcor_u", "dCor_U", "{:.3f}"),
    ("hsic_normalized", "nHSIC", "{:.3f}"),
    ("effective_dof", "eff. dof", "{:.1f}"),
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
