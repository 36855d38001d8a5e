"""Framework-free helpers: the root module of a type, and unwrapping ``keras.Variable``."""

from __future__ import annotations

from typing import Any


def _root_module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def _keras_kind(var: Any) -> str | None:
    """Backend of a ``keras.Variable``: that of the tensor it wraps."""
    value = getattr(var, "value", None)
    if value is None or value is var:
        return None
    root = _root_module(value)
    return {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "jaxlib": "jax"}.get(root)


def unwrap(x: Any) -> Any:
    """Replace a ``keras.Variable`` by the backend tensor it holds."""
    if _root_module(x) == "keras" and hasattr(x, "value"):
        return x.value
    return x
