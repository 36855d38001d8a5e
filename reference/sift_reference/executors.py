"""Where a sweep's units run: in this process one after another, or as Ray tasks.

A unit is a top-level function and its arguments (picklable, so a Ray worker on another machine
can run it) plus at most one unit it must wait for. Every unit writes its results to the run's
cache itself, so an executor only schedules: the cache, not the executor, is what ``--resume``
continues, whichever executor wrote it.

Threads: each unit sets its framework's thread count (:func:`set_threads`) and Ray is asked for
that many CPUs per unit, so workers x threads never exceed the cores Ray knows of. Ray retries a
unit whose worker process died (killed, out of memory) up to ``retries`` times; a unit that raises
is not retried (it would raise again) and is reported with the others that failed once every
other unit has finished. Only :class:`RayExecutor` imports ``ray``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_LOG = logging.getLogger("sift_reference")
#: environment variables that size the thread pools of numpy's BLAS, numba, torch and TensorFlow
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS")


@dataclass
class Unit:
    key: str
    fn: Callable[..., Any]
    args: tuple = ()
    #: the key of a unit that must finish first (its result is not passed on)
    after: str | None = None
    label: str = ""


@dataclass
class Outcome:
    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)


def cpu_count() -> int:
    """The cores this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_env(threads: int) -> dict[str, str]:
    """The environment that sizes every thread pool a worker process starts to ``threads``."""
    return {**{v: str(threads) for v in THREAD_VARIABLES}, "TF_NUM_INTEROP_THREADS": "1"}


def set_threads(threads: int | None, backend: str | None = None) -> None:
    """Size this process's thread pools to ``threads`` (None: leave them). Pools already started keep
    their size where the library cannot change it (TensorFlow's, after its first op)."""
    if threads is None:
        return
    # numba refuses a NUMBA_NUM_THREADS that changes after its pool started (it re-reads the
    # environment when it compiles): that one is only set for new worker processes (thread_env)
    os.environ.update({k: v for k, v in thread_env(threads).items() if k != "NUMBA_NUM_THREADS"})
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except (ImportError, ValueError):
        pass
    if backend == "torch" or "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    if backend == "keras" or "tensorflow" in sys.modules:
        try:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except (ImportError, RuntimeError):  # RuntimeError: TF already initialised in this process
            pass


def _order(units: list[Unit]) -> list[Unit]:
    keys = {u.key for u in units}
    if len(keys) != len(units):
        raise ValueError("units: two units share a key")
    for u in units:
        if u.after is not None and u.after not in keys:
            raise ValueError(f"units: {u.key} waits for {u.after}, which is not a unit")
    done, out = set(), []
    pending = list(units)
    while pending:  # dependencies first, otherwise in the given order
        ready = [u for u in pending if u.after is None or u.after in done]
        if not ready:
            raise ValueError("units: circular dependencies")
        for u in ready:
            done.add(u.key)
            out.append(u)
        pending = [u for u in pending if u.key not in done]
    return out


class SequentialExecutor:
    """Every unit in this process, one after another (dependencies first)."""

    name = "sequential"

    def __init__(self, *, threads: int | None = None):
        self.threads = threads
        self.workers = 1

    def run(self, units: list[Unit], on_done: Callable[[Unit, Any, BaseException | None], None]) -> Outcome:
        outcome = Outcome()
        for u in _order(units):
            if u.after in outcome.errors:
                outcome.errors[u.key] = RuntimeError(f"not run: {u.after} failed")
                on_done(u, None, outcome.errors[u.key])
                continue
            try:
                result = u.fn(*u.args)
            except Exception as exc:  # recorded; the other units go on (their results are saved either way)
                outcome.errors[u.key] = exc
                on_done(u, None, exc)
                continue
            outcome.results[u.key] = result
            on_done(u, result, None)
        return outcome


