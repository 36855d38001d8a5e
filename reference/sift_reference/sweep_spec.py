"""The ``[sweep]`` section of a spec: each defence trained at several strengths, over several seeds.

::

    [sweep]
    seeds = [0, 1, 2]          # default: [experiment.seed]
    drops = [1, 3, 5]          # accuracy drops (percentage points) of the iso-accuracy table

    [sweep.strengths.noise]    # by the [[defences]] name; default: STRENGTHS[kind]
    sigma = [0.25, 0.5, 1.0, 2.0, 4.0]

    [sweep.strengths.siftfunnel]
    beta = [0.5, 1, 2, 4, 8]   # several keys: zipped, one point per position (equal lengths)
    funnel_channels = [16, 16, 12, 8, 4]

Every defence of the spec except ``none`` is swept: the listed parameters replace the values
of its ``[[defences]]`` table, whose other keys are kept. The undefended model is one point
per seed, the reference of every accuracy drop. Each point is an ordinary defence of an
ordinary run (one per seed, :func:`seed_spec`), so ``siftfunnel run`` and the sweep share
one cache layout.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: Default strengths per defence kind, weakest first: one swept parameter (two zipped for
#: SiftFunnel: its dCor weight and the funnel's transmitted channels), spanning from about the
#: undefended accuracy to a large drop on the shipped Fashion-MNIST settings.
STRENGTHS: dict[str, dict[str, list]] = {
    "noise": {"sigma": [0.25, 0.5, 1.0, 2.0, 4.0]},
    "dropout": {"rate": [0.2, 0.4, 0.6, 0.8, 0.9]},
    "nopeek": {"weight": [0.5, 1.0, 2.0, 4.0, 8.0]},
    "mid": {"weight": [0.001, 0.003, 0.01, 0.03, 0.1]},
    "bido": {"weight_x": [0.01, 0.025, 0.05, 0.1, 0.2]},
    "siftfunnel": {"beta": [0.5, 1.0, 2.0, 4.0, 8.0], "funnel_channels": [16, 16, 12, 8, 4]},
}
DEFAULT_DROPS = (1.0, 3.0, 5.0)


@dataclass(frozen=True)
class SweepPoint:
    """One strength of one defence: ``name`` is the defence name of its run (it names files)."""

    defence: str
    kind: str
    name: str
    strength: dict[str, Any]


@dataclass(frozen=True)
class SweepSpec:
    seeds: tuple[int, ...] | None = None
    drops: tuple[float, ...] = DEFAULT_DROPS
    #: per defence name: parameter -> list of values (only those the spec gives; the rest default)
    strengths: dict[str, dict[str, list]] = field(default_factory=dict)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def point_name(defence: str, strength: dict[str, Any]) -> str:
    """``noise-sigma-0.5``, ``siftfunnel-beta-2-funnel_channels-12``: file-safe and unique per strength."""
    return "-".join([defence] + [f"{k}-{_fmt(v)}" for k, v in strength.items()])


def parse_sweep(raw: Any, defences: list, seed: int) -> SweepSpec:
    """Validate ``[sweep]`` against the spec's defences; every error names its key."""
    from .spec import COMMON_DEFENCE_KEYS, DEFENCE_KEYS, MAX_SEED, SpecError, _check, check_plugin_value

    if not isinstance(raw, dict):
        raise SpecError("sweep: must be a table ([sweep])")
    for k in raw:
        if k not in ("seeds", "drops", "strengths"):
            raise SpecError(f"sweep.{k}: unknown key (allowed: seeds, drops, strengths)")
    seeds = raw.get("seeds", [seed])
    if not isinstance(seeds, list) or not seeds:
        raise SpecError(f"sweep.seeds: must be a non-empty list of seeds; got {seeds!r}")
    seeds = [_check(s, "int_nonneg", f"sweep.seeds[{j}]") for j, s in enumerate(seeds)]
    for j, s in enumerate(seeds):
        if s > MAX_SEED:
            raise SpecError(f"sweep.seeds[{j}]: at most {MAX_SEED}; got {s}")
    if len(set(seeds)) != len(seeds):
        raise SpecError(f"sweep.seeds: lists a seed twice: {seeds!r}")
    drops = raw.get("drops", list(DEFAULT_DROPS))
    if not isinstance(drops, list) or not drops:
        raise SpecError(f"sweep.drops: must be a non-empty list of accuracy drops in points; got {drops!r}")
    drops = [_check(d, "pos", f"sweep.drops[{j}]") for j, d in enumerate(drops)]
    table = raw.get("strengths", {})
    if not isinstance(table, dict):
        raise SpecError("sweep.strengths: must be a table ([sweep.strengths.<defence name>])")
    by_name = {d.name: d for d in defences}
    strengths: dict[str, dict[str, list]] = {}
    for name, params in table.items():
        key = f"sweep.strengths.{name}"
        if name not in by_name:
            raise SpecError(f"{key}: no defence named {name!r} (defences: {', '.join(by_name)})")
        kind = by_name[name].kind
        if kind == "none":
            raise SpecError(f"{key}: the undefended model has no strength to sweep")
        if not isinstance(params, dict) or not params:
            raise SpecError(f"{key}: must be a table of parameter = [values]")
        own = DEFENCE_KEYS.get(kind)  # None: a plugin's kind, whose class checks its keys (spec.check_registered)
        lengths = set()
        checked = {}
        for p, values in params.items():
            common = " (lr and epochs are set per defence, not swept)" if p in COMMON_DEFENCE_KEYS else ""
            if (p not in own) if own is not None else (p in COMMON_DEFENCE_KEYS):
                sweepable = f" (sweepable: {', '.join(own)})" if own is not None else ""
                raise SpecError(f"{key}.{p}: not a parameter of kind {kind!r}{sweepable}{common}")
            if not isinstance(values, list) or not values:
                raise SpecError(f"{key}.{p}: must be a non-empty list of values; got {values!r}")
            checked[p] = [_check(v, own[p][0], f"{key}.{p}[{j}]") if own is not None
                          else check_plugin_value(v, f"{key}.{p}[{j}]") for j, v in enumerate(values)]
            lengths.add(len(values))
        if len(lengths) > 1:
            sizes = ", ".join(f"{p}: {len(v)}" for p, v in params.items())
            raise SpecError(f"{key}: lists of different lengths ({sizes}); several parameters are zipped, "
                            "one point per position")
        strengths[name] = checked
    for d in defences:
        if d.kind != "none" and d.kind not in STRENGTHS and d.name not in strengths:
            raise SpecError(f"sweep.strengths.{d.name}: required for kind {d.kind!r}, a registered defence "
                            "(no default strengths)")
    sweep = SweepSpec(seeds=tuple(seeds), drops=tuple(drops), strengths=strengths)
    points(sweep, defences)  # repeated strengths are an error here, before anything trains
    return sweep


