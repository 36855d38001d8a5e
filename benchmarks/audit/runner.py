"""Running: every case evaluated in a fresh temporary folder, then classified."""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path

from .cases import OTHER, Case
from .classify import _short, classify
from .namespace import namespace


def _available(name: str) -> bool:
    if not name:
        return True
    import importlib.util

    if name == "torch":
        return importlib.util.find_spec("torch") is not None
    return importlib.util.find_spec("keras") is not None and importlib.util.find_spec("tensorflow") is not None


def run_cases(cases: list[Case], *, skip_keras: bool, verbose: bool) -> list[dict]:
    ns = namespace()
    records = []
    root = Path(tempfile.mkdtemp(prefix="siftfunnel-audit-"))
    try:
        for i, case in enumerate(cases):
            tmp = root / f"{i:03d}"
            tmp.mkdir()
            t0 = time.perf_counter()
            if skip_keras and case.needs == "keras":
                outcome, detail = "skipped", "--skip-keras"
            elif not _available(case.needs):
                outcome, detail = "skipped", f"{case.needs} is not installed"
            else:
                result, exc = None, None
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        result = eval(case.call, ns, {"T": tmp, "MARKER": tmp / "pwned"})  # noqa: S307
                    except BaseException as err:  # noqa: BLE001
                        if isinstance(err, KeyboardInterrupt):
                            raise
                        exc = err
                outcome, detail = classify(case, result, exc, tmp, ns)
            seconds = time.perf_counter() - t0
            rec = {"id": case.id, "target": case.target, "description": case.description, "call": case.call,
                   "expected": case.expect, "outcome": outcome, "pass": outcome == case.expect,
                   "detail": detail, "seconds": round(seconds, 3)}
            if case.expect == "documented-value":
                rec["documented"] = repr(case.value)
                rec["why"] = case.why
            records.append(rec)
            if verbose:
                mark = "ok " if rec["pass"] else ("-- " if outcome in OTHER else "FAIL")
                print(f"{mark} {case.id:32s} {outcome:17s} {seconds:6.2f}s  {_short(detail, 110)}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return records
