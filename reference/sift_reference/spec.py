"""Experiment specifications: TOML -> validated dataclasses.

Every check runs before any data is loaded or any model trained, and every error
names the offending key as it is written in the file, e.g.
``defences[2].sigma: must be > 0``. See ``reference/README.md`` for the keys.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from sift_core.objective import SIFTFUNNEL_DEFAULTS

from . import plugins as _plugins
from .attack_spec import (  # noqa: F401 (re-exported: the spec's public names)
    ATTACK_BUDGETS,
    ATTACKS,
    QUICK_BUDGET,
    WHITE_BOX,
    AttacksSpec,
    GenerativeSpec,
    HybridSpec,
    InverseNetworkSpec,
    RMLESpec,
    parse_attacks,
)
from .datasets import DATASET_NAMES, FILE_FORMATS
from .spec_checks import (  # noqa: F401 (re-exported)
    _NONNEG,
    _POS,
    _UNIT,
    _UNIT_OPEN,
    SpecError,
    _check,
    _fill,
    _table,
    check_plugin_value,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


BACKENDS = ("torch", "keras")
ARCHITECTURES = ("cnn", "vgg16", "resnet18")
#: the run's folder for what the attacker trains once per run (under cache/); no defence may take its name
ATTACKER_DIR = "_attacker"
#: seeds are 32-bit (numpy, torch and TF generators all take them)
MAX_SEED = 2**32 - 1

#: the funnel's output activations (sift_torch and sift_keras accept the same names)
FUNNEL_ACTIVATIONS = ("leaky_relu", "relu", "identity", "tanh", "silu")
# Per defence kind: its own keys -> (check, default). Every kind also accepts the
# common keys below. Defaults follow docs/method.md ("Objective", "Baselines").
DEFENCE_KEYS: dict[str, dict[str, tuple[str, Any]]] = {
    "none": {},
    "siftfunnel": {
        "alpha": (_NONNEG, SIFTFUNNEL_DEFAULTS["alpha"]),
        "beta": (_NONNEG, SIFTFUNNEL_DEFAULTS["beta"]),
        "gamma": (_NONNEG, SIFTFUNNEL_DEFAULTS["gamma"]),
        "lambda_1": (_NONNEG, SIFTFUNNEL_DEFAULTS["lambda_1"]),
        "epsilon": (_UNIT_OPEN, SIFTFUNNEL_DEFAULTS["epsilon"]),
        "funnel_channels": ("int_pos", 12),
        # the funnel's output stage: standardised, then LeakyReLU (this library's default); the
        # authors' funnel is funnel_norm = false, funnel_activation = "relu" (docs/method.md)
        "funnel_activation": (FUNNEL_ACTIVATIONS, "leaky_relu"),
        "funnel_norm": ("bool", True),
        # distillation from the undefended model of the same spec and seed (trained once, reused)
        "distill": (_NONNEG, 0.0),
        "temperature": (_POS, 4.0),
    },
    "noise": {"sigma": (_POS, 0.8)},
    "dropout": {"rate": (_UNIT_OPEN, 0.8)},
    "nopeek": {"weight": (_POS, 0.5)},
    "mid": {"weight": (_POS, 0.01)},
    "bido": {"weight_x": (_NONNEG, 0.05), "weight_y": (_NONNEG, 0.5)},
}
COMMON_DEFENCE_KEYS = {"name": ("str", None), "kind": ("str", None), "lr": (_POS, None), "epochs": ("int_pos", None)}


@dataclass(frozen=True)
class DatasetSpec:
    name: str = "auto"
    path: str | None = None
    image_size: int | None = None
    resize: str = "bilinear"
    n_target_train: int | None = None
    n_target_test: int = 1000
    n_attacker_aux: int = 1000
    n_private_eval: int = 100
    split_seed: int = 0
    private_classes: list[int] | None = None


@dataclass(frozen=True)
class ModelSpec:
    architecture: str = "cnn"
    width: int = 64


LR_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainingSpec:
    epochs: int = 2
    batch_size: int = 128
    lr: float = 0.002
    lr_schedule: str = "cosine"
    device: str = "cpu"


@dataclass(frozen=True)
class DefenceSpec:
    name: str
    kind: str
    params: dict[str, Any]
    lr: float | None = None
    epochs: int | None = None


@dataclass(frozen=True)
class CriterionSpec:
    max_samples: int = 500


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    seed: int
    backend: str
    dataset: DatasetSpec
    model: ModelSpec
    training: TrainingSpec
    defences: list[DefenceSpec]
    attacks: AttacksSpec = field(default_factory=AttacksSpec)
    criterion: CriterionSpec = field(default_factory=CriterionSpec)
    #: ``[sweep]`` (:mod:`sift_reference.sweep_spec`); None when the spec has none (``siftfunnel run`` ignores it)
    sweep: Any = None
    #: ``experiment.plugins``: modules / absolute .py paths that register defences (:mod:`sift_reference.plugins`)
    plugins: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the TOML's own layout (round-trips through :func:`spec_from_dict`)."""
        d = dataclasses.asdict(self)
        d["defences"] = [
            {"name": x.name, "kind": x.kind, **x.params, **({"lr": x.lr} if x.lr is not None else {}),
             **({"epochs": x.epochs} if x.epochs is not None else {})}
            for x in self.defences
        ]
        d["attacks"]["suite"] = list(self.attacks.suite)
        if self.sweep is not None:
            d["sweep"] = {"seeds": list(self.sweep.seeds), "drops": list(self.sweep.drops),
                          "strengths": {k: dict(v) for k, v in self.sweep.strengths.items()}}
        d["experiment"] = {"name": d.pop("name"), "seed": d.pop("seed"), "backend": d.pop("backend")}
        plugins = d.pop("plugins")
        if plugins:
            d["experiment"]["plugins"] = list(plugins)
        return _drop_none(d)


