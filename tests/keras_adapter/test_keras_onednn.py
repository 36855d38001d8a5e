"""sift_keras turns TensorFlow's oneDNN CPU kernels on unless the user chose, before TensorFlow loads.

TensorFlow enables them by default only on some CPUs; without them the funnel's attention gates
(7x7 convolutions with 2 input channels) trained several times slower (docs/keras.md, "Speed").
Each case runs in a fresh interpreter: the choice is made when TensorFlow is first imported.
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's kernels")

PROBE = """
import os
import sift_keras  # noqa: F401  (imports TensorFlow through Keras)
from tensorflow.python.util import _pywrap_util_port as port
print(os.environ.get("TF_ENABLE_ONEDNN_OPTS"), port.IsMklEnabled())
"""


def _probe(value):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = value
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()[-2:]


def test_onednn_is_on_by_default():
    assert _probe(None) == ["1", "True"]


def test_the_users_choice_is_kept():
    assert _probe("0") == ["0", "False"]
