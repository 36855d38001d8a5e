"""Speed (and memory) of sift_core's dependence measures against reference implementations.

Every ratio is measured in one run of this script, on the same data, best of
``--repeats`` after a warm-up call (which also compiles or loads the numba
kernels).  Cases:

a  n=2048, 64 vs 16 dims: distance_correlation vs dcor.distance_correlation   (target >= 10x)
b  n=2048, 3072 vs 256 dims: vs scipy cdist + double centring                 (target >= 10x)
                             and vs the two Gram products x@x.T, z@z.T        (target <= 1.5x)
c  n=50,000, 64 vs 64 dims: the blocked path alone, in a child process:
   time (target < 60 s) and peak memory (target < 2 GB)
d  n=1,000,000, one dimension: vs dcor's fastest O(n log n) method            (must be faster)
e  HSIC n=2048, 64 vs 16 dims: hsic vs hyppo.independence.Hsic().statistic     (target >= 3x)

Usage: python benchmarks/bench_dependence.py [--cases abcde] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

import sift_core as sc


def best_of(fn, repeats: int, warmup: bool = True) -> float:
    """Smallest wall time of ``repeats`` calls, after one untimed warm-up call.

    Slow baselines with nothing to compile skip the warm-up (``warmup=False``).
    """
    if warmup:
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def dependent_pair(rng, n, d, q):
    x = rng.normal(size=(n, d))
    z = np.tanh(x @ rng.normal(size=(d, q)) / np.sqrt(d)) + 0.5 * rng.normal(size=(n, q))
    return x, z


def cdist_dcor(x, z):
    """Distance correlation from full scipy distance matrices, double-centred explicitly."""
    from scipy.spatial.distance import cdist

    def centred(a):
        return a - a.mean(0, keepdims=True) - a.mean(1, keepdims=True) + a.mean()

    a = centred(cdist(x, x))
    b = centred(cdist(z, z))
    return np.sqrt((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def row(rows, case, what, ours, base, ratio, target, met, note=""):
    print(f"  {case}: {what}: ours {ours:.4f} baseline {base} ratio {ratio} target {target} met {met}", file=sys.stderr)
    rows.append(
        {"case": case, "what": what, "ours_s": ours, "baseline_s": base, "ratio": ratio, "target": target,
         "met": met, "note": note}
    )


def case_a(rng, repeats, rows):
    import dcor

    x, z = dependent_pair(rng, 2048, 64, 16)
    ours = best_of(lambda: sc.distance_correlation(x, z), repeats)
    base = best_of(lambda: dcor.distance_correlation(x, z), repeats)
    assert abs(sc.distance_correlation(x, z) - dcor.distance_correlation(x, z)) < 1e-9
    row(rows, "a", "dCor n=2048 64|16 vs dcor", ours, base, base / ours, ">= 10x", base / ours >= 10)
    # the two ways of forming distances in the kernel ("auto" picks by the number of dimensions)
    from sift_core._dcov_numba import distance_sums, use_direct

    auto = "direct" if use_direct(2048, 80) else "gram"
    for method in ("gram", "direct"):
        t = best_of(lambda m=method: distance_sums(x, z, shifted=True, method=m), repeats)
        row(rows, "a", f"  distance sums alone, method={method}", t, None, None, "info", True,
            f"method={method}: {t:.4f} s (auto picks {auto} here)")


def case_b(rng, repeats, rows):
    x, z = dependent_pair(rng, 2048, 3072, 256)
    ours = best_of(lambda: sc.distance_correlation(x, z), repeats)
    base = best_of(lambda: cdist_dcor(x, z), max(1, min(repeats, 2)), warmup=False)
    gram = best_of(lambda: (x @ x.T, z @ z.T), repeats)
    assert abs(sc.distance_correlation(x, z) - cdist_dcor(x, z)) < 1e-9
    row(rows, "b", "dCor n=2048 3072|256 vs cdist+centring", ours, base, base / ours, ">= 10x", base / ours >= 10)
    row(rows, "b", "dCor n=2048 3072|256 / (x@x.T + z@z.T)", ours, gram, ours / gram, "<= 1.5x", ours / gram <= 1.5)


_CHILD = r"""
import json, os, resource, sys, time, tracemalloc
import numpy as np
import sift_core as sc
n, d, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
from sift_core._dcov_numba import distance_sums
w = np.random.default_rng(1).normal(size=(300, d))
for method in ("gram", "direct"):  # compile or load the kernels before timing
    distance_sums(w, w, shifted=True, method=method)
rng = np.random.default_rng(seed)
x = rng.normal(size=(n, d))
z = np.tanh(x @ rng.normal(size=(d, d)) / np.sqrt(d)) + 0.5 * rng.normal(size=(n, d))
def status_mib(key):  # Linux: VmRSS (resident now), VmHWM (resident high-water mark)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":")) / 1024
rss_now = status_mib("VmRSS")
try:  # reset the high-water mark so that it covers the call alone (Linux >= 4.0)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    hwm_reset = status_mib("VmHWM") <= rss_now + 1
except OSError:
    hwm_reset = False
