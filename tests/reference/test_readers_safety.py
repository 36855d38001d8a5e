"""Readers on hostile or malformed files: no code runs from a pickle, labels are checked, errors name the file."""

from __future__ import annotations

import os
import pickle
import subprocess

import numpy as np
import pytest
from sift_reference import datasets, readers


def _batch(n=5, seed=0, extra=None):
    rng = np.random.default_rng(seed)
    d = {b"batch_label": b"training batch 1 of 5", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"labels": [int(v) for v in rng.integers(0, 10, n)], b"filenames": [b"img%d.png" % i for i in range(n)]}
    d.update(extra or {})
    return d


class _Exploit:
    """A pickle whose loading calls ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _evil_payloads(marker):
    cmd = f"touch {marker}"
    return {
        "os.system": _Exploit(os.system, cmd),
        "builtins.exec": _Exploit(exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": _Exploit(subprocess.Popen, ["touch", str(marker)]),
        "builtins.eval in a dict": {b"data": _Exploit(eval, f"open({str(marker)!r}, 'w')"), b"labels": [0]},
    }


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "subprocess.Popen", "builtins.eval in a dict"])
def test_a_crafted_cifar_pickle_is_refused_and_runs_nothing(tmp_path, kind, protocol):
    marker = tmp_path / "pwned"
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(_evil_payloads(marker)[kind], protocol=protocol))
    with pytest.raises(ValueError, match=r"data_batch_1.*(system|exec|Popen|eval)"):
        readers.read_cifar_dataset(tmp_path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="data_batch_1"):
        datasets.load_pools("cifar", str(tmp_path))
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_cifar_batch_still_loads(tmp_path, protocol):
    train, test = _batch(6, seed=1), _batch(4, seed=2)
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(train, protocol=protocol))
    (tmp_path / "test_batch").write_bytes(pickle.dumps(test, protocol=protocol))
    out = readers.read_cifar_dataset(tmp_path)
    x, y = out["train"]
    assert x.shape == (6, 3, 32, 32) and x.dtype == np.float32
    np.testing.assert_array_equal(y, train[b"labels"])
    # channel-major rows: the first 1024 bytes are the red plane of image 0
    np.testing.assert_allclose(x[0, 0].ravel(), train[b"data"][0, :1024] / 255.0, rtol=1e-6)
    assert out["test"][0].shape == (4, 3, 32, 32)


def test_cifar100_with_str_keys_and_numpy_labels(tmp_path):
    d = {"data": np.zeros((3, 3072), np.uint8), "fine_labels": np.array([99, 0, 5]), "coarse_labels": [1, 2, 3]}
    (tmp_path / "train").write_bytes(pickle.dumps(d, protocol=4))
    x, y = readers.read_cifar_dataset(tmp_path)["train"]
    assert x.shape == (3, 3, 32, 32) and list(y) == [99, 0, 5]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not a readable CIFAR"),
    (pickle.dumps(_batch(2))[:40], "not a readable CIFAR"),
    (pickle.dumps([1, 2, 3]), "holds a list"),
    (pickle.dumps({b"pixels": np.zeros(3)}), "lacks the CIFAR keys"),
    (pickle.dumps(_batch(2, extra={b"data": np.zeros((2, 100), np.uint8)})), r"\(N, 3072\) uint8"),
    (pickle.dumps(_batch(2, extra={b"labels": [1, 2, 3]})), "2 images but 3 labels"),
    (pickle.dumps(_batch(2, extra={b"labels": [1, 2**40]})), "at most 100000"),
    (pickle.dumps(_batch(2, extra={b"labels": [-1, 2]})), "non-negative"),
])
def test_malformed_cifar_batches_get_named_errors(tmp_path, content, message):
    (tmp_path / "data_batch_1").write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        readers.read_cifar_dataset(tmp_path)
    assert "data_batch_1" in str(info.value)


@pytest.mark.parametrize(("labels", "message"), [
    (np.array([0, 1, 2**40, 3]), "at most 100000"),
    (np.array([0, -3, 1, 2]), "non-negative"),
    (np.array([0.0, 1.5, 2.0, 3.0]), "whole numbers"),
    (np.array([0.0, np.nan, 2.0, 3.0]), "whole numbers"),
    (np.array([[0, 1], [2, 3]]), "1-D"),
    (np.array(["a", "b", "c", "d"]), "integers"),
    (np.array([0, 1, 2**63, 3], dtype=np.uint64), "at most 100000"),
])
def test_npz_labels_are_checked_before_any_allocation(tmp_path, labels, message):
    path = tmp_path / "set.npz"
    np.savez(path, x=np.zeros((4, 8, 8), np.uint8), y=labels)
    with pytest.raises(ValueError, match=message) as info:
        datasets.load_dataset("npz", path=str(path), n_target_test=1, n_attacker_aux=1, n_private_eval=1)
    assert "set.npz" in str(info.value)


def test_whole_float_labels_and_the_class_count(tmp_path):
    path = tmp_path / "set.npz"
    np.savez(path, x=np.zeros((8, 8, 8), np.uint8), y=np.array([0.0, 1, 2, 3, 4, 5, 6, 99999]))
    data = datasets.load_dataset("npz", path=str(path), n_target_test=1, n_attacker_aux=1, n_private_eval=1)
    assert data.num_classes == readers.MAX_CLASSES
    assert data.target_train.y.dtype == np.int64


def test_npz_archives_with_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.zeros((2, 4, 4)), y=np.array([{"a": 1}, {"b": 2}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        readers.read_npz_dataset(path)


def test_idx_files_with_a_short_header_or_huge_labels(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02\x00\x01")
    with pytest.raises(ValueError, match="cut short"):
        readers.read_idx_dataset(tmp_path)
    images = b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (2).to_bytes(4, "big") * 2 + bytes(8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(images)
    labels = b"\x00\x00\x0c\x01" + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + (2**31 - 1).to_bytes(4, "big")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*at most 100000"):
        readers.read_idx_dataset(tmp_path)
