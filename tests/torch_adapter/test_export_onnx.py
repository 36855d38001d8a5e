"""ONNX export of the edge: onnxruntime computes the same features as torch."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("sift_torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Measured over both edges, 5 batches of 16: largest |ort - torch| / max|torch| 4.7e-7 (float32
# rounding of reordered sums); 1e-5 leaves room for other CPUs while catching any real mismatch.
REL_TOL = 1e-5


def _trained_like(model):
    """Non-trivial BatchNorm statistics, as after training (fresh ones are 0/1 and would hide a mismatch)."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model


@pytest.mark.parametrize("defence", [None, "siftfunnel"])
def test_onnxruntime_matches_torch(tmp_path, defence):
    model = _trained_like(st.build_split("cnn", defence=defence, in_channels=1, image_size=28, num_classes=10,
                                         width=8, seed=0))
    model.train()
    path = st.export_onnx(model, tmp_path / "sub" / "edge.onnx", input_shape=(1, 28, 28))
    assert path == os.fspath(tmp_path / "sub" / "edge.onnx")
    assert model.training  # the caller's mode is restored
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["edge.onnx"]  # no temporary file left

    model.eval()
    rng = np.random.default_rng(0)
    for n in (5, 1):  # batch sizes other than the traced one: the batch axis is dynamic
        x = rng.random((n, 1, 28, 28), dtype=np.float32)
        with torch.no_grad():
            ref = model.edge(torch.from_numpy(x)).numpy()
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = session.run(["z"], {"x": x})[0]
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= REL_TOL * np.abs(ref).max()
        np.testing.assert_array_equal(st.onnx_features(path, x), got)
    # the funnel sends 12 channels where the undefended CNN sends width * 2
    assert ref.shape[1] == (12 if defence == "siftfunnel" else 16)


def test_a_bare_edge_module_and_replacement(tmp_path):
    edge = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten())
    path = tmp_path / "edge.onnx"
    path.write_bytes(b"an older export")
    st.export_onnx(edge, path, input_shape=(3, 8, 8))
    x = np.random.default_rng(1).random((3, 3, 8, 8), dtype=np.float32)
    with torch.no_grad():
        ref = edge(torch.from_numpy(x)).numpy()
    got = st.onnx_features(path, x)
    assert got.shape == (3, 4 * 8 * 8)
    assert np.abs(got - ref).max() <= REL_TOL * np.abs(ref).max()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"input_shape": (1, 0, 28)}, "input_shape"),
    ({"input_shape": ()}, "input_shape"),
    ({"input_shape": (1, 28.5, 28)}, "input_shape"),
    ({"input_shape": (1, 28, 28), "opset": 3}, "opset"),
])
def test_bad_arguments_name_themselves(tmp_path, kwargs, match):
    edge = torch.nn.Conv2d(1, 2, 3)
    with pytest.raises(ValueError, match=match):
        st.export_onnx(edge, tmp_path / "e.onnx", **kwargs)
    with pytest.raises(TypeError, match="edge"):
        st.export_onnx("not a module", tmp_path / "e.onnx", input_shape=(1, 8, 8))
    assert not list(tmp_path.iterdir())


def test_onnx_features_checks_the_sample_shape(tmp_path):
    path = st.export_onnx(torch.nn.Conv2d(1, 2, 3), tmp_path / "e.onnx", input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 8, 8\)"):
        st.onnx_features(path, np.zeros((2, 1, 9, 9), np.float32))


def test_onnx_features_names_a_missing_or_unloadable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no ONNX file"):
        st.onnx_features(tmp_path / "absent.onnx", np.zeros((1, 1, 8, 8), np.float32))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a protobuf" * 4)
    with pytest.raises(ValueError, match=f"path: '{bad}' is not a loadable ONNX model"):
        st.onnx_features(bad, np.zeros((1, 1, 8, 8), np.float32))
