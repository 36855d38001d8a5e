"""The audit's cases: the :class:`Case` record, the outcome classes and the ``E``/``V``/``I``/``C`` constructors.

Each constructor appends one case to :data:`CASES`; the catalogue modules (``cases_core``,
``cases_frameworks``, ``cases_cli``) call them when the package is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASSES = ("named-error", "cli-one-line", "documented-value", "invariance-ok")
FAILURES = ("traceback", "silent-wrong", "code-executed")
OTHER = ("unclassified", "skipped")
CLASSES = PASSES + FAILURES + OTHER
VT = (ValueError, TypeError)


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    id: str
    target: str
    description: str
    call: str
    expect: str
    names: tuple[str, ...] = ()  # named-error / cli-one-line: the message must contain one of these
    errors: tuple[type, ...] = VT  # named-error: the documented exception types
    value: Any = None  # documented-value: the value, or ("<=", b) / (">=", b) / ("in", lo, hi)
    why: str = ""  # where the documented value comes from
    rtol: float = 1e-9
    atol: float = 1e-12
    after: str | None = None  # an expression that must be true after the call (e.g. a cache kept)
    needs: str = ""  # "torch" / "keras": skipped when that framework is missing


CASES: list[Case] = []


def E(id, target, description, call, names, errors=VT, *, after=None, needs=""):
    """A bad input that must raise a documented error naming ``names``."""
    names = (names,) if isinstance(names, str) else tuple(names)
    CASES.append(Case(id, target, description, call, "named-error", names=names, errors=errors, after=after,
                      needs=needs))


def V(id, target, description, call, value, why, *, rtol=1e-9, atol=1e-12, needs=""):
    """A degenerate valid input with a documented (independently known) value."""
    CASES.append(Case(id, target, description, call, "documented-value", value=value, why=why, rtol=rtol,
                      atol=atol, needs=needs))


def I(id, target, description, call, *, rtol=1e-9, atol=1e-12, needs=""):  # noqa: E743
    """``call`` returns (value on transformed input, value on plain input); they must agree."""
    CASES.append(Case(id, target, description, call, "invariance-ok", rtol=rtol, atol=atol, needs=needs))


def C(id, target, description, call, names, *, after=None, needs=""):
    """A user error of the command: exit 2, one line naming ``names``, no traceback."""
    names = (names,) if isinstance(names, str) else tuple(names)
    CASES.append(Case(id, target, description, call, "cli-one-line", names=names, after=after, needs=needs))
