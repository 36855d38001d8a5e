"""sift_reference: the reference evaluation of SiftFunnel and the ``siftfunnel`` command.

``run_experiment(spec, out)`` trains every defence of a spec, measures accuracy and
edge cost, attacks each defence (inverse network, rMLE), assesses its features
with ``sift_core.criterion`` and writes ``results.json``, ``report.md`` and figures.
Frameworks are imported only by the backend that is selected. The package logs to
``logging.getLogger("sift_reference")`` and adds no handlers; the command configures logging.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from sift_core import __version__

if TYPE_CHECKING:
    from .datasets import DataSplits, ImageSet, load_dataset
    from .report import spearman
    from .runner import run_experiment
    from .spec import ExperimentSpec, SpecError, load_spec, spec_from_dict

logger = logging.getLogger("sift_reference")

# TensorFlow's oneDNN CPU kernels, as sift_keras sets them: the harness may import TensorFlow (to
# size its thread pools) before sift_keras; TF_ENABLE_ONEDNN_OPTS=0 keeps them off
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# Imported on first use: the spec reader needs tomli on Python 3.10 (the ``cli`` extra), and
# ``siftfunnel --version`` must work with the base install.
_EXPORTS = {
    "DataSplits": "datasets",
    "ImageSet": "datasets",
    "load_dataset": "datasets",
    "spearman": "report",
    "run_experiment": "runner",
    "ExperimentSpec": "spec",
    "SpecError": "spec",
    "load_spec": "spec",
    "spec_from_dict": "spec",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def command(argv: list[str] | None = None) -> int:
    """Entry point of the ``siftfunnel`` script: :func:`sift_reference.cli.main`, or one line naming a missing extra."""
    try:
        from .cli import main
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in ("sift_core", "sift_reference"):
            raise
        print(f"siftfunnel: error: {exc.name} is not installed; the command needs the cli extra: "
              "pip install 'siftfunnel[cli]'", file=sys.stderr)
        return 2
    return main(argv)


__all__ = [
    "__version__",
    "DataSplits",
    "ExperimentSpec",
    "ImageSet",
    "SpecError",
    "load_dataset",
    "load_spec",
    "run_experiment",
    "spec_from_dict",
    "spearman",
]
