"""Run an experiment spec: train every defence, measure it, attack it, assess its features.

Per defence, in order (each step a cached unit, see :mod:`sift_reference.cache`):

1. ``model.json``: train edge + cloud on ``target_train`` (the backend checkpoints
   during training), then accuracy on ``target_test`` and the edge's parameters,
   FLOPs and transmitted feature size;
2. ``criterion.json``: ``sift_core.criterion.assess(x, z)`` on private inputs and
   their features (``private_eval`` then ``target_test`` images, up to
   ``criterion.max_samples``);
3. one unit per attack of ``attacks.suite``, each run to convergence:
   ``inverse_network.json`` (a decoder trained on ``attacker_aux`` with early stopping,
   inverting the features of every ``private_eval`` image), ``rmle.json`` (white-box
   optimisation from noise), ``hybrid.json`` (rMLE from the inverse network's
   reconstructions), ``generative.json`` (latent search of a DCGAN trained once per run on
   ``attacker_aux``, then pixels); the white-box attacks take the first ``n_images``
   private images.

Every attack is scored by one rule, :func:`sift_core.inversion.reconstruction_scores`
(per image, data range 1, clipped, PSNR capped at 100 dB, then averaged), with the relative
feature error of its reconstructions beside it. A defence's privacy is the worst case over
the attacks that finished (:func:`sift_core.inversion.worst_case`); an attack that fails
(diverges) is recorded as failed with its reason and the run goes on. A model is trained
or loaded only when one of its units is missing, so ``--resume`` never retrains a finished
model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import cache, plugins, report
from .backends import Backend, core_digest, get_backend, unwrap_reconstructions
from .datasets import DataSplits, load_dataset
from .spec import ATTACKER_DIR, DEFENCE_KEYS, DefenceSpec, ExperimentSpec

_LOG = logging.getLogger("sift_reference")
MARKER = ".siftfunnel-run"
GRID_IMAGES = 8


def _progress(iterable, enabled: bool, **kw):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


def _say(msg: str, progress: bool, log) -> None:
    """One progress line through ``log`` (default: the package logger at INFO; the command shows it
    through tqdm, so progress bars stay intact); None silences it."""
    if log is not None:
        log(msg)


def reconstruction_scores(originals: np.ndarray, recon: np.ndarray) -> dict[str, float]:
    """Mean per-image MSE, PSNR (dB, capped at 100) and SSIM: :func:`sift_core.inversion.reconstruction_scores`."""
    from sift_core.inversion import reconstruction_scores as scores

    return scores(originals, recon)


def assess_features(x: np.ndarray, z: np.ndarray, **options) -> dict[str, Any]:
    """``sift_core.criterion.assess(x, z).to_dict()`` on flattened numpy arrays."""
    from sift_core import criterion

    return criterion.assess(np.asarray(x, dtype=np.float64), np.asarray(z, dtype=np.float64), **options).to_dict()


@dataclasses.dataclass
class _Model:
    """Trains or loads one defence's model on first use only."""

    backend: Backend
    spec: ExperimentSpec
    defence: Any
    data: DataSplits
    workdir: Path
    progress: bool
    events: Path
    teacher: _Model | None = None
    _handle: Any = None

    def get(self) -> Any:
        if self._handle is None:
            loaded = self.backend.load(spec=self.spec, defence=self.defence, data=self.data, workdir=self.workdir)
            if loaded is None:
                extra = {"teacher": self.teacher.get()} if self.teacher is not None else {}
                _event(self.events, "train", self.defence.name)
                loaded = self.backend.train(spec=self.spec, defence=self.defence, data=self.data,
                                            workdir=self.workdir, progress=self.progress, **extra)
            else:
                _event(self.events, "load", self.defence.name)
            self._handle = loaded
        return self._handle


