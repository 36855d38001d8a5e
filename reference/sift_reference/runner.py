"""Run an experiment spec: train every defence, measure it, attack it, assess its features.

Per defence, in order (each step a cached unit, see :mod:`sift_reference.cache`):

1. ``model.json``: train edge + cloud on ``target_train`` (the backend checkpoints
   during training), then accuracy on ``target_test`` and the edge's parameters,
   FLOPs and transmitted feature size;
2. ``criterion.json``: ``sift_core.criterion.assess(x, z)`` on private inputs and
   their features (``private_eval`` then ``target_test`` images, up to
   ``criterion.max_samples``);
3. ``inverse_network.json``: the attacker trains a decoder on ``attacker_aux`` and
   inverts the features of ``private_eval``;
4. ``rmle.json``: white-box optimisation from noise on the first ``rmle.n_images``
   private images.

MSE, PSNR and SSIM come from ``sift_core.metrics`` (per image, data range 1, then
averaged; PSNR capped at 100 dB so an exact reconstruction stays a finite number),
the same for every backend. A model is trained or loaded only when one of its
units is missing, so ``--resume`` never retrains a finished model.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import cache, report
from .backends import Backend, get_backend
from .datasets import DataSplits, load_dataset
from .spec import ExperimentSpec

MARKER = ".siftfunnel-run"
GRID_IMAGES = 8
PSNR_CAP_DB = 100.0


def _progress(iterable, enabled: bool, **kw):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


def _say(msg: str, progress: bool, log) -> None:
    if log is None:
        return
    if progress:
        from tqdm.auto import tqdm

        tqdm.write(msg)
    else:
        log(msg)


def reconstruction_scores(originals: np.ndarray, recon: np.ndarray) -> dict[str, float]:
    """Mean per-image MSE, PSNR (dB, capped at 100) and SSIM, data range 1, from ``sift_core.metrics``."""
    from sift_core import metrics

    a = np.asarray(originals, dtype=np.float64)
    b = np.clip(np.asarray(recon, dtype=np.float64), 0.0, 1.0)
    return {
        "mse": float(metrics.mse(a, b, reduction="mean")),
        "psnr": float(metrics.psnr(a, b, data_range=1.0, reduction="mean", max_db=PSNR_CAP_DB)),
        "ssim": float(metrics.ssim(a, b, data_range=1.0, reduction="mean")),
    }


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
    _handle: Any = None

    def get(self) -> Any:
        if self._handle is None:
            loaded = self.backend.load(spec=self.spec, defence=self.defence, data=self.data, workdir=self.workdir)
            if loaded is None:
                _event(self.events, "train", self.defence.name)
                loaded = self.backend.train(spec=self.spec, defence=self.defence, data=self.data,
                                            workdir=self.workdir, progress=self.progress)
            else:
                _event(self.events, "load", self.defence.name)
            self._handle = loaded
        return self._handle


def _event(path: Path, event: str, defence: str, **kw) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"time": time.time(), "event": event, "defence": defence, **kw}) + "\n")


def read_events(out: str | Path) -> list[dict]:
    """The run's event log (train / load / unit done), oldest first."""
    path = Path(out) / "events.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def prepare_out(out: str | Path, *, resume: bool) -> Path:
    """Create ``out``; without ``resume`` clear the cache of a previous run there (only ours)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    marker, cache_dir = out / MARKER, out / "cache"
    if cache_dir.exists() and not marker.exists():
        raise ValueError(f"--out: {out} has a cache/ folder that this command did not write; choose another --out")
    if not resume:
        if cache_dir.exists():
            shutil.rmtree(cache_dir)
        for name in ("events.jsonl",):
            (out / name).unlink(missing_ok=True)
    marker.write_text("siftfunnel run directory\n")
    return out


def run_experiment(
    spec: ExperimentSpec,
    out: str | Path,
    *,
    resume: bool = False,
    backend: Backend | None = None,
    progress: bool = True,
    log=print,
) -> tuple[dict, dict]:
    """Run ``spec`` into ``out`` and write the report; returns (results.json's dict, rank correlations).

    ``resume=True`` reuses every finished unit whose settings are unchanged.
    ``backend`` overrides the one named by the spec (tests inject their own).
    """
    t_start = time.perf_counter()
    backend = backend or get_backend(spec.backend)
    if hasattr(backend, "check"):
        backend.check(spec)
    out = prepare_out(out, resume=resume)
    spec_dict = spec.to_dict()
    cache.write_json(out / "spec.json", spec_dict)

    ds = spec.dataset
    data = load_dataset(ds.name, path=ds.path, image_size=ds.image_size, resize=ds.resize,
                        n_target_train=ds.n_target_train, n_target_test=ds.n_target_test,
                        n_attacker_aux=ds.n_attacker_aux, n_private_eval=ds.n_private_eval,
                        split_seed=ds.split_seed, private_classes=ds.private_classes)
    _say(f"dataset: {data.description}; splits: " + ", ".join(
        f"{k} {len(getattr(data, k))}" for k in ("target_train", "target_test", "attacker_aux", "private_eval")),
        progress, log)
    events = out / "events.jsonl"
    data_key = cache.settings_hash(spec_dict["dataset"], data.name)

    rows, timings = [], {}
    n_rmle = spec.rmle.n_images or len(data.private_eval)
    originals = data.private_eval.x[: min(GRID_IMAGES, n_rmle)]
    recons: dict[str, dict[str, np.ndarray]] = {"inverse_network": {}, "rmle": {}}
    for defence in _progress(spec.defences, progress, desc="defences", unit="defence"):
        d_dict = next(d for d in spec_dict["defences"] if d["name"] == defence.name)
        train_key = cache.settings_hash(backend.name, getattr(backend, "version", ""), data_key,
                                        spec_dict["model"], spec_dict["training"], d_dict, spec.seed)
        ddir = out / "cache" / defence.name
        model = _Model(backend, spec, defence, data, ddir / f"train-{train_key}", progress, events)
        units = {
            "model": (train_key, lambda m=model: _evaluate_model(backend, m.get(), data)),
            "criterion": (cache.settings_hash(train_key, dataclasses.asdict(spec.criterion)),
                          lambda m=model: _criterion(backend, m.get(), data, spec.criterion.max_samples, spec.seed)),
            "inverse_network": (cache.settings_hash(train_key, dataclasses.asdict(spec.inverse_network)),
                                lambda m=model, d=ddir: _attack_inverse(backend, m.get(), data, spec, d, progress)),
            "rmle": (cache.settings_hash(train_key, dataclasses.asdict(spec.rmle)),
                     lambda m=model, d=ddir: _attack_rmle(backend, m.get(), data, spec, n_rmle, d, progress)),
        }
        results, timings[defence.name] = {}, {}
        for unit, (key, compute) in units.items():
            path = ddir / f"{unit}.json"
            cached = cache.load_unit(path, key) if resume else None
            if cached is None:
                t0, c0 = time.perf_counter(), time.process_time()
                cached = compute()
                seconds = time.perf_counter() - t0
                cache.save_unit(path, key, cached, seconds=seconds, cpu_seconds=time.process_time() - c0)
                _event(events, "done", defence.name, unit=unit, seconds=seconds)
                _say(f"[{defence.name}] {unit}: {_summary(unit, cached)} ({seconds:.1f} s)", progress, log)
            else:
                _event(events, "cached", defence.name, unit=unit)
                _say(f"[{defence.name}] {unit}: cached", progress, log)
            saved = cache.read_json(path) or {}
            timings[defence.name][unit] = (saved.get("seconds"), saved.get("cpu_seconds"))
            results[unit] = cached
        for attack in ("inverse_network", "rmle"):
            recon_path = ddir / f"{attack}_recon.npy"
            if recon_path.is_file():
                recons[attack][defence.name] = np.load(recon_path)[: len(originals)]
        rows.append({"defence": defence.name, **results["model"], "criterion": results["criterion"],
                     "attacks": {a: results[a] for a in ("inverse_network", "rmle")}})

    results_doc = report.build_results(spec_dict, data.description, backend.name, rows)
    wall = time.perf_counter() - t_start
    extra = {"private images attacked": f"{len(data.private_eval)} (rMLE: {n_rmle})",
             "wall time of this invocation": f"{wall:.0f} s"}
    corr = report.write_report(out, results_doc, originals, recons, extra=extra)
    cache.write_text(out / "timings.md", _timings_md(timings))
    _say(f"report written to {out / 'report.md'}", progress, log)
    return results_doc, corr


def _summary(unit: str, r: dict) -> str:
    if unit == "model":
        return f"accuracy {100 * r['accuracy']:.2f} %, feature size {r['feature_size']}"
    if unit == "criterion":
        s = r.get("difficulty_score")
        return f"difficulty_score {s:.3f}" if isinstance(s, (int, float)) else "done"
    line = f"MSE {r['mse']:.4f}, PSNR {r['psnr']:.2f} dB, SSIM {r['ssim']:.3f}"
    if isinstance(r.get("feature_error"), (int, float)):
        line += f", relative feature error {r['feature_error']:.4f}"
    return line


def _timings_md(timings: dict) -> str:
    """Wall / CPU seconds of each unit when it was computed (CPU: this process, all threads)."""
    units = ("model", "criterion", "inverse_network", "rmle")
    lines = ["Seconds per unit, wall / CPU (CPU time of all threads of the process).", "",
             "| defence | " + " | ".join(units) + " |", "|---|---|---|---|---|"]
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


def _attack_inverse(backend: Backend, handle, data: DataSplits, spec: ExperimentSpec, ddir: Path,
                    progress: bool) -> dict:
    recon = backend.inverse_network(handle, aux_x=data.attacker_aux.x, private_x=data.private_eval.x,
                                    cfg=spec.inverse_network, seed=spec.seed, progress=progress)
    cache.write_npy(ddir / "inverse_network_recon.npy", np.asarray(recon[:GRID_IMAGES], dtype=np.float32))
    return reconstruction_scores(data.private_eval.x, recon)


def _attack_rmle(backend: Backend, handle, data: DataSplits, spec: ExperimentSpec, n: int, ddir: Path,
                 progress: bool) -> dict:
    x = data.private_eval.x[:n]
    recon = backend.rmle(handle, private_x=x, cfg=spec.rmle, seed=spec.seed, progress=progress)
    cache.write_npy(ddir / "rmle_recon.npy", np.asarray(recon[:GRID_IMAGES], dtype=np.float32))
    scores = reconstruction_scores(x, recon)
    # How well the reconstructions reproduce the observed features: a small error with a large
    # image MSE means the edge maps different images to the same features (the white-box
    # attacker cannot tell them apart), a large one that the optimisation did not converge.
    z = np.asarray(backend.features(handle, x), dtype=np.float64)
    z_hat = np.asarray(backend.features(handle, np.asarray(recon, dtype=np.float32)), dtype=np.float64)
    scores["feature_error"] = float(relative_feature_error(z_hat, z))
    return scores


def relative_feature_error(z_hat: np.ndarray, z: np.ndarray) -> float:
    """``sum (z_hat - z)^2 / sum z^2`` over the batch; 0 when both are all zero, inf when only z is."""
    num = float(np.sum((z_hat - z) ** 2))
    den = float(np.sum(z ** 2))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den
