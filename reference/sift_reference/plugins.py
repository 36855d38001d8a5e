"""Defences of your own in a spec: ``[experiment] plugins`` names the code that registers them.

::

    [experiment]
    plugins = ["my_defences"]          # an importable module, or "my_defences.py" (a file,
                                       # relative to the spec's folder)
    [[defences]]
    kind = "clipping"                  # a kind that module registered
    max_norm = 2.0                     # keywords of the class's constructor

A plugin module registers its classes with ``sift_torch.register_defence`` and/or
``sift_keras.register_defence``; a ``[[defences]]`` table whose ``kind`` is none of the built-in
kinds then names one of them, and its other keys are the class's keyword arguments. The spec
imports the plugins when it is read (in every worker of a sweep too), so naming one runs its
code: run only specs you trust. Everything is checked before any data loads: the module must
import, the kind must be registered for the spec's backend, and the class must accept the
table's keys and values (it is built once with them; its own error is reported under the
table's key). A plugin's source (the module's own file) is part of its models' cache key, so
editing it retrains them on ``--resume``.

This module imports no framework: the registries are read from ``sys.modules``, where the
plugin's own import of ``sift_torch`` / ``sift_keras`` put them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from types import ModuleType
from typing import Any

#: the adapter package whose ``DEFENCES`` registry serves each backend
ADAPTERS = {"torch": "sift_torch", "keras": "sift_keras"}


def _error(message: str):
    from .spec import SpecError

    return SpecError(message)


def resolve(raw: Any, base_dir: str | os.PathLike | None) -> tuple[str, ...]:
    """``experiment.plugins`` checked: a list of module names or ``.py`` paths; paths made absolute
    (relative ones against ``base_dir``, the spec's folder), so every worker finds the same file."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _error(f"experiment.plugins: must be a list of module names or .py files; got {raw!r}")
    out = []
    for j, p in enumerate(raw):
        key = f"experiment.plugins[{j}]"
        if not isinstance(p, str) or not p.strip():
            raise _error(f"{key}: must be a module name or a .py file; got {p!r}")
        if p.endswith(".py"):
            path = os.path.expanduser(p)
            if not os.path.isabs(path):
                path = os.path.join(os.fspath(base_dir) if base_dir is not None else os.getcwd(), path)
            path = os.path.abspath(path)
            if not os.path.isfile(path):
                raise _error(f"{key}: no such file: {path}")
            out.append(path)
        elif all(part.isidentifier() for part in p.split(".")):
            out.append(p)
        else:
            raise _error(f"{key}: not a module name (dotted identifiers) nor a .py file; got {p!r}")
    if len(set(out)) != len(out):
        raise _error(f"experiment.plugins: lists a plugin twice: {raw!r}")
    return tuple(out)


def _module_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    safe = "".join(c if c.isalnum() else "_" for c in stem)
    return f"sift_plugin_{safe}_{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def load(plugin: str, key: str) -> ModuleType:
    """Import one plugin (once per process); any failure is a SpecError naming ``key``."""
    try:
        if not plugin.endswith(".py"):
            return importlib.import_module(plugin)
        name = _module_name(plugin)
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, plugin)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {plugin}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    except Exception as exc:  # the user's module: any error it raises is reported under its key
        raise _error(f"{key}: could not import {plugin!r}: {type(exc).__name__}: {exc}") from exc


def load_all(plugins: tuple[str, ...]) -> None:
    for j, p in enumerate(plugins):
        load(p, f"experiment.plugins[{j}]")


def digest(plugins: tuple[str, ...]) -> str:
    """SHA-256 over each plugin's own source file (a model's cache key includes it)."""
    h = hashlib.sha256()
    for j, p in enumerate(plugins):
        module = load(p, f"experiment.plugins[{j}]")
        h.update(p.encode() + b"\0")
        path = getattr(module, "__file__", None)
        if path and os.path.isfile(path):
            with open(path, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def registry(backend: str) -> dict[str, type]:
    """The backend's defence registry, if its adapter has been imported (else empty)."""
    module = sys.modules.get(ADAPTERS[backend])
    return dict(getattr(module, "DEFENCES", {})) if module is not None else {}


def accepts(cls: type, name: str) -> bool:
    """Whether ``cls``'s constructor takes keyword ``name`` (or any keyword)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def settings(cls: type, params: dict[str, Any], *, backend: str, seed: int) -> dict[str, Any]:
    """The keywords a registered defence is built with: the table's keys, and on Keras the
    experiment's seed when the class takes one and the table does not set it (as the built-in
    random defences get it)."""
    out = dict(params)
    if backend == "keras" and "seed" not in out and accepts(cls, "seed"):
        out["seed"] = seed
    return out


def check_kind(kind: str, params: dict[str, Any], *, backend: str, plugins: tuple[str, ...], key: str,
               seed: int = 0) -> None:
    """A registered (non built-in) ``kind`` exists for ``backend`` and its class accepts ``params``."""
    from .spec import DEFENCE_KEYS

    table = registry(backend)
    if kind not in table:
        adapter = ADAPTERS[backend]
        where = (f"the plugins ({', '.join(plugins)}) did not register it with {adapter}.register_defence"
                 if plugins else "name the module that registers it in experiment.plugins")
        own = sorted(set(table) - set(DEFENCE_KEYS))
        found = (f"kinds they registered for {backend}: {', '.join(own)}" if own else
                 f"they registered no kind for {backend}" if adapter in sys.modules else f"none imports {adapter}")
        raise _error(f"{key}.kind: {kind!r} is not a built-in defence and {where} ({found})")
    cls = table[kind]
    for k in params:
        if not accepts(cls, k):
            raise _error(f"{key}.{k}: not a keyword of {cls.__name__} (kind {kind!r})")
    try:
        cls(**settings(cls, params, backend=backend, seed=seed))
    except Exception as exc:  # the class validates its own settings; report it under the spec's key
        raise _error(f"{key}: {cls.__name__} rejected its settings {params}: {type(exc).__name__}: {exc}") from exc
