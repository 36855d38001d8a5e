"""sift_reference: the reference evaluation of SiftFunnel and the ``siftfunnel`` command.

``run_experiment(spec, out)`` trains every defence of a spec, measures accuracy and
edge cost, attacks each defence (inverse network, rMLE), assesses its features
with ``sift_core.criterion`` and writes ``results.json``, ``report.md`` and figures.
Frameworks are imported only by the backend that is selected.
"""

from __future__ import annotations

from .datasets import DataSplits, ImageSet, load_dataset
from .report import spearman
from .runner import run_experiment
from .spec import ExperimentSpec, SpecError, load_spec, spec_from_dict

__all__ = [
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
