"""A fully convolutional network for series (FCN, Wang, Yan & Oates 2017), the strong neural
baseline of series classification: three blocks of Conv1d -> BatchNorm -> ReLU (kernels 8, 5,
3; widths h, 2h, h), whose per-step features the task averages over time (global average
pooling, the FCN's readout) or reads at the last step (forecasting).

Padding never changes a result: "same" convolutions, and every block's output is zeroed at
the padded steps, so a valid step near a sequence's end sees zeros beyond it whether the
sequence is alone (the convolution's own padding) or padded beside longer ones (in eval mode;
in training BatchNorm's batch statistics include the padded zeros).
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from seqlab.nn.checks import check_fraction, check_int
from seqlab.nn.padding import check_sequence_input, valid_steps

KERNELS = (8, 5, 3)


class FCN(nn.Module):
    kind: ClassVar[str] = "sequence"
    causal: ClassVar[bool] = False  # each step sees a few steps after it

    def __init__(self, *, input_size: int = 32, hidden_size: int = 128, dropout: float = 0.0):
        super().__init__()
        check_int("input_size", input_size)
        check_int("hidden_size", hidden_size)
        check_fraction("dropout", dropout)
        self.input_size, self.output_size, self.hidden_size = input_size, hidden_size, hidden_size
        widths = (input_size, hidden_size, 2 * hidden_size, hidden_size)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(c_in, c_out, k, padding="same"), nn.BatchNorm1d(c_out), nn.ReLU()
            )
            for c_in, c_out, k in zip(widths[:-1], widths[1:], KERNELS, strict=True)
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, state: None = None, *, lengths: Tensor | None = None
    ) -> tuple[Tensor, None]:
        # x: (B, T, input_size) -> (B, T, hidden_size); no state is carried
        check_sequence_input(x, self.input_size)
        mask = None
        if lengths is not None:  # (B, 1, T): 1 at valid steps
            mask = valid_steps(lengths, x.shape[1], x.device).to(x.dtype)[:, None, :]
        h = x.transpose(1, 2)  # (B, C, T)
        for block in self.blocks:
            h = block(h if mask is None else h * mask)
        h = h if mask is None else h * mask
        return self.drop(h.transpose(1, 2)), None
