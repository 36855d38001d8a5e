"""Time one training step with SiftFunnelLoss against a plain cross-entropy step (same model).

    python benchmarks/bench_torch_step.py                 # CPU, batch 128, funnel CNN on 1x32x32
    python benchmarks/bench_torch_step.py --device cuda   # the same on a GPU

A step is zero_grad + forward + loss + backward + Adam step.  The two kinds of
step alternate, so machine load affects both alike; medians are reported.
Target: SiftFunnel / CE at most 1.15.  It also times SiftFunnel with
distillation (``distill=2``: a forward pass of an undefended teacher per step)
and, for reference, a step of the undefended CNN split (the authors' code took
about 1.7x that, docs/method.md).  On CUDA it checks that the loss path never
synchronises with
the host (``torch.cuda.set_sync_debug_mode("error")``): the penalties stay on
the device.
"""

from __future__ import annotations

import argparse
import statistics
import time

import sift_torch as st
import torch
import torch.nn.functional as F

import sift_core


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(model, loss_kind, x, y, opt, teacher=None):
    sift = st.SiftFunnelLoss(check_dead=False, teacher=teacher, distill=2.0 if teacher is not None else 0.0)

    def step():
        opt.zero_grad(set_to_none=True)
        logits, z = model(x, return_features=True)
        if loss_kind == "ce":
            loss = F.cross_entropy(logits, y)
        else:
            loss = sift(x, z, logits, y)
        loss.backward()
        opt.step()

    return step


def time_steps(steps: dict, rounds: int, device) -> dict:
    times = {k: [] for k in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def check_no_host_sync(model, x, y) -> str:
    """Run the SiftFunnel loss and its backward with CUDA sync detection set to error."""
    loss_fn = st.SiftFunnelLoss(check_dead=False)
    logits, z = model(x, return_features=True)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss = loss_fn(x, z, logits, y)
        loss.backward()
        _ = {k: v * 1 for k, v in loss_fn.terms.items()}  # logging terms stays on the device too
    except RuntimeError as exc:
        return f"FAILED: {exc}"
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return "ok (no synchronisation in loss forward/backward)"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--arch", default="cnn", choices=st.models.ARCHS)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, args.channels, args.image_size, args.image_size, generator=g).to(device)
    y = torch.randint(0, 10, (args.batch,), generator=g).to(device)
    kw = dict(in_channels=args.channels, image_size=args.image_size, width=args.width, seed=0)
    funnel = st.build_split(args.arch, defence="siftfunnel", **kw).to(device)
    plain = st.build_split(args.arch, **kw).to(device)
    steps = {
        "funnel+ce": make_step(funnel, "ce", x, y, torch.optim.Adam(funnel.parameters(), lr=2e-3)),
        "funnel+siftfunnel": make_step(funnel, "sift", x, y, torch.optim.Adam(funnel.parameters(), lr=2e-3)),
        "undefended+ce": make_step(plain, "ce", x, y, torch.optim.Adam(plain.parameters(), lr=2e-3)),
    }
    # distillation: the teacher (an undefended model of the same size) runs a forward pass per step
    teacher = st.build_split(args.arch, **{**kw, "seed": 1}).to(device).eval()
    steps["funnel+sift+distill"] = make_step(funnel, "sift", x, y, torch.optim.Adam(funnel.parameters(), lr=2e-3),
                                             teacher=teacher)
    time_steps(steps, args.warmup, device)
    med = time_steps(steps, args.rounds, device)

    # the penalties alone (forward + backward) on the model's features
    z = funnel.edge(x).detach().requires_grad_(True)

    def penalties():
        d = sift_core.distance_correlation(x.flatten(1), z, squared=True)
        r = sift_core.channel_redundancy(z)
        (d + r + z.abs().mean()).backward()

    pen = time_steps({"penalties": penalties}, args.rounds, device)["penalties"]

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; {args.arch} {args.channels}x{args.image_size}x"
          f"{args.image_size}, batch {args.batch}, width {args.width}, median of {args.rounds} rounds")
    for k, v in med.items():
        print(f"  {k:<20s} {v * 1e3:9.2f} ms/step")
    print(f"  {'penalties only':<20s} {pen * 1e3:9.2f} ms (dCor + R_P + L1, forward + backward)")
    ratio = med["funnel+siftfunnel"] / med["funnel+ce"]
    print(f"ratio SiftFunnel step / CE step (same model): {ratio:.3f}  (target <= 1.15)")
    print(f"ratio SiftFunnel step / undefended CNN CE step: {med['funnel+siftfunnel'] / med['undefended+ce']:.3f}")
    print(f"ratio SiftFunnel + distillation step / CE step (same model): "
          f"{med['funnel+sift+distill'] / med['funnel+ce']:.3f}")
    print(f"ratio SiftFunnel + distillation step / undefended CNN CE step: "
          f"{med['funnel+sift+distill'] / med['undefended+ce']:.3f}")
    if device.type == "cuda":
        print("host synchronisation check:", check_no_host_sync(funnel, x, y))


if __name__ == "__main__":
    main()
