"""The bad-input audit behind ``benchmarks/audit_bad_inputs.py`` (see that script's docstring).

Modules: ``cases`` (the Case record, the E/V/I/C constructors and the registry ``CASES``), the catalogue
``cases_core`` (sift_core), ``cases_frameworks`` (sift_torch, sift_keras, run-folder files) and ``cases_cli``
(the siftfunnel command), ``namespace`` with ``helpers_api`` and ``helpers_cli`` (what the case expressions
call), ``classify``, ``runner`` and ``report``.  Importing the package registers the cases, nothing else.
"""

from __future__ import annotations

from .cases import CASES

# The catalogue, in the order the cases run and are reported: each module registers its cases on import.
# isort: off
from . import cases_core  # noqa: F401
from . import cases_frameworks  # noqa: F401
from . import cases_cli  # noqa: F401
# isort: on

__all__ = ["CASES"]
