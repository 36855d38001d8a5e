"""README.md stays true: its examples run as written, its quick start is what CI runs.

The python blocks of a section are executed with small stand-ins for the names the README
leaves to the reader (``loader``, ``x_aux``, ``edge`` ...) and fewer epochs. This file needs
only pytest and the framework of each example, so tox runs it with nothing but one extra
installed (the ``readme-torch`` and ``readme-keras`` environments).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"README.md has no section '## {title}'"
    return m.group(1)


def code_blocks(title: str, language: str = "python") -> list[str]:
    blocks = re.findall(rf"```{language}\n(.*?)```", section(title), re.S)
    assert blocks, f"README.md's section '{title}' has no {language} block"
    return blocks


def shorten_epochs(code: str) -> str:
    """Every ``epochs=N`` of the snippet set to 1 (the README's settings are for real use)."""
    return re.sub(r"\bepochs=\d+", "epochs=1", code)


def run_block(code: str, namespace: dict, name: str) -> list:
    """Execute ``code`` in ``namespace``; returns the values of its top-level expression statements."""
    values = []
    for node in ast.parse(code).body:
        if isinstance(node, ast.Expr):
            values.append(eval(compile(ast.Expression(node.value), f"README.md ({name})", "eval"), namespace))
        else:
            exec(compile(ast.Module([node], type_ignores=[]), f"README.md ({name})", "exec"), namespace)
    return values


def _dcor_v(x: np.ndarray, z: np.ndarray) -> float:
    """V-statistic distance correlation from Euclidean distances (Szekely, Rizzo and Bakirov 2007), plainly."""
    def centred(a):
        d = np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1))
        return d - d.mean(0) - d.mean(1)[:, None] + d.mean()

    a, b = centred(x.reshape(len(x), -1)), centred(z.reshape(len(z), -1))
    return float(np.sqrt((a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean())))


def test_quick_start_is_two_one_line_commands_and_ci_runs_the_second():
    main_job, tests = (b.strip() for b in code_blocks("Quick start", "bash"))
    for command in (main_job, tests):
        assert "\n" not in command
        # a virtual environment first: Debian's and Ubuntu's Pythons refuse pip installs outside one
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
    assert "siftfunnel demo" in main_job and "constraints.txt" in main_job
    assert tests.endswith("python3 -m tox")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci, ".ci/run must run the README's test command verbatim"


def test_measuring_dependence():
    pytest.importorskip("numba")
    (code,) = code_blocks("Measuring dependence")
    namespace: dict = {}
    dcor_v, dcor2_u, hsic_n, redundancy = run_block(code, namespace, "Measuring dependence")
    x, z = namespace["x"], namespace["z"]
    # z = tanh of a slice of x: strongly dependent, and the V-statistic matches the plain formula
    assert dcor_v == pytest.approx(_dcor_v(x, z), rel=1e-6)
    assert 0.5 < dcor_v <= 1.0
    assert 0.0 < dcor2_u <= 1.0 and dcor2_u < dcor_v  # the bias-corrected square sits below the V-statistic
    assert 0.0 < hsic_n <= 1.0
    # independent uniform channels are nearly uncorrelated: R_P near 0 (each C_ij^2 about 1/256 here)
    assert 0.0 <= redundancy < 0.05


def test_protecting_a_pytorch_split_model(capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("sift_torch")
    (code,) = code_blocks("Protecting a PyTorch split model")
    code = shorten_epochs(code)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(48, 1, 28, 28, generator=g)
    labels = torch.randint(0, 10, (48,), generator=g)
    namespace = {
        "loader": [(images[i:i + 16], labels[i:i + 16]) for i in range(0, 32, 16)],
        "x_aux": images[32:44],
        "x_private": images[44:],
    }
    torch.manual_seed(0)
    run_block(code, namespace, "Protecting a PyTorch split model")
    assert namespace["opt"].state, "the training loop took no optimiser step"
    assert set(namespace["loss_fn"].terms) >= {"task", "dcor", "l1", "redundancy"}
    model = namespace["model"].eval()
    with torch.no_grad():
        z = model.edge(images[:2])
    assert z.shape[:2] == (2, 8)  # the funnel narrows the 32 channels to out_channels = 8
    printed = capsys.readouterr().out.lower()
    assert "ssim" in printed and "psnr" in printed


def test_protecting_a_keras_split_model(tmp_path, monkeypatch, capsys):
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    pytest.importorskip("sift_keras")
    (code,) = code_blocks("Protecting a Keras split model")
    code = shorten_epochs(code)
    # the attacker's decoder, shortened like the target's training (the README leaves its defaults)
    assert "InverseNetworkAttack(model," in code
    code = code.replace("InverseNetworkAttack(model,", "InverseNetworkAttack(model, epochs=1, width=16,")
    rng = np.random.default_rng(0)
    x = rng.random((96, 16, 16, 1), dtype=np.float32)
    y = rng.integers(0, 10, 96)
    keras.utils.set_random_seed(0)
    edge = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(128, 3, padding="same", activation="relu"),
                             keras.layers.MaxPooling2D()])
    cloud = keras.Sequential([keras.Input((8, 8, 128)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    monkeypatch.chdir(tmp_path)  # BackupAndRestore("backup") and edge.tflite are written here
    namespace = {"edge": edge, "cloud": cloud, "x_train": x[:64], "y_train": y[:64], "x_aux": x[64:80],
                 "x_private": x[80:]}
    run_block(code, namespace, "Protecting a Keras split model")
    assert "ssim" in capsys.readouterr().out.lower()
    assert (tmp_path / "edge.tflite").stat().st_size > 0
    z = namespace["model"].edge(x[:2])
    assert tuple(z.shape) == (2, 8, 8, 12)  # the funnel sends 12 channels where the edge made 128