def _drop_none(d):
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    return d


# ---------------------------------------------------------------- checks


def _defence(raw: Any, i: int, plugins: tuple[str, ...] = ()) -> DefenceSpec:
    key = f"defences[{i}]"
    if not isinstance(raw, dict):
        raise SpecError(f"{key}: must be a table ([[defences]])")
    kind = raw.get("kind")
    if kind is None:
        raise SpecError(f"{key}.kind: missing (one of {', '.join(DEFENCE_KEYS)})")
    if kind not in DEFENCE_KEYS and not plugins:
        raise SpecError(f"{key}.kind: must be one of {', '.join(map(repr, DEFENCE_KEYS))}; got {kind!r} "
                        "(a defence of your own: name the module that registers it in experiment.plugins)")
    if kind in DEFENCE_KEYS:
        own = DEFENCE_KEYS[kind]
        allowed = {**COMMON_DEFENCE_KEYS, **own}
        for k in raw:
            if k not in allowed:
                raise SpecError(f"{key}.{k}: unknown key for kind {kind!r} (allowed: {', '.join(allowed)})")
        params = {k: _check(raw.get(k, default), check, f"{key}.{k}") for k, (check, default) in own.items()}
    else:  # registered by a plugin: its class checks its keys (check_registered)
        kind = _check(kind, "str", f"{key}.kind")
        if kind != kind.lower():
            raise SpecError(f"{key}.kind: registered kinds are looked up in lower case; got {kind!r}")
        params = {k: check_plugin_value(v, f"{key}.{k}") for k, v in raw.items() if k not in COMMON_DEFENCE_KEYS}
    name = _check(raw.get("name", kind), "str", f"{key}.name")
    if kind == "none" and name != "none":
        raise SpecError(f"{key}.name: the undefended model's row is always named 'none'; got {name!r}")
    if kind != "none" and name == "none":
        raise SpecError(f"{key}.name: 'none' is reserved for kind = 'none'")
    if not all(c.isalnum() or c in "-_." for c in name):
        raise SpecError(f"{key}.name: use letters, digits, '-', '_' or '.' only (it names files); got {name!r}")
    if name.startswith(".") or not any(c.isalnum() for c in name) or name == ATTACKER_DIR:
        raise SpecError(f"{key}.name: must contain a letter or digit, must not start with '.' and must not be "
                        f"{ATTACKER_DIR!r} (it names a folder of the run); got {name!r}")
    lr = _check(raw["lr"], _POS, f"{key}.lr") if "lr" in raw else None
    epochs = _check(raw["epochs"], "int_pos", f"{key}.epochs") if "epochs" in raw else None
    return DefenceSpec(name=name, kind=kind, params=params, lr=lr, epochs=epochs)


