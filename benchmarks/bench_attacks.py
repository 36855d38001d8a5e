"""Attack strength and time on models a `siftfunnel run` trained (on the run's backend).

    python benchmarks/bench_attacks.py RUN_DIR [--defences none siftfunnel] \
        [--attacks inverse_network rmle hybrid generative] [--set attack.key=value ...]

Loads the spec and the trained models of RUN_DIR, runs each attack of the suite with the
spec's settings (overridden by ``--set``, e.g. ``--set inverse_network.lr=0.001``) and prints
MSE / PSNR / SSIM (``sift_core.inversion.reconstruction_scores``), the relative feature error,
the wall time and how the attack ended (epochs or steps run, converged or stopped by its
budget). The results recorded in docs/attacks.md come from this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--defences", nargs="+")
    p.add_argument("--attacks", nargs="+", default=["inverse_network", "rmle", "hybrid", "generative"])
    p.add_argument("--set", nargs="*", default=[], dest="overrides")
    args = p.parse_args()

    from sift_reference.backends import get_backend, unwrap_reconstructions
    from sift_reference.datasets import load_dataset
    from sift_reference.report import convergence_text
    from sift_reference.spec import spec_from_dict

    from sift_core.inversion import reconstruction_scores, relative_feature_error

    run = Path(args.run)
    spec = spec_from_dict(json.loads((run / "spec.json").read_text()))
    for item in args.overrides:
        key, value = item.split("=", 1)
        attack, field = key.split(".", 1)
        cfg = getattr(spec.attacks, attack)
        kind = type(getattr(cfg, field))
        cast = float if kind is float else (int if kind is int else json.loads)
        spec = dataclasses.replace(spec, attacks=dataclasses.replace(
            spec.attacks, **{attack: dataclasses.replace(cfg, **{field: cast(value)})}))
    ds = spec.dataset
    data = load_dataset(ds.name, path=ds.path, image_size=ds.image_size, resize=ds.resize,
                        n_target_train=ds.n_target_train, n_target_test=ds.n_target_test,
                        n_attacker_aux=ds.n_attacker_aux, n_private_eval=ds.n_private_eval,
                        split_seed=ds.split_seed, private_classes=ds.private_classes)
    backend = get_backend(spec.backend)
    names = args.defences or [d.name for d in spec.defences]
    cache_dir = run / "cache" / "_attacker"
    print(f"{'defence':<12} {'attack':<16} {'MSE':>8} {'PSNR':>7} {'SSIM':>6} {'feat.err':>8} {'s':>6}")
    for d in spec.defences:
        if d.name not in names:
            continue
        workdir = next((run / "cache" / d.name).glob("train-*"))
        handle = backend.load(spec=spec, defence=d, data=data, workdir=workdir)
        inverse = None
        for attack in args.attacks:
            t0 = time.perf_counter()
            x = data.private_eval.x[: spec.attacks.n_images(attack, len(data.private_eval))]
            if attack == "hybrid" and inverse is None:
                inverse, _ = unwrap_reconstructions(backend.attack(
                    "inverse_network", handle, aux_x=data.attacker_aux.x, private_x=data.private_eval.x,
                    cfg=spec.attacks.inverse_network, seed=spec.seed, progress=False))
            recon, info = unwrap_reconstructions(backend.attack(
                attack, handle, aux_x=data.attacker_aux.x, private_x=x, cfg=getattr(spec.attacks, attack),
                seed=spec.seed, progress=False, init=None if inverse is None else inverse[: len(x)],
                cache_dir=cache_dir))
            if attack == "inverse_network" and len(x) == len(data.private_eval):
                inverse = recon
            s = reconstruction_scores(x, recon)
            z = backend.features(handle, x)
            fe = relative_feature_error(backend.features(handle, np.asarray(recon, dtype=np.float32)), z)
            print(f"{d.name:<12} {attack:<16} {s['mse']:>8.4f} {s['psnr']:>7.2f} {s['ssim']:>6.3f} {fe:>8.4f} "
                  f"{time.perf_counter() - t0:>6.1f}  {convergence_text(info)}", flush=True)


if __name__ == "__main__":
    main()
