"""Sanity checks on a training run's logged numbers, shared by the adapters (pure Python, no framework).

``sift_torch.Trainer`` and ``sift_keras.SplitModel.fit`` both call :func:`accuracy_at_chance`
at the end of every epoch and warn (``ChanceAccuracyWarning``) when it is true, so the rule
and its thresholds are written once.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = ["chance_threshold", "accuracy_at_chance", "MIN_EPOCHS", "MIN_STEPS"]

#: epochs and optimiser steps before the rule judges: tiny datasets take a few epochs of a
#: handful of steps to move away from chance, and an early verdict would be a false alarm
MIN_EPOCHS = 3
MIN_STEPS = 100


def _count(value, name: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def chance_threshold(num_classes: int) -> float:
    """Chance plus a tenth of the way to 1: ``1/k + 0.1 (1 - 1/k)`` (0.19 for 10 classes, 0.55 for 2)."""
    k = _count(num_classes, "num_classes", low=2)
    return 1.0 / k + 0.1 * (1.0 - 1.0 / k)


def accuracy_at_chance(accuracy: float, *, num_classes: int, epochs: int, steps: int,
                       min_epochs: int = MIN_EPOCHS, min_steps: int = MIN_STEPS) -> bool:
    """Whether a run whose training ``accuracy`` (over its last epoch) is still about chance is not learning.

    ``epochs`` and ``steps`` are the epochs and optimiser steps done so far (counting a resumed
    run's earlier ones).  True only once both reach ``min_epochs`` and ``min_steps`` and
    ``accuracy < chance_threshold(num_classes)``.  A NaN accuracy (no sample seen) or fewer
    than 2 classes is never judged.
    """
    if isinstance(accuracy, bool) or not isinstance(accuracy, Real):
        raise TypeError(f"accuracy must be a real number; got {type(accuracy).__name__}")
    epochs = _count(epochs, "epochs", low=0)
    steps = _count(steps, "steps", low=0)
    if isinstance(num_classes, bool) or not isinstance(num_classes, Integral):
        raise TypeError(f"num_classes must be an integer; got {type(num_classes).__name__}")
    if num_classes < 2 or math.isnan(accuracy) or epochs < min_epochs or steps < min_steps:
        return False
    return float(accuracy) < chance_threshold(num_classes)