def spec_from_dict(raw: dict, *, base_dir: str | os.PathLike | None = None) -> ExperimentSpec:
    """Validate a parsed TOML document and build the :class:`ExperimentSpec`; ``base_dir`` is where
    relative ``experiment.plugins`` files are found (default: the working directory)."""
    if not isinstance(raw, dict):
        raise SpecError("spec: must be a TOML document")
    top = ("experiment", "dataset", "model", "training", "defences", "attacks", "criterion", "sweep")
    for k in raw:
        if k not in top:
            raise SpecError(f"{k}: unknown section (allowed: {', '.join(top)})")
    exp = _table(raw, "experiment")
    for k in exp:
        if k not in ("name", "seed", "backend", "plugins"):
            raise SpecError(f"experiment.{k}: unknown key (allowed: name, seed, backend, plugins)")
    name = _check(exp.get("name", "experiment"), "str", "experiment.name")
    seed = _check(exp.get("seed", 0), "int_nonneg", "experiment.seed")
    backend = exp.get("backend", "torch")
    if backend not in BACKENDS:
        raise SpecError(f"experiment.backend: must be one of {', '.join(map(repr, BACKENDS))}; got {backend!r}")
    plugins = _plugins.resolve(exp.get("plugins"), base_dir)
    _plugins.load_all(plugins)

    ds_raw = _table(raw, "dataset")
    ds = _fill(DatasetSpec, ds_raw, "dataset", {
        "name": DATASET_NAMES, "path": "str", "image_size": "int_pos", "resize": ("bilinear", "pad"),
        "n_target_train": "int_pos", "n_target_test": "int_pos", "n_attacker_aux": "int_pos",
        "n_private_eval": "int_pos", "split_seed": "int_nonneg",
    })
    if ds.name in FILE_FORMATS and not ds.path:
        raise SpecError(f"dataset.path: required for dataset.name = {ds.name!r}")
    if ds.path and ds.name in FILE_FORMATS and not os.path.exists(os.path.expanduser(ds.path)):
        raise SpecError(f"dataset.path: {ds.path} does not exist")
    if ds.name == "digits" and ds.image_size is None:
        raise SpecError("dataset.image_size: scikit-learn's digits are 8x8 and the models take 28, 32 or 64 pixels; "
                        "set image_size = 28 (or 32, 64)")
    if ds.image_size is not None and ds.image_size not in (28, 32, 64):
        raise SpecError(f"dataset.image_size: the models take 28, 32 or 64 pixels; got {ds.image_size}")
    if ds.private_classes is not None:
        pc = ds.private_classes
        if not isinstance(pc, list) or not pc:
            raise SpecError("dataset.private_classes: must be a non-empty list of class labels")
        for j, c in enumerate(pc):
            _check(c, "int_nonneg", f"dataset.private_classes[{j}]")

    model = _fill(ModelSpec, _table(raw, "model"), "model", {"architecture": ARCHITECTURES, "width": "int_pos"})
    training = _fill(TrainingSpec, _table(raw, "training"), "training", {
        "epochs": "int_pos", "batch_size": "int_pos", "lr": _POS, "lr_schedule": LR_SCHEDULES, "device": "str",
    })

    if ds.n_target_train is not None and training.batch_size > ds.n_target_train:
        raise SpecError(f"training.batch_size: {training.batch_size} exceeds dataset.n_target_train = "
                        f"{ds.n_target_train}")

    defs_raw = raw.get("defences")
    if not isinstance(defs_raw, list) or not defs_raw:
        raise SpecError("defences: at least one [[defences]] table is required, including kind = 'none'")
    defences = [_defence(d, i, plugins) for i, d in enumerate(defs_raw)]
    seen: dict[str, int] = {}
    for i, d in enumerate(defences):
        if d.name in seen:
            raise SpecError(f"defences[{i}].name: {d.name!r} already used by defences[{seen[d.name]}]")
        seen[d.name] = i
    if "none" not in seen:
        raise SpecError("defences: must include the undefended model ([[defences]] kind = 'none'), "
                        "the reference for accuracy_drop")

    attacks = parse_attacks(_table(raw, "attacks"), ds)
    crit = _fill(CriterionSpec, _table(raw, "criterion"), "criterion", {"max_samples": "int_pos"})
    if crit.max_samples < 20:
        raise SpecError(f"criterion.max_samples: must be >= 20 for the kNN estimators; got {crit.max_samples}")
    if ds.n_private_eval + ds.n_target_test < 20:
        raise SpecError("dataset.n_private_eval: the criterion needs at least 20 images from n_private_eval + "
                        f"n_target_test; got {ds.n_private_eval + ds.n_target_test}")
    sweep = None
    if "sweep" in raw:
        from .sweep_spec import parse_sweep

        sweep = parse_sweep(raw["sweep"], defences, seed)
    spec = ExperimentSpec(name=name, seed=seed, backend=backend, dataset=ds, model=model, training=training,
                          defences=defences, attacks=attacks, criterion=crit, sweep=sweep, plugins=plugins)
    check_registered(spec)
    return spec


