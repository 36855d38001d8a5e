"""The namespace every case's ``call`` (and ``after``) is evaluated in: fixtures, libraries and helpers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .helpers_api import (
    dead_feature_loss,
    events_file,
    keras_const_terms,
    keras_edge,
    load_ckpt,
    png_failed_overwrite_keeps,
    recon_file,
    resume_changed,
    resume_damaged,
    sk,
    tf_const,
    tiny_cfg,
    tiny_fit,
    tiny_inverse,
    tiny_model,
)
from .helpers_cli import (
    TINY_SPEC,
    assess_score,
    bad_png_folder,
    cifar_dir,
    cli,
    cli_proc,
    data_spec,
    earlier_run,
    evil_objects,
    foreign_cache,
    idx_dir,
    mkdir,
    npy,
    npz,
    npz_set,
    results,
    spec,
    truncated_npz,
    write,
)

# --------------------------------------------------------------------------- namespace and helpers


def namespace() -> dict[str, Any]:
    import sift_core as sc

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    z = np.tanh(x[:, :3] + 0.5 * rng.normal(size=(40, 3)))
    x_nan = x.copy()
    x_nan[3, 2] = np.nan
    z_inf = z.copy()
    z_inf[5, 1] = np.inf
    fmap = rng.normal(size=(4, 5, 6, 6))
    fmap_nan = fmap.copy()
    fmap_nan[0, 0, 0, 0] = np.nan
    t = np.arange(16) * (2 * np.pi / 16)
    ortho = np.stack([np.cos(t), np.sin(t)])[None].repeat(2, axis=0)  # (2, 2, 16): uncorrelated channels
    xk = rng.normal(size=(200, 2))
    zk = xk[:, :1] + 0.5 * rng.normal(size=(200, 1))
    xa = rng.normal(size=(60, 8))
    za = xa[:, :4] + 0.3 * rng.normal(size=(60, 4))
    xm = rng.normal(size=(64, 2))
    zm = xm + 0.5 * rng.normal(size=(64, 2))
    ns: dict[str, Any] = dict(
        np=np, math=math, sc=sc, Path=Path,
        X=x, Z=z, X_NAN=x_nan, Z_INF=z_inf, C0=np.zeros((40, 3)), C5=np.full((40, 3), 5.0),
        XI=rng.integers(-5, 5, size=(40, 3)), ZB=rng.random((40, 2)) > 0.5,
        XL=rng.normal(size=(300, 3)), ZL=rng.normal(size=(300, 2)),
        DCOR_NORM={}, HSIC_NORM={"normalized": True},
        FMAP=fmap, FMAP_NAN=fmap_nan, ORTHO=ortho,
        XK=xk, ZK=zk, ATOMS3=rng.integers(0, 3, 600).astype(float), ATOMS4=rng.integers(0, 4, 600).astype(float),
        XA=xa, ZA=za, C5A=np.full((60, 4), 5.0), XM=xm, ZM=zm, XS=x[:16], ZS=z[:16],
        TINY_MINE=dict(hidden=(4,), max_steps=20, batch_size=16, eval_every=10, patience=1, folds=2, workers=1),
        IMG=rng.random((3, 1, 12, 12)), IMG8=rng.random((2, 1, 8, 8)),
        LABELS=np.arange(40) % 4, LABELS_2_40=np.where(np.arange(40) == 3, 2**40, np.arange(40) % 4),
        TINY_SPEC=TINY_SPEC,
    )
    ns.update({f.__name__: f for f in (
        png_failed_overwrite_keeps, cli, cli_proc, spec, write, mkdir, data_spec, cifar_dir, npz_set, evil_objects,
        idx_dir, bad_png_folder, npz, npy, truncated_npz, assess_score, results, earlier_run, foreign_cache, sk,
        keras_edge, tf_const, keras_const_terms, recon_file, events_file)})
    try:
        from sift_reference import runner
        from sift_reference.spec import ATTACKER_DIR
    except ImportError:
        runner, ATTACKER_DIR = None, "attacker"
    ns.update(runner=runner, ATTACKER_DIR=ATTACKER_DIR)
    try:
        import torch
    except ImportError:
        return ns
    torch.set_num_threads(1)
    import sift_torch as st
    from torch import nn

    g = torch.Generator().manual_seed(0)
    ns.update(
        torch=torch, nn=nn, st=st,
        TX=torch.rand(16, 1, 8, 8, generator=g), TY=torch.arange(16) % 2,
        TZ=torch.rand(16, 3, 4, 4, generator=g), TL=torch.randn(16, 2, generator=g),
        EDGE=nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU()),
        TINY_MINE_TORCH=dict(hidden=(4,), max_steps=20, batch_size=16, eval_every=10, patience=1, folds=2),
    )
    ns.update({f.__name__: f for f in (tiny_model, tiny_cfg, tiny_fit, resume_changed, resume_damaged, load_ckpt,
                                       tiny_inverse, dead_feature_loss)})
    return ns
