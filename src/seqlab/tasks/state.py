"""Recurrent state plumbing: states are tensors, tuples of tensors (LSTM) or None."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._pytree import tree_map


def detach_state(state: Any) -> Any:
    """Cut the graph at a state (truncated BPTT); works for any nesting of tensors."""
    return tree_map(lambda t: t.detach() if isinstance(t, torch.Tensor) else t, state)