def registered_defences(spec: ExperimentSpec) -> list[tuple[int, DefenceSpec]]:
    """(index, defence) of each defence whose kind a plugin registered (not a built-in kind)."""
    return [(i, d) for i, d in enumerate(spec.defences) if d.kind not in DEFENCE_KEYS]


def check_registered(spec: ExperimentSpec) -> None:
    """Each plugin kind is registered for the spec's backend and its class takes its settings,
    at every sweep strength too; errors name the key."""
    for i, d in registered_defences(spec):
        _plugins.check_kind(d.kind, d.params, backend=spec.backend, plugins=spec.plugins, key=f"defences[{i}]",
                            seed=spec.seed)
        if spec.sweep is not None and d.name in spec.sweep.strengths:
            table = spec.sweep.strengths[d.name]
            for j in range(len(next(iter(table.values())))):
                point = {p: values[j] for p, values in table.items()}
                _plugins.check_kind(d.kind, {**d.params, **point}, backend=spec.backend, plugins=spec.plugins,
                                    key=f"sweep.strengths.{d.name}", seed=spec.seed)


def load_spec(path: str | os.PathLike, *, backend: str | None = None, seed: int | None = None,
              attack_budget: str | None = None) -> ExperimentSpec:
    """Read and validate a TOML spec; ``backend``/``seed`` override ``[experiment]`` and
    ``attack_budget`` overrides ``[attacks] budget`` (the CLI flags)."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise SpecError(f"spec: file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"spec: {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"spec: {path} is not UTF-8 text (a TOML file is)") from None
    if attack_budget is not None:
        if attack_budget not in ATTACK_BUDGETS:
            raise SpecError(f"--attack-budget: must be one of {', '.join(ATTACK_BUDGETS)}; got {attack_budget!r}")
        attacks = raw.setdefault("attacks", {})
        if isinstance(attacks, dict):
            attacks["budget"] = attack_budget
    return override(spec_from_dict(raw, base_dir=os.path.dirname(os.path.abspath(path))), backend=backend,
                    seed=seed)


def override(spec: ExperimentSpec, *, backend: str | None = None, seed: int | None = None) -> ExperimentSpec:
    if backend is not None:
        if backend not in BACKENDS:
            raise SpecError(f"--backend: must be one of {', '.join(BACKENDS)}; got {backend!r}")
        changed = backend != spec.backend
        spec = dataclasses.replace(spec, backend=backend)
        if changed:
            check_registered(spec)
    if seed is not None:
        spec = dataclasses.replace(spec, seed=_check(seed, "int_nonneg", "--seed"))
    return spec


def _specs_dir():
    from importlib import resources

    return resources.files("sift_reference") / "specs"


def builtin_spec_names() -> list[str]:
    """Names of the specs shipped in ``sift_reference/specs``, sorted."""
    return sorted(p.name[: -len(".toml")] for p in _specs_dir().iterdir() if p.name.endswith(".toml"))


def builtin_spec_path(name: str) -> str:
    """Path of a spec shipped in ``sift_reference/specs`` (see :func:`builtin_spec_names`)."""
    ref = _specs_dir() / f"{name}.toml"
    if not ref.is_file():
        raise SpecError(f"spec: no built-in spec named {name!r} (built-in: {', '.join(builtin_spec_names())})")
    return str(ref)