tracemalloc.start()
t0, c0 = time.perf_counter(), time.process_time()
v = sc.distance_correlation(x, z)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
_, peak = tracemalloc.get_traced_memory()
hwm = status_mib("VmHWM") if hwm_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "value": float(v), "maxrss_mib": hwm, "hwm_reset": hwm_reset,
                  "rss_before_mib": rss_now, "traced_peak_mib": peak / 2**20}))
"""


def case_c(rng, repeats, rows, n=50_000, d=64, seed=0):
    # a first child compiles the kernels into numba's cache (compiling takes memory of its own)
    subprocess.run([sys.executable, "-c", _CHILD, "300", str(d), str(seed)], check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(n), str(d), str(seed)], check=True, capture_output=True, text=True
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    row(rows, "c", f"dCor n={n:,} {d}|{d} blocked: time", res["seconds"], None, None, "< 60 s", res["seconds"] < 60,
        f"CPU time of all threads {res['cpu_seconds']:.1f} s (wall time grows with other load on the machine)")
    # the call's own peak: the process high-water mark above the resident set just before the call
    gib = max(res["maxrss_mib"] - res["rss_before_mib"], res["traced_peak_mib"]) / 1024
    since = "since the call began" if res["hwm_reset"] else "of the process (high-water mark not resettable)"
    note = (
        f"peak memory of the call = max(peak RSS {since} {res['maxrss_mib']:.0f} MiB - RSS before the call "
        f"{res['rss_before_mib']:.0f} MiB (interpreter, libraries, the {2 * n * d * 8 / 2**20:.0f} MiB of data), "
        f"peak of numpy allocations during the call {res['traced_peak_mib']:.0f} MiB)"
    )
    row(rows, "c", f"dCor n={n:,} {d}|{d} blocked: peak memory (GiB)", gib, None, None, "< 2 GB", gib < 2.0, note)


def case_d(rng, repeats, rows, n=1_000_000):
    import dcor

    x = rng.standard_normal(n)
    z = x**2 + rng.standard_normal(n)
    ours = best_of(lambda: sc.distance_covariance(x, z, squared=True), repeats)
    times = {}
    for method in ("mergesort", "avl"):
        times[method] = best_of(
            lambda m=method: dcor.distance_covariance_sqr(x, z, method=m), max(1, min(repeats, 2)), warmup=False
        )
    method = min(times, key=times.get)
    ref = dcor.distance_covariance_sqr(x, z, method=method)
    assert abs(sc.distance_covariance(x, z, squared=True) - ref) <= 1e-9 * abs(ref)
    base = times[method]
    row(rows, "d", f"dCov^2 1-D n={n:,} vs dcor {method}", ours, base, base / ours, "> 1x", base / ours > 1,
        ", ".join(f"dcor {k} {v:.2f} s" for k, v in times.items()))


def case_e(rng, repeats, rows):
    from hyppo.independence import Hsic

    x, z = dependent_pair(rng, 2048, 64, 16)
    ours = best_of(lambda: sc.hsic(x, z, unbiased=True, normalized=True), repeats)
    base = best_of(lambda: Hsic().statistic(x, z), repeats)
    row(rows, "e", "HSIC n=2048 64|16 vs hyppo Hsic", ours, base, base / ours, ">= 3x", base / ours >= 3,
        "ours: unbiased, normalised, a median bandwidth per variable")


def _fmt(v, digits=3):
    return "" if v is None else f"{v:.{digits}f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="abcde", help="which cases to run (letters a-e)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    load_before = os.getloadavg()
    rows = []
    cases = {"a": case_a, "b": case_b, "c": case_c, "d": case_d, "e": case_e}
    for letter in args.cases:
        print(f"case {letter} ...", file=sys.stderr, flush=True)
        cases[letter](rng, args.repeats, rows)
    load_after = os.getloadavg()
    import numba

    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    print(f"load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}; "
          f"best of {args.repeats} after a warm-up call")
    print()
    print("| case | measurement | ours | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.1f}x"
        unit = "" if "GiB" in r["what"] else " s"
        ours = _fmt(r["ours_s"]) + unit
        base = "" if r["baseline_s"] is None else _fmt(r["baseline_s"]) + " s"
        print(f"| {r['case']} | {r['what']} | {ours} | {base} | {ratio} | {r['target']} | "
              f"{'yes' if r['met'] else 'NO'} |")
    notes = [f"{r['case']}: {r['note']}" for r in rows if r["note"]]
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "load": [load_before, load_after]}, fh, indent=1)
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