class RayExecutor:
    """Units as Ray tasks: a local Ray started in this process (``workers`` at once), or the
    cluster at ``address`` (``"auto"``, ``"ray://host:port"``), whose nodes must see ``--out``
    at the same path (shared storage)."""

    name = "ray"

    def __init__(self, *, workers: int | None = None, address: str | None = None, threads: int = 1,
                 retries: int = 3):
        if threads < 1:
            raise ValueError(f"threads: must be >= 1; got {threads}")
        self.workers, self.address, self.threads, self.retries = workers, address, threads, retries

    def _init(self):
        import ray

        if ray.is_initialized():
            return ray, False
        env = {"env_vars": thread_env(self.threads)}
        if self.address is not None:
            ray.init(address=self.address, runtime_env=env, log_to_driver=True)
        else:
            # each unit asks for `threads` CPUs: at most `workers` run at once
            ray.init(num_cpus=self.workers * self.threads, include_dashboard=False, runtime_env=env,
                     log_to_driver=True, configure_logging=False)
        return ray, True

    def run(self, units: list[Unit], on_done: Callable[[Unit, Any, BaseException | None], None]) -> Outcome:
        ray, started = self._init()
        try:
            return self._run(ray, _order(units), on_done)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, units: list[Unit], on_done) -> Outcome:
        outcome = Outcome()
        tasks: dict[Callable, Any] = {}
        refs: dict[str, Any] = {}
        by_ref: dict[Any, Unit] = {}
        for u in units:
            if u.fn not in tasks:
                tasks[u.fn] = ray.remote(_call)
            dep = refs.get(u.after) if u.after is not None else None
            ref = tasks[u.fn].options(num_cpus=self.threads, max_retries=self.retries,
                                      name=u.label or u.key).remote(u.fn, u.args, dep)
            refs[u.key] = ref
            by_ref[ref] = u
        pending = list(by_ref)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                u = by_ref[ref]
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the unit raised, or its worker died more than `retries` times
                    cause = getattr(exc, "cause", None)
                    outcome.errors[u.key] = cause if isinstance(cause, BaseException) else exc
                    on_done(u, None, outcome.errors[u.key])
                    continue
                outcome.results[u.key] = result
                on_done(u, result, None)
        return outcome


def _call(fn, args, _after=None):
    """The Ray task: ``fn(*args)``; ``_after`` is the result of the unit it waited for (unused)."""
    return fn(*args)


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def make_executor(kind: str = "auto", *, workers: int | None = None, address: str | None = None,
                  threads: int | None = None):
    """The executor for ``siftfunnel sweep``'s flags.

    ``kind``: ``"sequential"``, ``"ray"``, or ``"auto"`` (Ray when it is installed, else sequential).
    ``workers``: units at once on a local Ray (default: the cores; one on the sequential executor).
    ``threads``: each unit's thread count (default: cores // workers, so workers x threads <= cores).
    ``address``: join an existing Ray cluster instead of starting one (``workers`` is then the
    cluster's business; ``threads`` defaults to 1 there).
    """
    if kind not in ("auto", "sequential", "ray"):
        raise ValueError(f"--executor: must be auto, sequential or ray; got {kind!r}")
    cores = cpu_count()
    if workers is not None and workers < 1:
        raise ValueError(f"--workers: must be >= 1; got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"--threads: must be >= 1; got {threads}")
    if kind == "auto":
        kind = "ray" if (address is not None or ray_available()) else "sequential"
    if kind == "sequential":
        if address is not None:
            raise ValueError("--address: joins a Ray cluster; it cannot be used with --executor sequential")
        if workers not in (None, 1):
            raise ValueError(f"--workers: the sequential executor runs one unit at a time; got {workers} "
                             "(install the 'ray' extra for parallel units: pip install 'siftfunnel[ray]')")
        return SequentialExecutor(threads=threads or cores)
    if not ray_available():
        raise ImportError("--executor ray needs Ray: pip install 'siftfunnel[ray]'")
    if address is not None:
        return RayExecutor(address=address, threads=threads or 1)
    workers = workers or cores
    threads = threads or max(1, cores // workers)
    if workers * threads > cores:
        raise ValueError(f"--workers: {workers} workers x {threads} threads exceed the {cores} cores of this "
                         f"machine; lower --workers or --threads")
    _LOG.debug("local Ray: %d workers x %d threads on %d cores", workers, threads, cores)
    return RayExecutor(workers=workers, threads=threads)
