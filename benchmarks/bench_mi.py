"""Benchmark the MI estimators on the closed-form tasks of Czyz et al. (2023), "Beyond Normal".

Prints a markdown table (true MI, estimate, bias, run time per estimator) at
n = 5,000, then the two speed/accuracy targets:

* KSG at n = 10,000 with 10 + 10 dimensions (target: under 30 s on 2 cores);
* the numpy MINE on the dense 5 x 5 task (true MI 0.593 nats) at n = 5,000
  (target: within 0.05 nats in under 10 s), over several data seeds.

Run:  python benchmarks/bench_mi.py [--n 5000] [--seeds 3] [--skip-table] [--skip-targets]
Numba kernels are compiled (and cached) before anything is timed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import sift_core.mi as mi


def _timed(fn, *args, **kwargs):
    """(result, wall seconds, CPU seconds of this process).

    On a shared machine the wall time depends on the load; the CPU time does
    not (much): single-threaded MINE would take about its CPU time on an idle
    core, and KSG (parallel over 2 cores) about half of it.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def _warm_up():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    mi.ksg(a, b)
    mi.entropy_knn(a)


def table(n: int, seeds: int) -> None:
    print(f"\n## Estimates at n = {n:,} (mean over {seeds} data seed(s); time per run)\n")
    print("| task | true MI | KSG (k=3) | bias | wall / CPU | MINE (numpy) | bias | wall / CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for task in mi.standard_tasks():
        ksg_v, ksg_t, mine_v, mine_se, mine_t = [], [], [], [], []
        for s in range(seeds):
            x, z = task.sample(n, seed=1000 + s)
            v, *t = _timed(mi.ksg, x, z)
            ksg_v.append(v)
            ksg_t.append(t)
            e, *t = _timed(mi.mine, x, z, seed=s)
            mine_v.append(e.value)
            mine_se.append(e.stderr)
            mine_t.append(t)
        kv, mv = np.mean(ksg_v), np.mean(mine_v)
        kt, mt = np.mean(ksg_t, axis=0), np.mean(mine_t, axis=0)
        print(
            f"| {task.name} | {task.mi:.3f} | {kv:.3f} | {kv - task.mi:+.3f} | {kt[0]:.1f} / {kt[1]:.1f} s "
            f"| {mv:.3f} ± {np.mean(mine_se):.3f} | {mv - task.mi:+.3f} | {mt[0]:.1f} / {mt[1]:.1f} s |",
            flush=True,
        )


def targets(seeds: int) -> None:
    print("\n## Targets\n")
    task = mi.gaussian_task(mi.dense_covariance(10, 10, off_diag=0.5), dim_x=10, name="dense 10x10")
    x, z = task.sample(10_000, seed=0)
    v, t, c = _timed(mi.ksg, x, z)
    print(f"- KSG, n = 10,000, 10 + 10 dims (dense 10x10, true MI {task.mi:.3f}): estimate {v:.3f} "
          f"in {t:.1f} s wall, {c:.1f} s CPU; target 30 s -> ratio {t / 30:.2f} (wall)", flush=True)
    dense = mi.gaussian_task(mi.dense_covariance(5, 5, off_diag=0.5), dim_x=5, name="dense 5x5")
    errs, walls, cpus = [], [], []
    for s in range(seeds):
        x, z = dense.sample(5000, seed=2000 + s)
        e, t, c = _timed(mi.mine, x, z, seed=s)
        errs.append(e.value - dense.mi)
        walls.append(t)
        cpus.append(c)
        print(f"  - MINE dense 5x5 seed {s}: {e.value:.3f} ± {e.stderr:.3f} (error {e.value - dense.mi:+.3f}) "
              f"in {t:.1f} s wall, {c:.1f} s CPU, best steps {e.best_steps}", flush=True)
    errs = np.array(errs)
    print(f"- MINE, dense 5x5 (true MI {dense.mi:.3f}), n = 5,000: mean error {errs.mean():+.3f}, "
          f"max |error| {np.abs(errs).max():.3f} (target 0.05); mean time {np.mean(walls):.1f} s wall, "
          f"{np.mean(cpus):.1f} s CPU (target 10 s -> ratio {np.mean(cpus) / 10:.2f} on CPU time)", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--skip-table", action="store_true")
    p.add_argument("--skip-targets", action="store_true")
    args = p.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# MI estimators benchmark (cpus: {os.cpu_count()}, load average at start: {load:.1f})")
    _warm_up()
    if not args.skip_table:
        table(args.n, args.seeds)
    if not args.skip_targets:
        targets(args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