def points(sweep: SweepSpec, defences: list) -> list[SweepPoint]:
    """Every point of the sweep in order: the undefended model, then each defence's strengths
    weakest first (as listed)."""
    from .spec import SpecError

    out = []
    for d in defences:
        if d.kind == "none":
            out.append(SweepPoint(defence=d.name, kind=d.kind, name=d.name, strength={}))
            continue
        table = sweep.strengths.get(d.name) or STRENGTHS[d.kind]
        n = len(next(iter(table.values())))
        seen = set()
        for i in range(n):
            strength = {p: values[i] for p, values in table.items()}
            name = point_name(d.name, strength)
            if name in seen:
                raise SpecError(f"sweep.strengths.{d.name}: strength {strength} is listed twice")
            seen.add(name)
            out.append(SweepPoint(defence=d.name, kind=d.kind, name=name, strength=strength))
    return out


def seed_spec(spec, seed: int):
    """The run of one seed: every point as a defence of an ordinary spec (no [sweep] section)."""
    from .spec import SpecError

    by_name = {d.name: d for d in spec.defences}
    defences = []
    for p in points(sweep_of(spec), spec.defences):
        base = by_name[p.defence]
        if len(p.name) > 200:  # (a point's name is a checked defence name joined with keys and numbers)
            raise SpecError(f"sweep.strengths.{p.defence}: the point name {p.name!r} cannot name a folder")
        defences.append(dataclasses.replace(base, name=p.name, params={**base.params, **p.strength}))
    return dataclasses.replace(spec, seed=seed, defences=defences, sweep=None)


def sweep_of(spec) -> SweepSpec:
    """The spec's [sweep], or the default sweep (default strengths, the spec's seed) when it has none."""
    if spec.sweep is not None:
        return spec.sweep
    return SweepSpec(seeds=(spec.seed,))


def with_seeds(spec, seeds: list[int] | None):
    """``spec`` whose sweep runs ``seeds`` (``--seeds``); None keeps the spec's."""
    if seeds is None:
        return spec
    from .spec import SpecError

    if not seeds or len(set(seeds)) != len(seeds):
        raise SpecError(f"--seeds: must list distinct seeds; got {seeds}")
    return dataclasses.replace(spec, sweep=dataclasses.replace(sweep_of(spec), seeds=tuple(seeds)))
