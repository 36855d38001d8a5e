"""Wall time of one sweep on the sequential executor and on a local Ray, measured in one run.

    python benchmarks/bench_sweep.py [--spec demo_fast] [--out /tmp/bench-sweep] [--workers 2]

Runs the same sweep (the spec's defences at two strengths each, one seed) three times: in this
process with all cores' threads per unit, on a local Ray with ``--workers`` workers of
cores // workers threads, and again on Ray with ``--resume`` (which must train nothing). Prints
the wall times, their ratio and the largest difference between the two executors' points
(units with different thread counts sum in a different order, so the rows need not be
bit-identical; with equal thread counts they are, see tests/reference/test_sweep_ray.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

from sift_reference import runner  # noqa: E402
from sift_reference.executors import RayExecutor, SequentialExecutor, cpu_count  # noqa: E402
from sift_reference.spec import builtin_spec_path, load_spec  # noqa: E402
from sift_reference.sweep import run_sweep, seed_dir  # noqa: E402
from sift_reference.sweep_spec import SweepSpec  # noqa: E402

STRENGTHS = {"noise": {"sigma": [0.4, 1.6]}, "dropout": {"rate": [0.3, 0.7]},
             "siftfunnel": {"beta": [1.0, 4.0], "funnel_channels": [12, 8]}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default="demo_fast")
    p.add_argument("--out", default="/tmp/bench-sweep")
    p.add_argument("--workers", type=int, default=cpu_count())
    args = p.parse_args()
    path = args.spec if args.spec.endswith(".toml") else builtin_spec_path(args.spec)
    spec = load_spec(path)
    names = {d.name for d in spec.defences}
    sweep = SweepSpec(seeds=(spec.seed,), strengths={k: v for k, v in STRENGTHS.items() if k in names})
    spec = dataclasses.replace(spec, sweep=sweep)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    cores = cpu_count()
    runs = {}
    for label, executor, resume, where in (
            ("sequential", SequentialExecutor(threads=cores), False, "seq"),
            (f"ray {args.workers}x{max(1, cores // args.workers)}",
             RayExecutor(workers=args.workers, threads=max(1, cores // args.workers)), False, "ray"),
            ("ray --resume", RayExecutor(workers=args.workers, threads=max(1, cores // args.workers)), True, "ray")):
        t0 = time.perf_counter()
        doc = run_sweep(spec, out / where, resume=resume, executor=executor, progress=False, log=None)
        runs[label] = (time.perf_counter() - t0, doc)
        trained = sum(e["event"] == "train" for e in runner.read_events(seed_dir(out / where, spec.seed)))
        print(f"{label}: {runs[label][0]:.1f} s wall, {len(doc['points'])} points, models trained so far {trained}",
              flush=True)
    (seq_t, seq), (ray_t, par) = runs["sequential"], list(runs.values())[1]
    diff = max(abs(a["privacy"]["ssim"] - b["privacy"]["ssim"]) for a, b in
               zip(sorted(seq["points"], key=lambda r: r["point"]), sorted(par["points"], key=lambda r: r["point"])))
    acc = max(abs(a["accuracy"] - b["accuracy"]) for a, b in
              zip(sorted(seq["points"], key=lambda r: r["point"]), sorted(par["points"], key=lambda r: r["point"])))
    print(json.dumps({"cores": cores, "units": len(seq["points"]), "sequential_s": round(seq_t, 1),
                      "ray_s": round(ray_t, 1), "ray_over_sequential": round(ray_t / seq_t, 3),
                      "resume_s": round(runs["ray --resume"][0], 1), "max_ssim_difference": round(diff, 4),
                      "max_accuracy_difference": round(acc, 4)}, indent=1))


if __name__ == "__main__":
    main()