def _event(path: Path, event: str, defence: str, **kw) -> None:
    """Append one event line, flushed to disk: a crash can cut at most this line short."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"time": time.time(), "event": event, "defence": defence, **kw}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_events(out: str | Path) -> list[dict]:
    """The run's event log (train / load / unit done), oldest first; a line cut short by a crash is skipped."""
    path = Path(out) / "events.jsonl"
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def prepare_out(out: str | Path, *, resume: bool, overwrite: bool = False) -> Path:
    """Create ``out``. An earlier run's cache there is continued with ``resume``, discarded with
    ``overwrite`` (only ours), and otherwise refused: trained models are never deleted unasked."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    marker, cache_dir = out / MARKER, out / "cache"
    if cache_dir.exists() and not marker.exists():
        raise ValueError(f"--out: {out} has a cache/ folder that this command did not write; choose another --out")
    if not resume and cache_dir.exists() and any(cache_dir.iterdir()):
        if not overwrite:
            raise ValueError(f"--out: {out} holds an earlier run's trained models and attacks; pass --resume to "
                             "continue it, --overwrite to discard it, or choose another --out")
        shutil.rmtree(cache_dir)
    if not resume:
        (out / "events.jsonl").unlink(missing_ok=True)
    elif cache_dir.is_dir():
        _remove_stale_temporaries(cache_dir)
    marker.write_text("siftfunnel run directory\n")
    return out


#: what the atomic writers leave when a process is killed between writing and renaming
_TEMPORARY_SUFFIXES = (".tmp", ".tmp.keras")


def _remove_stale_temporaries(cache_dir: Path) -> None:
    """Delete the temporary files of writes that a killed process never renamed (checkpoints,
    unit files): nothing reads them, and each can be as large as a checkpoint. Only at the start
    of a resumed run, when no writer of this run directory is alive."""
    for path in cache_dir.rglob(".*"):
        if path.is_file() and path.name.endswith(_TEMPORARY_SUFFIXES):
            path.unlink(missing_ok=True)


def run_experiment(
    spec: ExperimentSpec,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    backend: Backend | None = None,
    progress: bool = True,
    log=_LOG.info,
) -> tuple[dict, dict]:
    """Run ``spec`` into ``out`` and write the report; returns (results.json's dict, rank correlations).

    ``resume=True`` reuses every finished unit whose settings are unchanged; without it an
    earlier run's cache in ``out`` is an error unless ``overwrite=True`` discards it.
    ``backend`` overrides the one named by the spec (tests inject their own).
    """
    t_start = time.perf_counter()
    backend = backend or get_backend(spec.backend)
    if hasattr(backend, "check"):
        backend.check(spec)
    out = prepare_out(out, resume=resume, overwrite=overwrite)
    spec_dict = spec.to_dict()
    cache.write_json(out / "spec.json", spec_dict)

    data, data_key = load_spec_data(spec)
    _say(f"dataset: {data.description}; splits: " + ", ".join(
        f"{k} {len(getattr(data, k))}" for k in ("target_train", "target_test", "attacker_aux", "private_eval")),
        progress, log)
    rows, timings = [], {}
    suite = spec.attacks.suite
    n_grid = min([GRID_IMAGES] + [spec.attacks.n_images(a, len(data.private_eval)) for a in suite])
    originals = data.private_eval.x[:n_grid]
    recons: dict[str, dict[str, np.ndarray]] = {a: {} for a in suite}
    for defence in _progress(spec.defences, progress, desc="defences", unit="defence"):
        row, timings[defence.name] = run_defence(spec, defence, data, out, backend=backend, resume=resume,
                                                 progress=progress, log=log, spec_dict=spec_dict, data_key=data_key)
        ddir = out / "cache" / defence.name
        for attack in suite:
            grid = _load_recon(ddir / f"{attack}_recon.npy")
            if grid is not None and len(grid) >= n_grid:
                recons[attack][defence.name] = grid[:n_grid]
        rows.append(row)

    results_doc = report.build_results(spec_dict, data.description, backend.name, rows)
    wall = time.perf_counter() - t_start
    extra = {"attack suite": ", ".join(f"{a} ({spec.attacks.n_images(a, len(data.private_eval))} images)"
                                       for a in suite),
             "attack budget": "full (each attack to convergence)" if spec.attacks.budget == "full" else
             "QUICK (a smoke run: small attack budgets flatter every defence; do not quote these privacy figures)",
             "wall time of this invocation": f"{wall:.0f} s"}
    corr = report.write_report(out, results_doc, originals, recons, extra=extra)
    cache.write_text(out / "timings.md", _timings_md(timings))
    _say(f"report written to {out / 'report.md'}", progress, log)
    return results_doc, corr


def load_spec_data(spec: ExperimentSpec) -> tuple[DataSplits, str]:
    """The spec's data splits and their cache key; refuses image sizes the models cannot take."""
    ds = spec.dataset
    data = load_dataset(ds.name, path=ds.path, image_size=ds.image_size, resize=ds.resize,
                        n_target_train=ds.n_target_train, n_target_test=ds.n_target_test,
                        n_attacker_aux=ds.n_attacker_aux, n_private_eval=ds.n_private_eval,
                        split_seed=ds.split_seed, private_classes=ds.private_classes)
    _, h, w = data.image_shape
    if h != w or h not in (28, 32, 64):
        raise ValueError(f"dataset.image_size: the models take square images of 28, 32 or 64 pixels; {data.name} "
                         f"has {h}x{w}: set dataset.image_size (before any model trains)")
    return data, cache.settings_hash(spec.to_dict()["dataset"], data.name)


def run_defence(spec: ExperimentSpec, defence, data: DataSplits, out: Path, *, backend: Backend, resume: bool,
                progress: bool, log, spec_dict: dict, data_key: str) -> tuple[dict, dict]:
    """Train (or load), measure, assess and attack one defence; every step a cached unit in
    ``out/cache/<defence>``. Returns (its results row, its unit timings)."""
    events = out / "events.jsonl"
    d_dict = next(d for d in spec_dict["defences"] if d["name"] == defence.name)
    train_key = _train_key(backend, data_key, spec_dict, d_dict, spec.seed)
    ddir = out / "cache" / defence.name
    teacher = teacher_model(spec, data, out, backend=backend, progress=progress, spec_dict=spec_dict,
                            data_key=data_key) if distils(defence) else None
    model = _Model(backend, spec, defence, data, ddir / f"train-{train_key}", progress, events, teacher)
    attacker_dir = out / "cache" / ATTACKER_DIR
    units: dict[str, tuple[str, Any]] = {
        "model": (train_key, lambda m=model: _evaluate_model(backend, m.get(), data)),
        # the criterion's own code is part of its key: a fixed or changed assessment is recomputed on --resume
        "criterion": (cache.settings_hash(train_key, dataclasses.asdict(spec.criterion), core_digest()),
                      lambda m=model: _criterion(backend, m.get(), data, spec.criterion.max_samples, spec.seed)),
    }
    keys = {}
    for attack in spec.attacks.suite:
        # the hybrid starts from the inverse network's reconstructions: its key includes that unit's settings
        parts = [train_key, spec.attacks.settings(attack)]
        if attack == "hybrid":
            parts.append(spec.attacks.settings("inverse_network"))
        keys[attack] = cache.settings_hash(*parts)
        units[attack] = (keys[attack], lambda m=model, a=attack: _attack(backend, m.get(), a, data, spec, ddir,
                                                                          attacker_dir, keys, progress))
    results, timings = {}, {}
    for unit, (key, compute) in units.items():
        path = ddir / f"{unit}.json"
        cached = cache.load_unit(path, key) if resume else None
        if cached is not None and unit in spec.attacks.suite and not cached.get("failed") and \
                _load_recon(ddir / f"{unit}_recon.npy") is None:
            cached = None  # its reconstructions are missing or damaged: attack again
        if cached is None:
            t0, c0 = time.perf_counter(), time.process_time()
            if unit in spec.attacks.suite:
                cached = _guarded(compute, unit)
            else:
                cached = compute()
            seconds = time.perf_counter() - t0
            cache.save_unit(path, key, cached, seconds=seconds, cpu_seconds=time.process_time() - c0)
            _event(events, "done", defence.name, unit=unit, seconds=seconds)
            _say(f"[{defence.name}] {unit}: {_summary(unit, cached)} ({seconds:.1f} s)", progress, log)
        else:
            _event(events, "cached", defence.name, unit=unit)
            _say(f"[{defence.name}] {unit}: cached", progress, log)
        saved = cache.read_json(path) or {}
        timings[unit] = (saved.get("seconds"), saved.get("cpu_seconds"))
        results[unit] = cached
    attacks = {a: results[a] for a in spec.attacks.suite}
    row = {"defence": defence.name, **results["model"], "criterion": results["criterion"], "attacks": attacks}
    return row, timings


def _train_key(backend: Backend, data_key: str, spec_dict: dict, d_dict: dict, seed: int) -> str:
    parts = [backend.name, getattr(backend, "version", ""), data_key, spec_dict["model"], spec_dict["training"],
             d_dict, seed]
    if d_dict["kind"] not in DEFENCE_KEYS:  # a plugin's class: its source is part of what trains the model
        parts.append(plugins.digest(tuple(spec_dict["experiment"].get("plugins", ()))))
    return cache.settings_hash(*parts)


def distils(defence) -> bool:
    """Whether the defence trains with the undefended model's soft labels (SiftFunnel's ``distill > 0``)."""
    return defence.kind == "siftfunnel" and float(defence.params.get("distill", 0.0)) > 0


def teacher_model(spec: ExperimentSpec, data: DataSplits, out: Path, *, backend: Backend, progress: bool,
                  spec_dict: dict, data_key: str) -> _Model:
    """The distillation teacher: the undefended model of this spec and seed, in the cache folder (and
    with the key) of a plain ``kind = "none"`` defence named "none", so a run that also lists that
    defence trains it once."""
    d_dict = {"name": "none", "kind": "none"}
    key = _train_key(backend, data_key, spec_dict, d_dict, spec.seed)
    return _Model(backend, spec, DefenceSpec(name="none", kind="none", params={}), data,
                  out / "cache" / "none" / f"train-{key}", progress, out / "events.jsonl")


def _guarded(compute, attack: str) -> dict:
    """Run one attack; a divergence (NaN, overflow) is recorded as a failed attack, not a crashed run."""
    try:
        return compute()
    except (FloatingPointError, OverflowError) as exc:
        return {"failed": True, "reason": f"{type(exc).__name__}: {exc}"}


def _load_recon(path: Path) -> np.ndarray | None:
    """Saved reconstructions, or None when the file is missing or damaged."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return arr if arr.ndim == 4 and np.all(np.isfinite(arr)) else None


def _attack(backend: Backend, handle, attack: str, data: DataSplits, spec: ExperimentSpec, ddir: Path,
            attacker_dir: Path, keys: dict, progress: bool) -> dict:
    """One attack on one defence: reconstruct, score, save the reconstructions."""
    n = spec.attacks.n_images(attack, len(data.private_eval))
    x = data.private_eval.x[:n]
    init = None
    if attack == "hybrid":
        init = _inverse_reconstructions(backend, handle, data, spec, ddir, keys, progress)[:n]
    recon, info = unwrap_reconstructions(backend.attack(attack, handle, aux_x=data.attacker_aux.x, private_x=x,
                                         cfg=getattr(spec.attacks, attack), seed=spec.seed, progress=progress,
                                         init=init, cache_dir=attacker_dir))
    if recon.shape != x.shape:
        raise ValueError(f"{attack}: the backend returned reconstructions of shape {recon.shape}; "
                         f"expected {x.shape}")
    if not np.all(np.isfinite(recon)):
        raise FloatingPointError(f"{attack}: reconstructions hold NaN or infinite values")
    cache.write_npy(ddir / f"{attack}_recon.npy", recon)
    scores = _score(backend, handle, x, recon)
    if info:
        scores["convergence"] = info
    return scores



def _score(backend: Backend, handle, x: np.ndarray, recon: np.ndarray) -> dict:
    from sift_core.inversion import relative_feature_error

    scores: dict[str, Any] = reconstruction_scores(x, recon)
    # How well the reconstructions reproduce the observed features: a small error with a large
    # image MSE means the edge maps different images to the same features (the white-box
    # attacker cannot tell them apart), a large one that the attack did not converge.
    z = np.asarray(backend.features(handle, x), dtype=np.float64)
    z_hat = np.asarray(backend.features(handle, np.clip(recon, 0.0, 1.0)), dtype=np.float64)
    scores["feature_error"] = float(relative_feature_error(z_hat, z))
    scores["n_images"] = int(len(x))
    return scores


def _inverse_reconstructions(backend: Backend, handle, data: DataSplits, spec: ExperimentSpec, ddir: Path,
                             keys: dict, progress: bool) -> np.ndarray:
    """The inverse network's reconstructions of the private images (its unit's, when it ran with
    the current settings; else computed here)."""
    if "inverse_network" in spec.attacks.suite:
        unit = cache.load_unit(ddir / "inverse_network.json", keys["inverse_network"])
        recon = _load_recon(ddir / "inverse_network_recon.npy")
        if unit is not None and recon is not None and len(recon) == len(data.private_eval):
            return recon
    return unwrap_reconstructions(backend.attack("inverse_network", handle, aux_x=data.attacker_aux.x,
                                  private_x=data.private_eval.x, cfg=spec.attacks.inverse_network,
                                  seed=spec.seed, progress=progress))[0]


def _summary(unit: str, r: dict) -> str:
    if unit == "model":
        return f"accuracy {100 * r['accuracy']:.2f} %, feature size {r['feature_size']}"
    if unit == "criterion":
        s = r.get("difficulty_score")
        return f"difficulty_score {s:.3f}" if isinstance(s, (int, float)) else "done"
    if r.get("failed"):
        return f"FAILED ({r.get('reason')}); recorded, the run goes on"
    line = f"MSE {r['mse']:.4f}, PSNR {r['psnr']:.2f} dB, SSIM {r['ssim']:.3f}"
    if isinstance(r.get("feature_error"), (int, float)):
        line += f", relative feature error {r['feature_error']:.4f}"
    conv = report.convergence_text(r.get("convergence"))
    return f"{line}; {conv}" if conv else line


def _timings_md(timings: dict) -> str:
    """Wall / CPU seconds of each unit when it was computed (CPU: this process, all threads)."""
    units = list(dict.fromkeys(u for t in timings.values() for u in t))
    lines = ["Seconds per unit, wall / CPU (CPU time of all threads of the process).", "",
             "| defence | " + " | ".join(units) + " |", "|" + "---|" * (len(units) + 1)]
    total = [0.0, 0.0]
    for name, t in timings.items():
        cells = []
        for u in units:
            wall, cpu = t.get(u, (None, None))
            if wall is None:
                cells.append("n/a")
                continue
            total[0] += wall
            total[1] += cpu or 0.0
            cells.append(f"{wall:.1f} / {cpu:.1f}" if cpu is not None else f"{wall:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Total: {total[0]:.0f} s wall, {total[1]:.0f} s CPU."]
    return "\n".join(lines) + "\n"


def _evaluate_model(backend: Backend, handle, data: DataSplits) -> dict:
    acc = backend.accuracy(handle, data.target_test.x, data.target_test.y)
    prof = backend.profile(handle)
    return {"accuracy": float(acc), "edge_params": int(prof["edge_params"]), "edge_flops": int(prof["edge_flops"]),
            "feature_size": int(prof["feature_size"])}


def _criterion(backend: Backend, handle, data: DataSplits, max_samples: int, seed: int) -> dict:
    x = np.concatenate([data.private_eval.x, data.target_test.x])[:max_samples]
    z = backend.features(handle, x)
    return assess_features(x.reshape(len(x), -1), np.asarray(z).reshape(len(z), -1), seed=seed)


def relative_feature_error(z_hat: np.ndarray, z: np.ndarray) -> float:
    """:func:`sift_core.inversion.relative_feature_error`."""
    from sift_core.inversion import relative_feature_error as core

    return core(z_hat, z)
