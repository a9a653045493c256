"""Atomic file writes: a crash or a kill mid-write never leaves a half-written file.

Everything goes to a temporary file in the target's folder (same file system), and
``os.replace`` swaps it in (atomic on POSIX and Windows); on an error the temporary file
is removed and the previous file, if any, stays as it was. Standard library only, so any
layer may use it. Tensors and checkpoints: `seqlab.utils.checkpoint_io.atomic_torch_save`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a fresh temporary path next to ``path`` for the caller to write; on success it
    replaces ``path``, on any error it is deleted. ``suffix`` keeps an extension that a
    writer reads the format from (``fig.savefig`` needs ``.png``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}{suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` that shows the file at ``path`` only once it is complete
    (flushed and fsync'ed). ``mode`` is ``"w"`` or ``"wb"``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode.replace("w", "x"), **kwargs) as file:
        yield file
        file.flush()
        os.fsync(file.fileno())


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` exactly as given (no newline translation), atomically."""
    with atomic_open(path, "w", encoding=encoding, newline="") as file:
        file.write(text)
    return Path(path)
