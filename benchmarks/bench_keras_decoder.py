"""Time the Keras inverse network's decoder epoch by epoch: tf.data autotuning on against off, and
the BatchNorm recalibration that follows every epoch.

    python benchmarks/bench_keras_decoder.py              # the demo's decoder: 8x8x32 features -> 28x28x1
    python benchmarks/bench_keras_decoder.py --epochs 20

Each epoch is one ``fit`` call on 1,792 rows in batches of 64 (the harness's pattern: one call per
epoch, a new order each time). The two input paths alternate epoch by epoch on the same decoder, so
machine load affects both alike: ``autotuned`` gives ``fit`` the arrays (Keras builds a tf.data
pipeline with TensorFlow's default options), ``untuned`` gives it
``sift_keras.data.ordered_fit_inputs`` (the same batches, autotuning off; what the attack uses).
With autotuning on, about half of the epochs stalled for a constant ~1.2 s on a 2-core machine
(docs/keras.md, "Speed"); the stalled epochs show as a second mode in the list printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sift_keras._keras import keras  # through sift_keras: TF_ENABLE_ONEDNN_OPTS is set before TensorFlow loads
from sift_keras.attacks.decoder import build_decoder
from sift_keras.attacks.inverse_network import recalibrate_batchnorm
from sift_keras.data import ordered_fit_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs per input path (default 12)")
    args = parser.parse_args()
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("this benchmark times TensorFlow's input pipeline: KERAS_BACKEND=tensorflow")
    rng = np.random.default_rng(0)
    z = rng.random((1792, 8, 8, 32), dtype=np.float32)
    x = rng.random((1792, 28, 28, 1), dtype=np.float32)
    decoder = build_decoder(z.shape[1:], x.shape[1:], width=64)
    decoder.compile(optimizer=keras.optimizers.Adam(0.01, beta_1=0.5), loss="mse")
    paths = {
        "autotuned": lambda zz, xx: {"x": zz, "y": xx, "batch_size": 64, "shuffle": False},
        "untuned": lambda zz, xx: ordered_fit_inputs(zz, xx, batch_size=64),
    }
    for make in paths.values():  # trace both paths once before timing
        decoder.fit(**make(z, x), epochs=1, verbose=0)
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.epochs):
        for name, make in paths.items():
            order = rng.permutation(len(z))
            t0 = time.perf_counter()
            decoder.fit(**make(z[order], x[order]), epochs=1, verbose=0)
            times[name].append(time.perf_counter() - t0)
    recalibrate_batchnorm(decoder, z[:512])
    recal = []
    for _ in range(10):
        t0 = time.perf_counter()
        recalibrate_batchnorm(decoder, z[:512])
        recal.append(time.perf_counter() - t0)
    for name, ts in times.items():
        print(f"{name:>9}: median {statistics.median(ts):.2f} s, max {max(ts):.2f} s per epoch; "
              f"epochs: {' '.join(f'{t:.2f}' for t in ts)}")
    ratio = statistics.mean(times["autotuned"]) / statistics.mean(times["untuned"])
    print(f"ratio of means autotuned / untuned: {ratio:.2f}")
    print(f"recalibrate_batchnorm on 512 rows: median {statistics.median(recal):.3f} s")


if __name__ == "__main__":
    main()
