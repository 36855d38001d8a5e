"""Learning at chance: sift_core's rule (both adapters' ChanceAccuracyWarning) on hand-made numbers."""

from __future__ import annotations

import math

import pytest

from sift_core.training_checks import accuracy_at_chance, chance_threshold


def test_threshold_is_chance_plus_a_tenth_of_the_way_to_one():
    assert chance_threshold(10) == pytest.approx(0.19)
    assert chance_threshold(2) == pytest.approx(0.55)
    with pytest.raises(ValueError, match="num_classes"):
        chance_threshold(1)


@pytest.mark.parametrize("accuracies, steps_per_epoch, expected", [
    ([0.10, 0.11, 0.12], 40, True),    # 3 epochs, 120 steps, still at chance
    ([0.10, 0.11], 400, False),        # too early: 2 epochs
    ([0.10, 0.10, 0.10], 30, False),   # too early: 90 steps
    ([0.10, 0.30, 0.60], 40, False),   # learning
    ([0.10, 0.11, 0.19], 40, False),   # at the threshold counts as learning
    ([0.5, 0.5, math.nan], 40, False),  # no sample seen: not judged
])
def test_rule_on_hand_made_runs(accuracies, steps_per_epoch, expected):
    epochs = len(accuracies)
    got = accuracy_at_chance(accuracies[-1], num_classes=10, epochs=epochs, steps=epochs * steps_per_epoch)
    assert got is expected


def test_rule_rejects_bad_input_by_name():
    assert accuracy_at_chance(0.0, num_classes=1, epochs=5, steps=500) is False  # one class: nothing to judge
    for kwargs, name, exc in (({"epochs": -1}, "epochs", ValueError), ({"steps": 1.5}, "steps", ValueError),
                              ({"num_classes": 2.0}, "num_classes", TypeError)):
        with pytest.raises(exc, match=name):
            accuracy_at_chance(0.1, **{"num_classes": 10, "epochs": 3, "steps": 100, **kwargs})
    with pytest.raises(TypeError, match="accuracy"):
        accuracy_at_chance("0.1", num_classes=10, epochs=3, steps=100)
