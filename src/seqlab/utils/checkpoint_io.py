"""Checkpoints written atomically: a crash while saving never replaces a good file.

Lightning's own ``_atomic_save`` serialises to memory first but then writes the target
file in place, so a process killed mid-write leaves a truncated ``last.ckpt``. Here the
bytes go to a temporary file in the same folder, are fsync'ed, and ``os.replace`` swaps
them in (atomic on POSIX and Windows): `seqlab.utils.files.atomic_open`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from seqlab.utils.files import atomic_open


def atomic_torch_save(payload: Any, path: str | os.PathLike) -> None:
    with atomic_open(path, "wb") as file:
        torch.save(payload, file)


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        atomic_torch_save(checkpoint, path)
