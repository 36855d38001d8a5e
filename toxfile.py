"""tox plugin, loaded by tox from this file: offer the Pythons that pyenv installed to tox's discovery.

pyenv puts its interpreters on PATH only as shims that run the version pyenv has
selected, so ``python3.10`` fails where 3.11 is selected even when 3.10 is
installed. Trying each installed interpreter first lets the ``core-py3XX``
environments run on every version present; absent versions are skipped
(``skip_missing_interpreters``). Without pyenv this adds nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from tox.plugin import impl


def pyenv_pythons() -> list[str]:
    """The ``python3`` executables of pyenv's CPython 3.10+ installs, sorted (empty without pyenv)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if not root.is_dir():
        return []
    return [str(exe) for exe in sorted(root.glob("3.1[0-9].*/bin/python3")) if os.access(exe, os.X_OK)]


@impl
def tox_add_core_config(state) -> None:
    # pluggy passes only the hook arguments named here
    options = state.conf.options
    if hasattr(options, "discover"):
        options.discover = [*options.discover, *(p for p in pyenv_pythons() if p not in options.discover)]
