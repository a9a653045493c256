"""The steps of right-padded sequences that are real: one mask for every length-aware model."""

from __future__ import annotations

import torch
from torch import Tensor


def valid_steps(lengths: Tensor, steps: int, device: torch.device | None = None) -> Tensor:
    """lengths (B,) -> (B, steps) bool: True where step t < the sequence's length."""
    positions = torch.arange(steps, device=device or lengths.device)
    return positions[None, :] < lengths.to(positions.device)[:, None]


def check_sequence_input(x: Tensor, input_size: int) -> None:
    """A sequence backbone's input must be (batch, time, input_size)."""
    if x.dim() != 3 or x.shape[-1] != input_size:
        raise ValueError(
            f"expected input of shape (batch, time, {input_size}), got {tuple(x.shape)}"
        )
