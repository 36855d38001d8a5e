"""The ``[attacks]`` section of a spec: which attacks run, at which budget, with which settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .spec_checks import _NONNEG, _POS, SpecError, _fill

#: the attack suite: a defence's privacy is the worst case over the attacks run (docs/attacks.md)
ATTACKS = ("inverse_network", "rmle", "hybrid", "generative")
#: white-box attacks: optimisation per image, so they take ``n_images`` private images
WHITE_BOX = ("rmle", "hybrid", "generative")
ATTACK_BUDGETS = ("full", "quick")


@dataclass(frozen=True)
class InverseNetworkSpec:
    """Defaults: the settings measured strongest (docs/attacks.md); ``epochs`` is the most it trains."""

    epochs: int = 200
    patience: int = 10
    val_fraction: float = 0.1
    batch_size: int = 64
    lr: float = 0.01
    width: int = 128


@dataclass(frozen=True)
class RMLESpec:
    steps: int = 3000
    lr: float = 0.1
    tv_weight: float = 0.05
    patience: int = 6
    n_images: int | None = None


@dataclass(frozen=True)
class HybridSpec:
    steps: int = 3000
    lr: float = 0.01
    tv_weight: float = 0.0
    patience: int = 6
    n_images: int | None = None


@dataclass(frozen=True)
class GenerativeSpec:
    latent_dim: int = 64
    gan_width: int = 128
    gan_epochs: int = 60
    restarts: int = 8
    steps: int = 1500
    lr: float = 0.05
    prior_weight: float = 0.001
    patience: int = 6
    pixel_steps: int = 1000
    pixel_lr: float = 0.02
    pixel_tv_weight: float = 0.0
    n_images: int | None = None


#: ``[attacks] budget = "quick"``: small budgets for smoke runs, used for every key the spec leaves
#: out. Reports say when it was used: its privacy figures flatter every defence.
QUICK_BUDGET: dict[str, dict[str, Any]] = {
    "inverse_network": {"epochs": 3, "patience": 2, "width": 32},
    "rmle": {"steps": 100, "patience": 2},
    "hybrid": {"steps": 100, "patience": 2},
    "generative": {"gan_epochs": 2, "gan_width": 32, "restarts": 2, "steps": 100, "pixel_steps": 50, "patience": 2},
}


@dataclass(frozen=True)
class AttacksSpec:
    """The attack suite (``[attacks]``): which attacks run, at which budget, with which settings."""

    suite: tuple[str, ...] = ATTACKS
    budget: str = "full"
    inverse_network: InverseNetworkSpec = field(default_factory=InverseNetworkSpec)
    rmle: RMLESpec = field(default_factory=RMLESpec)
    hybrid: HybridSpec = field(default_factory=HybridSpec)
    generative: GenerativeSpec = field(default_factory=GenerativeSpec)

    def n_images(self, attack: str, n_private: int) -> int:
        """How many private images ``attack`` reconstructs: all for the inverse network, else
        its ``n_images`` (default all)."""
        n = getattr(getattr(self, attack), "n_images", None)
        return n_private if n is None else min(n, n_private)

    def settings(self, attack: str) -> dict[str, Any]:
        """The settings of ``attack`` and the budget: its cache key."""
        return {"budget": self.budget, **dataclasses.asdict(getattr(self, attack))}


_ATTACK_CHECKS: dict[str, dict[str, Any]] = {
    "inverse_network": {"epochs": "int_pos", "patience": "int_pos", "val_fraction": _NONNEG, "batch_size": "int_pos",
                        "lr": _POS, "width": "int_pos"},
    "rmle": {"steps": "int_pos", "lr": _POS, "tv_weight": _NONNEG, "patience": "int_pos", "n_images": "int_pos"},
    "hybrid": {"steps": "int_pos", "lr": _POS, "tv_weight": _NONNEG, "patience": "int_pos", "n_images": "int_pos"},
    "generative": {"latent_dim": "int_pos", "gan_width": "int_pos", "gan_epochs": "int_pos", "restarts": "int_pos",
                   "steps": "int_pos", "lr": _POS, "prior_weight": _NONNEG, "patience": "int_pos",
                   "pixel_steps": "int_nonneg", "pixel_lr": _POS, "pixel_tv_weight": _NONNEG, "n_images": "int_pos"},
}
_ATTACK_CLASSES = {"inverse_network": InverseNetworkSpec, "rmle": RMLESpec, "hybrid": HybridSpec,
                   "generative": GenerativeSpec}


def parse_attacks(raw: dict, ds) -> AttacksSpec:
    """``[attacks]``: ``suite`` (a list of attack names), ``budget``, and one table per attack."""
    for k in raw:
        if k not in ("suite", "budget", *ATTACKS):
            raise SpecError(f"attacks.{k}: unknown key (allowed: suite, budget, {', '.join(ATTACKS)})")
    suite = raw.get("suite", list(ATTACKS))
    if not isinstance(suite, list) or not suite:
        raise SpecError(f"attacks.suite: must be a non-empty list of attack names ({', '.join(ATTACKS)}); "
                        f"got {suite!r}")
    for j, a in enumerate(suite):
        if a not in ATTACKS:
            raise SpecError(f"attacks.suite[{j}]: must be one of {', '.join(map(repr, ATTACKS))}; got {a!r}")
    if len(set(suite)) != len(suite):
        raise SpecError(f"attacks.suite: lists an attack twice: {suite!r}")
    budget = raw.get("budget", "full")
    if budget not in ATTACK_BUDGETS:
        raise SpecError(f"attacks.budget: must be one of {', '.join(map(repr, ATTACK_BUDGETS))}; got {budget!r}")
    tables = {}
    for name in ATTACKS:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise SpecError(f"attacks.{name}: must be a table ([attacks.{name}])")
        if budget == "quick":
            table = {**QUICK_BUDGET[name], **table}
        tables[name] = _fill(_ATTACK_CLASSES[name], table, f"attacks.{name}", _ATTACK_CHECKS[name])
        n_images = getattr(tables[name], "n_images", None)
        if n_images is not None and n_images > ds.n_private_eval:
            raise SpecError(f"attacks.{name}.n_images: {n_images} exceeds dataset.n_private_eval = "
                            f"{ds.n_private_eval}")
    if tables["inverse_network"].val_fraction >= 0.5:
        raise SpecError(f"attacks.inverse_network.val_fraction: must be in [0, 0.5); got "
                        f"{tables['inverse_network'].val_fraction}")
    if "generative" in suite and ds.n_attacker_aux < 8:
        raise SpecError(f"dataset.n_attacker_aux: the generative attack trains its generator on at least 8 "
                        f"auxiliary images; got {ds.n_attacker_aux} (raise it or drop 'generative' from attacks.suite)")
    if ds.n_attacker_aux < 2:
        raise SpecError(f"dataset.n_attacker_aux: the inverse network trains on at least 2 auxiliary images; "
                        f"got {ds.n_attacker_aux}")
    if "generative" in suite and tables["generative"].restarts > 64:
        raise SpecError(f"attacks.generative.restarts: at most 64; got {tables['generative'].restarts}")
    return AttacksSpec(suite=tuple(suite), budget=budget, **tables)
