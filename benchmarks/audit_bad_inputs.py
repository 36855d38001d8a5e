"""Audit: bad, hostile and degenerate inputs against the public API and the ``siftfunnel`` command.

Run:  OMP_NUM_THREADS=1 python benchmarks/audit_bad_inputs.py [--out DIR] [--only REGEX] [--skip-keras]

Every case is one Python expression (its ``call``, evaluated in the namespace built by
:func:`namespace`; ``T`` is a fresh temporary folder and ``MARKER`` a file in it that no case may
create), an expected class and what makes the outcome that class.  Each outcome is classified
automatically:

passes
  ``named-error``       an exception of a documented type whose message contains the name of the
                        offending argument, key or file (checked);
  ``cli-one-line``      the command exits with status 2, one line on stderr that names the flag, key
                        or file (checked), no "Traceback";
  ``documented-value``  a degenerate but valid input gives the value the docs state (the expected value
                        is written in the case with where it comes from);
  ``invariance-ok``     a scaled or shifted input gives the value of the plain one within tolerance.
failures
  ``traceback``         an error that does not name the culprit (typically from inside numpy/torch), a
                        crash where a value is documented, or a command that prints a traceback;
  ``silent-wrong``      NaN/inf or a value that differs from the independent expectation, or a side
                        effect the docs rule out (an earlier run's cache deleted);
  ``code-executed``     a crafted pickle ran code (its marker file exists).
neither
  ``unclassified``      the input was accepted and there is no independent expectation for the result
                        (reported, never counted as a pass); ``skipped``: the framework is not installed.

Writes ``audit_bad_inputs.json`` (every case: id, target, description, call, expected, outcome,
detail, seconds) and ``audit_bad_inputs.md`` (a table of every case) to ``--out`` (default
``audit-bad-inputs/``), and prints counts per class and per target.  ``--only REGEX`` runs the
cases whose id matches (a reproducer for one case).  Exit status 1 if any case fails.

The cases and the machinery live in the package ``benchmarks/audit/`` next to this script (its
``__init__`` lists the modules); this script parses the command line, runs the cases and writes the
reports.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
             "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

# a script, not an installed package: find the ``audit`` package next to it from any working directory
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from audit import CASES  # noqa: E402
from audit.cases import FAILURES  # noqa: E402
from audit.report import markdown, summary_tables  # noqa: E402
from audit.runner import run_cases  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="audit-bad-inputs", help="folder for the JSON and markdown (default: %(default)s)")
    p.add_argument("--only", help="run only the cases whose id matches this regular expression")
    p.add_argument("--skip-keras", action="store_true", help="skip the Keras cases (TensorFlow takes ~10 s to import)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per case")
    args = p.parse_args(argv)
    ids = Counter(c.id for c in CASES)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise SystemExit(f"duplicate case ids: {dup}")
    cases = [c for c in CASES if not args.only or re.search(args.only, c.id)]
    if args.list:
        for c in cases:
            print(f"{c.id:32s} {c.target:22s} {c.expect:17s} {c.call}")
        return 0
    t0 = time.perf_counter()
    records = run_cases(cases, skip_keras=args.skip_keras, verbose=not args.quiet)
    wall = time.perf_counter() - t0
    meta = {"command": "python benchmarks/audit_bad_inputs.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "wall_s": wall, "python": sys.version.split()[0], "numpy": np.__version__,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit_bad_inputs.json").write_text(json.dumps({"meta": meta, "cases": records}, indent=1) + "\n")
    (out / "audit_bad_inputs.md").write_text(markdown(records, meta))
    print()
    print(summary_tables(records))
    bad = [r for r in records if r["outcome"] in FAILURES]
    other = [r for r in records if r["outcome"] == "unclassified"]
    for title, rs in (("failures", bad), ("unclassified", other)):
        if rs:
            print(f"\n{title}:")
            for r in rs:
                print(f"  {r['id']} [{r['outcome']}] {r['call']}\n      {r['detail']}")
    print(f"\n{len(records)} cases in {wall:.0f} s; wrote {out / 'audit_bad_inputs.json'} and "
          f"{out / 'audit_bad_inputs.md'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
