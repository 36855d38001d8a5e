"""``siftfunnel sweep``: every defence at several strengths and seeds, then its privacy-utility frontier.

Layout of ``out``::

    out/sweep.json             the spec, with its [sweep] section
    out/seed-<s>/              an ordinary run directory (`siftfunnel run`'s layout) per seed,
                               every strength of every defence one of its defences
    out/units.json             every unit: seed, point, seconds it took, the worker that ran it
    out/frontier.json|md|png   the frontiers, the iso-accuracy table and its winners

The units are one per point and seed (train the model, its criterion, every attack of the suite:
:func:`sift_reference.runner.run_defence`), plus, when the suite has the generative attack, one
per seed that trains the attacker's generator before that seed's points start. They run on an
executor (:mod:`sift_reference.executors`): in this process, or as Ray tasks. A unit writes its
results to the run's cache, so ``--resume`` continues a sweep whichever executor started it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from . import cache
from .executors import Unit, make_executor, set_threads
from .runner import distils, load_spec_data, prepare_out, run_defence, run_experiment, teacher_model
from .spec import ATTACKER_DIR, ExperimentSpec, SpecError, spec_from_dict
from .sweep_spec import points, seed_spec, sweep_of

_LOG = logging.getLogger("sift_reference")
MARKER = ".siftfunnel-sweep"
LOCK = ".sweep.lock"


class SweepError(RuntimeError):
    """Some units failed; every other unit finished and is saved (``--resume`` runs only the failed ones)."""


def seed_dir(out: str | Path, seed: int) -> Path:
    return Path(out) / f"seed-{seed}"


def run_unit(spec_dict: dict, run_dir: str, unit: str, threads: int | None, backend=None) -> dict:
    """One unit of a sweep, in whichever process runs it: ``unit`` is a point (a defence of the
    seed's spec ``spec_dict``) or :data:`~sift_reference.spec.ATTACKER_DIR` (the attacker's
    generator). Returns ``{"unit", "seconds", "pid", "host", "row"?}``."""
    t0 = time.perf_counter()
    spec = spec_from_dict(spec_dict)
    set_threads(threads, spec.backend)
    if backend is None:
        from .backends import get_backend

        backend = get_backend(spec.backend)
    data, data_key = load_spec_data(spec)
    out = Path(run_dir)
    info: dict[str, Any] = {"unit": unit, "pid": os.getpid(), "host": os.uname().nodename if hasattr(os, "uname")
                            else ""}
    if unit == ATTACKER_DIR:
        if "generative" in spec.attacks.suite and hasattr(backend, "prepare_attacker"):
            record = out / "cache" / ATTACKER_DIR / "prepare.json"
            key = cache.settings_hash(backend.name, getattr(backend, "version", ""), data_key,
                                      spec.attacks.settings("generative"), spec.seed)
            backend.prepare_attacker("generative", aux_x=data.attacker_aux.x, cfg=spec.attacks.generative,
                                     seed=spec.seed, progress=False, cache_dir=out / "cache" / ATTACKER_DIR)
            if cache.load_unit(record, key) is None:  # keep the time of the training, not of a later load
                cache.save_unit(record, key, {"attack": "generative"}, seconds=time.perf_counter() - t0)
        if any(distils(d) for d in spec.defences):  # before the points, which would otherwise race to train it
            out.mkdir(parents=True, exist_ok=True)
            teacher_model(spec, data, out, backend=backend, progress=False, spec_dict=spec.to_dict(),
                          data_key=data_key).get()
    else:
        defence = next((d for d in spec.defences if d.name == unit), None)
        if defence is None:
            raise ValueError(f"unit: {unit!r} is not a defence of the seed's spec")
        row, _ = run_defence(spec, defence, data, out, backend=backend, resume=True, progress=False, log=None,
                             spec_dict=spec.to_dict(), data_key=data_key)
        info["row"] = row
    info["seconds"] = time.perf_counter() - t0
    return info


@contextlib.contextmanager
def _lock(out: Path):
    """One sweep at a time on ``out``: a second one would run the same units at once."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the user is trusted with one sweep per --out
        yield
        return
    fh = open(out / LOCK, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SpecError(f"--out: another sweep is running on {out} (it holds {out / LOCK})") from None
        yield
    finally:
        fh.close()


def _prepare(out: Path) -> Path:
    """``out`` as a sweep's folder: new, or one a sweep made (each seed's run folder then checks
    ``--resume`` / ``--overwrite`` itself)."""
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out: {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).exists() and any(p.name != LOCK for p in out.iterdir()):
        raise SpecError(f"--out: {out} is not empty and holds no sweep; choose another --out")
    return out


def plan(spec: ExperimentSpec, out: Path, *, threads: int | None, backend=None) -> tuple[list[Unit], dict]:
    """The units of the sweep and each seed's spec (as a dict)."""
    sweep = sweep_of(spec)
    units, seed_specs = [], {}
    for s in sweep.seeds:
        sspec = seed_spec(spec, s)
        d = sspec.to_dict()
        seed_specs[s] = d
        first = None
        has_prepare = backend is None or hasattr(backend, "prepare_attacker")
        # one unit per seed before its points: the attacker's generator and the distillation teacher
        jobs = (["generator"] if "generative" in spec.attacks.suite and has_prepare else []) + \
            (["teacher"] if any(distils(d) for d in sspec.defences) else [])
        if jobs:
            first = f"{s}/{ATTACKER_DIR}"
            units.append(Unit(key=first, fn=run_unit, args=(d, str(seed_dir(out, s)), ATTACKER_DIR, threads, backend),
                              label=f"seed {s}: {' and '.join(jobs)}"))
        for p in points(sweep, spec.defences):
            units.append(Unit(key=f"{s}/{p.name}", fn=run_unit, args=(d, str(seed_dir(out, s)), p.name, threads,
                                                                       backend), after=first,
                              label=f"seed {s}: {p.name}"))
    return units, seed_specs


def run_sweep(spec: ExperimentSpec, out: str | Path, *, resume: bool = False, overwrite: bool = False,
              executor=None, backend=None, progress: bool = True, log=_LOG.info) -> dict:
    """Run the sweep of ``spec`` into ``out`` and write its frontier report; returns frontier.json's dict.

    ``executor``: from :func:`sift_reference.executors.make_executor` (default: sequential with
    this machine's cores). ``backend`` overrides the spec's (tests inject their own; it must be
    picklable for Ray). Raises :class:`SweepError` when units failed, after all others finished.
    """
    t_start = time.perf_counter()
    executor = executor or make_executor("sequential")
    sweep = sweep_of(spec)
    if backend is None:
        from .backends import get_backend

        check_backend = get_backend(spec.backend)
    else:
        check_backend = backend
    if hasattr(check_backend, "check"):
        check_backend.check(seed_spec(spec, sweep.seeds[0]))
    out = _prepare(Path(out))
    load_spec_data(spec)  # a dataset problem stops the sweep here, before any unit starts
    with _lock(out):
        (out / MARKER).write_text("siftfunnel sweep directory\n")
        for s in sweep.seeds:
            prepare_out(seed_dir(out, s), resume=resume, overwrite=overwrite)
        cache.write_json(out / "sweep.json", spec.to_dict())
        threads = getattr(executor, "threads", None)
        units, seed_specs = plan(spec, out, threads=threads, backend=backend)
        for s, d in seed_specs.items():
            cache.write_json(seed_dir(out, s) / "spec.json", d)
        log and log(f"sweep: {len(units)} units ({len(sweep.seeds)} seeds x {len(points(sweep, spec.defences))} "
                    f"points) on the {executor.name} executor ({getattr(executor, 'workers', None) or 'cluster'} "
                    f"workers x {threads} threads)")
        records: list[dict] = []
        bar = _bar(len(units), progress)

        def on_done(unit: Unit, result, error):
            if bar is not None:
                bar.update(1)
            if error is not None:
                log and log(f"{unit.label}: FAILED ({type(error).__name__}: {error})")
                return
            records.append({"key": unit.key, "label": unit.label, "seconds": result.get("seconds"),
                            "pid": result.get("pid"), "host": result.get("host"), "end": time.time()})
            row = result.get("row")
            if row is not None and log:
                from sift_core.inversion import worst_case

                p = worst_case(row.get("attacks", {}))
                log(f"{unit.label}: accuracy {100 * row['accuracy']:.2f} %, worst-case SSIM {_f(p.get('ssim'))} "
                    f"({result['seconds']:.0f} s)")

        outcome = executor.run(units, on_done)
        if bar is not None:
            bar.close()
        cache.write_json(out / "units.json", {"executor": executor.name, "workers": getattr(executor, "workers", None),
                                              "threads": threads, "wall_s": time.perf_counter() - t_start,
                                              "units": records})
        if outcome.errors:
            lines = "; ".join(f"{k}: {type(e).__name__}: {e}" for k, e in outcome.errors.items())
            raise SweepError(f"{len(outcome.errors)} of {len(units)} units failed ({lines}); every other unit is "
                             "saved: fix the cause and rerun with --resume")
        doc = _report(spec, out, seed_specs, backend, time.perf_counter() - t_start, executor)
    log and log(f"frontier report written to {out / 'frontier.md'}")
    return doc


def _report(spec: ExperimentSpec, out: Path, seed_specs: dict, backend, wall: float, executor) -> dict:
    """Each seed's report (every unit is cached: nothing trains), then the frontiers."""
    from . import frontier_report

    sweep = sweep_of(spec)
    by_name = {p.name: p for p in points(sweep, spec.defences)}
    pts, unit_seconds, first_seconds = [], [], []
    for s, d in seed_specs.items():
        sspec = spec_from_dict(d)
        results, _ = run_experiment(sspec, seed_dir(out, s), resume=True, backend=backend, progress=False, log=None)
        for row in results["rows"]:
            p = by_name[row["defence"]]
            seconds = _point_seconds(seed_dir(out, s) / "cache" / p.name)
            if seconds is not None:  # None: its units were computed by a version that kept no times
                unit_seconds.append(seconds)
            pts.append({"defence": p.defence, "kind": p.kind, "point": p.name, "strength": p.strength, "seed": s,
                        "accuracy": row["accuracy"], "privacy": row.get("privacy", {}), "seconds": seconds})
        gen = cache.read_json(seed_dir(out, s) / "cache" / ATTACKER_DIR / "prepare.json")
        if gen and isinstance(gen.get("seconds"), (int, float)):
            first_seconds.append(gen["seconds"])
    n_seeds = len(sweep.seeds)
    meta = {"title": f"{spec.name}: privacy-utility frontiers ({n_seeds} seed{'s' if n_seeds > 1 else ''})",
            "spec": spec.name, "backend": spec.backend, "seeds": list(sweep.seeds),
            "attack_suite": list(spec.attacks.suite), "attack_budget": spec.attacks.budget,
            "executor": executor.name, "wall_s_this_invocation": wall,
            "units": {"n": len(unit_seconds) + len(first_seconds), "point_seconds": unit_seconds,
                      "generator_seconds": first_seconds},
            "predicted_wall_s": {str(w): frontier_report.predict_wall_time(unit_seconds, w, first=first_seconds)
                                 for w in (1, 2, 8, 64)}}
    doc = frontier_report.build_frontier(pts, drops=sweep.drops, meta=meta)
    frontier_report.write_frontier_report(out, doc)
    return doc


def _point_seconds(ddir: Path) -> float | None:
    """The wall seconds a point's units took when they were computed (from their cache files)."""
    total, found = 0.0, False
    for f in ddir.glob("*.json"):
        doc = cache.read_json(f)
        if isinstance(doc, dict) and isinstance(doc.get("seconds"), (int, float)):
            total += doc["seconds"]
            found = True
    return total if found else None


def _f(v) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "n/a"


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep units", unit="unit")


__all__ = ["SweepError", "run_sweep", "run_unit", "plan", "seed_dir"]
