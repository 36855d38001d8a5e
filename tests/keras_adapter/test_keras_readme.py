"""The Keras snippet of README.md runs as written (fewer epochs, a small edge and cloud)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")


def test_readme_keras_snippet_protects_attacks_and_exports(tmp_path, monkeypatch, capsys):
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Protecting a Keras split model", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    # the snippet's settings, shortened for a test: one epoch of the target, one of the decoder
    code = re.sub(r"epochs=\d+", "epochs=1", code)
    code = code.replace("InverseNetworkAttack(model,", "InverseNetworkAttack(model, epochs=1, width=16,")
    rng = np.random.default_rng(0)
    x = rng.random((96, 16, 16, 1), dtype=np.float32)
    y = rng.integers(0, 10, 96)
    edge = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(128, 3, padding="same", activation="relu"),
                             keras.layers.MaxPooling2D()])
    cloud = keras.Sequential([keras.Input((8, 8, 128)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    monkeypatch.chdir(tmp_path)
    namespace = {"edge": edge, "cloud": cloud, "x_train": x[:64], "y_train": y[:64], "x_aux": x[64:80],
                 "x_private": x[80:]}
    exec(compile(code, "README.md", "exec"), namespace)
    assert "SSIM" in capsys.readouterr().out
    assert (tmp_path / "edge.tflite").stat().st_size > 0
    z = namespace["model"].edge(x[:2])
    assert tuple(z.shape) == (2, 8, 8, 12)
