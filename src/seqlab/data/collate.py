"""Batches of sequences of different lengths: right-padded, with their true lengths."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence


def pad_collate(samples: Sequence[tuple[torch.Tensor, torch.Tensor]]):
    """[(x_i (T_i, C), y_i)] -> (x (B, T_max, C) zero-padded, y (B,), lengths (B,) long)."""
    xs, ys = zip(*samples, strict=True)
    lengths = torch.tensor([len(x) for x in xs], dtype=torch.long)
    return pad_sequence(list(xs), batch_first=True), torch.stack(list(ys)), lengths
