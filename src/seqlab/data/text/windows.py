"""Datasets over a 1-D token stream: random-access windows and stateful (char-RNN) batches.

:class:`TokenWindows` yields one ``(x, y)`` window per item (the loader stacks them);
:class:`StatefulBatches` yields whole batches whose rows continue from one batch to the
next, so a recurrent model can carry its hidden state across batches.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class _IndexedStream(Dataset):
    """Shared plumbing: a 1-D token check, ``len`` and a bounds-checked, negative-aware index.

    Subclasses set ``self._len`` and implement :meth:`_item` for ``0 <= i < len``.
    """

    unit, units = "item", "items"  # name the items in the IndexError message

    _len: int

    @staticmethod
    def _check_tokens(tokens: torch.Tensor) -> None:
        if tokens.dim() != 1:
            raise ValueError(f"tokens must be 1-D, got shape {tuple(tokens.shape)}")

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = int(index)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"{self.unit} {index} out of range for {self._len} {self.units}")
        return self._item(i)

    def _item(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class TokenWindows(_IndexedStream):
    """Windows over a 1-D token tensor: item i starts at ``i * stride``.

    Returns ``(x, y)`` with ``x = tokens[s : s + block_size]`` and ``y = tokens[s + 1 :
    s + block_size + 1]`` (views; the collate stacks them). ``stride=block_size`` gives
    non-overlapping windows in order; ``stride=1`` gives every possible start.
    """

    unit, units = "window", "windows"

    def __init__(self, tokens: torch.Tensor, block_size: int, stride: int):
        self._check_tokens(tokens)
        if block_size < 1 or stride < 1:
            raise ValueError("block_size and stride must be >= 1")
        self.tokens = tokens
        self.block_size = block_size
        self.stride = stride
        usable = tokens.numel() - block_size - 1
        self._len = usable // stride + 1 if usable >= 0 else 0

    def _item(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = i * self.stride
        chunk = self.tokens[start : start + self.block_size + 1]
        return chunk[:-1], chunk[1:]


class StatefulBatches(_IndexedStream):
    """Whole batches in the classic char-RNN layout, for models that carry state.

    The stream is cut into ``batch_size`` contiguous rows of equal length (the ragged tail
    is dropped); batch ``i`` is ``(x, y)`` with ``x = rows[:, i*T : (i+1)*T]`` and ``y`` the
    same positions shifted by one token. Row ``b`` of batch ``i + 1`` therefore starts
    exactly where row ``b`` of batch ``i`` ended, so the final hidden state of a row is the
    right initial state for the same row of the next batch. Use with
    ``DataLoader(batch_size=None, shuffle=False)``.
    """

    unit, units = "batch", "batches"

    def __init__(self, tokens: torch.Tensor, batch_size: int, block_size: int):
        self._check_tokens(tokens)
        if batch_size < 1 or block_size < 1:
            raise ValueError("batch_size and block_size must be >= 1")
        self.batch_size = batch_size
        self.block_size = block_size
        self.row_len = max(tokens.numel() - 1, 0) // batch_size  # +1 target per row fits
        used = batch_size * self.row_len
        self.x = tokens[:used].view(batch_size, self.row_len)
        self.y = tokens[1 : used + 1].view(batch_size, self.row_len)
        self._len = self.row_len // block_size

    def _item(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        cols = slice(i * self.block_size, (i + 1) * self.block_size)
        return self.x[:, cols].contiguous(), self.y[:, cols].contiguous()
