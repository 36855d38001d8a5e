"""Classification: the outcome class and detail of one case from its result or exception."""

from __future__ import annotations

import math
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from .cases import Case
from .helpers_cli import CliResult, ReachedTraining

# --------------------------------------------------------------------------- classification


def _is_finite_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _close(a, b, rtol: float, atol: float) -> bool:
    if isinstance(b, float) and math.isinf(b):
        return isinstance(a, (int, float, np.floating)) and a == b
    return _is_finite_number(a) and abs(float(a) - float(b)) <= atol + rtol * abs(float(b))


def _matches(got, want, rtol: float, atol: float) -> bool:
    if want is None or isinstance(want, bool):
        return got is want or (isinstance(got, (bool, np.bool_)) and bool(got) == want)
    if isinstance(want, tuple) and want and want[0] in ("<=", ">=", "in"):
        if not _is_finite_number(got):
            return False
        if want[0] == "<=":
            return got <= want[1]
        if want[0] == ">=":
            return got >= want[1]
        return want[1] <= got <= want[2]
    if isinstance(want, (int, float)):
        return _close(got, float(want), rtol, atol)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            _matches(g, w, rtol, atol) for g, w in zip(got, want))
    if isinstance(want, dict):
        return isinstance(got, dict) and set(got) == set(want) and all(
            _matches(got[k], want[k], rtol, atol) for k in want)
    return got == want


def _short(v: Any, limit: int = 160) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _where(exc: BaseException) -> str:
    """The innermost frame of an exception, as package/module:line."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    f = frames[-1]
    parts = Path(f.filename).parts
    for anchor in ("site-packages", "sift_core", "sift_torch", "sift_keras", "sift_reference"):
        if anchor in parts:
            i = parts.index(anchor)
            parts = parts[i + 1:] if anchor == "site-packages" else parts[i:]
            break
    return f"{'/'.join(parts[-3:])}:{f.lineno}"


def _error_text(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters."""
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def classify(case: Case, result: Any, exc: BaseException | None, tmp: Path, ns: dict) -> tuple[str, str]:
    """(outcome, detail) of one case."""
    marker = tmp / "pwned"
    if marker.exists():
        return "code-executed", f"the marker {marker.name} was created by the crafted file"
    if isinstance(exc, ReachedTraining):
        return "unclassified", "accepted: the command went on to train a model (stopped by the audit)"
    after_ok, after_note = True, ""
    if case.after is not None:
        try:
            after_ok = bool(eval(case.after, ns, {"T": tmp, "MARKER": marker}))  # noqa: S307
        except Exception as err:  # noqa: BLE001
            after_ok, after_note = False, f"; the check {case.after!r} raised {_error_text(err)}"
        if not after_ok and not after_note:
            after_note = f"; the check {case.after!r} failed"

    if case.expect == "named-error":
        if exc is None:
            if not _is_finite_number(result) and isinstance(result, (float, np.floating)):
                return "silent-wrong", f"returned {result!r} instead of raising"
            return "unclassified", f"accepted: returned {_short(result)} (an error naming {case.names[0]!r} expected)"
        text = _error_text(exc)
        if isinstance(exc, case.errors) and any(n in str(exc) for n in case.names):
            if not after_ok:
                return "silent-wrong", f"{text}{after_note}"
            return "named-error", text
        why = ("not a documented type" if not isinstance(exc, case.errors)
               else f"message names none of {list(case.names)}")
        return "traceback", f"{text} [{why}; raised at {_where(exc)}]"

    if case.expect == "cli-one-line":
        if exc is not None:
            return "traceback", f"the audit helper raised {_error_text(exc)} at {_where(exc)}"
        r: CliResult = result
        if r.escaped:
            last = r.escaped.strip().splitlines()[-1]
            return "traceback", f"an exception escaped main(): {last}"
        lines = r.err.splitlines()
        one = r.err.endswith("\n") and len(lines) == 1
        line = _short(r.err.strip(), 300)
        if r.rc == 2 and one and "Traceback" not in r.err and any(n in r.err for n in case.names):
            if not after_ok:
                return "silent-wrong", f"exit 2 with {line}{after_note}"
            return "cli-one-line", r.err.strip()
        if r.rc == 0:
            return "unclassified", f"accepted: exit 0 ({_short(r.out.strip()[-200:])})"
        if "Traceback" in r.err:
            return "traceback", f"exit {r.rc}; stderr ends: {_short(r.err.strip().splitlines()[-1])}"
        if r.rc == 2 and one:
            return "traceback", f"exit 2, one line, but it names none of {list(case.names)}: {line}"
        return "traceback", f"exit {r.rc}, {len(lines)} stderr line(s): {_short(r.err.strip()[-300:])}"

    if case.expect == "documented-value":
        if exc is not None:
            return "traceback", f"{_error_text(exc)} at {_where(exc)} (documented value {case.value!r})"
        if _matches(result, case.value, case.rtol, case.atol) and after_ok:
            return "documented-value", f"{_short(result)} ({case.why})"
        return "silent-wrong", f"got {_short(result)}, documented {case.value!r} ({case.why}){after_note}"

    if case.expect == "invariance-ok":
        if exc is not None:
            return "traceback", f"{_error_text(exc)} at {_where(exc)}"
        a, b = result
        if _is_finite_number(b) and _close(a, b, case.rtol, case.atol):
            return "invariance-ok", f"{a!r} vs {b!r}"
        return "silent-wrong", f"{a!r} (transformed) vs {b!r} (plain); rtol {case.rtol:g}"
    raise AssertionError(case.expect)
