"""AR(τ): an autoregressive model on a fixed window of the last τ steps.

Output at step t is a function of the window x_{t-τ+1}, ..., x_t only (causal), flattened to
τ * input_size features:

- ``hidden_size=0``: linear, o_t = W [x_{t-τ+1}; ...; x_t] + b (a causal Conv1d of kernel τ).
- ``hidden_size>0``: an MLP on the same window, Linear -> GELU -> Linear.

``order=1`` is the first-order Markov model: o_t depends on x_t alone. Steps before the start of
the sequence are zeros; the state carries the last τ-1 inputs so that a sequence fed in chunks
gives exactly the outputs of one pass.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from seqlab.nn.checks import check_int

__all__ = ["AR"]


class AR(nn.Module):
    """AR(τ): a linear (or small MLP) map of the last τ inputs; a sequence backbone."""

    kind: ClassVar[str] = "sequence"
    causal: ClassVar[bool] = True  # output t reads inputs t-τ+1..t only
    carries_state: ClassVar[bool] = True  # the last τ-1 inputs: chunks read one after another

    def __init__(
        self,
        *,
        input_size: int,
        order: int = 5,
        hidden_size: int = 0,
        output_size: int = 64,
    ) -> None:
        super().__init__()
        for field, value, least in (
            ("input_size", input_size, 1),
            ("order", order, 1),
            ("hidden_size", hidden_size, 0),
            ("output_size", output_size, 1),
        ):
            check_int(field, value, least)
        self.input_size = input_size
        self.order = order
        self.hidden_size = hidden_size
        self.output_size = output_size
        window = order * input_size
        if hidden_size == 0:
            self.net = nn.Linear(window, output_size)
        else:
            self.net = nn.Sequential(
                nn.Linear(window, hidden_size), nn.GELU(), nn.Linear(hidden_size, output_size)
            )

    def forward(
        self, x: Tensor, state: Tensor | None = None, *, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        # lengths: output t reads inputs t-τ+1..t only, so right padding changes no valid step
        # x: (B, T, input_size); state: (B, τ-1, input_size), the inputs just before x
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"expected input of shape (batch, time, {self.input_size}), got {tuple(x.shape)}"
            )
        B, T, C = x.shape
        if state is None:
            state = x.new_zeros(B, self.order - 1, C)
        elif state.shape != (B, self.order - 1, C):
            raise ValueError(
                f"expected state of shape {(B, self.order - 1, C)}, got {tuple(state.shape)}"
            )
        xp = torch.cat([state.to(x.dtype), x], dim=1)  # (B, τ-1+T, C)
        windows = xp.unfold(1, self.order, 1)  # (B, T, C, τ): window t ends at x_t
        windows = windows.transpose(-1, -2).reshape(B, T, self.order * C)  # oldest step first
        out = self.net(windows)  # (B, T, output_size)
        # explicit start index: xp[:, -0:] would be the whole sequence when order == 1
        return out, xp[:, xp.shape[1] - (self.order - 1) :]

    def extra_repr(self) -> str:
        return f"order={self.order}"
