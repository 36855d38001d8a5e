"""Atomic file writes that leave files with the permissions any other new file gets."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["temp_file_beside", "write_atomically"]

_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def temp_file_beside(path: str | os.PathLike, *, suffix: str = ".tmp") -> tuple[int, str]:
    """Create a new, empty, uniquely named file in ``path``'s directory (made if missing) and return
    ``(fd, name)``, open for writing; write it, then ``os.replace(name, path)``.

    ``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask, so a result written
    through it and renamed into place stayed private to its owner while every other file of the
    same run (plots, logs) was readable as the umask allows. Here the file is created with mode
    0666 and the process umask applies, as for ``open(path, "w")``; ``O_EXCL`` keeps the name
    unique and ``O_NOFOLLOW`` keeps a planted symlink from redirecting the write.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    stem = "." + os.path.basename(path) + "."
    for _ in range(100):
        name = os.path.join(directory, stem + secrets.token_hex(6) + suffix)
        try:
            return os.open(name, _FLAGS, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {path}")


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object], *, suffix: str = ".tmp") -> None:
    """Call ``write(fh)`` on a new file beside ``path`` (:func:`temp_file_beside`), sync it to the
    disk and move it onto ``path`` with ``os.replace``: a crash leaves the earlier file or the new
    one, never half of one, and no temporary file once the call returns or raises."""
    fd, tmp = temp_file_beside(path, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
