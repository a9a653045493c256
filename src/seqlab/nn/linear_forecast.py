"""DLinear (Zeng, Chen, Zhang & Xu 2023, "Are Transformers Effective for Time Series
Forecasting?"): a moving-average decomposition and one linear map over time per component.

For a window x of L steps and each channel c:

    trend_c    = AvgPool_k(x_c)            (replicate padding at both ends, stride 1)
    seasonal_c = x_c − trend_c
    z_c        = W_t · trend_c + W_s · seasonal_c         W_t, W_s: (k_out, L), shared by channels

and the features of the window are the z_c of every channel, ``output_size = channels * k_out``,
which the forecasting task's head maps to the horizon (the paper's W maps straight to the
horizon: here the head does, so the same backbone serves any horizon). With
``decomposition=False`` it is the paper's plain Linear; with the task's per-window
normalisation (``model.normalize=window``) it plays NLinear's part (the paper subtracts the
window's last value; RevIN subtracts its mean and divides by its scale).

The output is a summary of the whole window, so it is not causal: it serves forecasting only,
and every step of the returned sequence holds that summary (the task reads the last).
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.nn.checks import check_int


def moving_average(x: Tensor, kernel: int) -> Tensor:
    """x (B, C, L) -> its centred moving average (B, C, L), ends padded by repetition."""
    left, right = (kernel - 1) // 2, kernel // 2
    padded = torch.cat([x[..., :1].expand(-1, -1, left), x, x[..., -1:].expand(-1, -1, right)], -1)
    return F.avg_pool1d(padded, kernel_size=kernel, stride=1)


def whole_window(x: Tensor, input_size: int, max_len: int) -> Tensor:
    """x (B, T, input_size), T <= max_len -> (B, max_len, input_size): a shorter window gets its
    first value repeated on the left (these models read a window of fixed length)."""
    _, T, C = x.shape
    if input_size != C or max_len < T:
        raise ValueError(
            f"expected input (batch, time <= {max_len}, {input_size}), got {tuple(x.shape)}"
        )
    if max_len > T:
        x = torch.cat([x[:, :1].expand(-1, max_len - T, -1), x], dim=1)
    return x


class DLinear(nn.Module):
    kind: ClassVar[str] = "sequence"
    tasks: ClassVar[tuple[str, ...]] = ("forecasting",)
    causal: ClassVar[bool] = False

    def __init__(
        self,
        *,
        input_size: int = 8,
        max_len: int = 24,
        features: int = 8,
        kernel: int = 25,
        decomposition: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("max_len", max_len)):
            check_int(name, value)
        check_int("features", features)
        check_int("kernel", kernel)
        self.input_size, self.max_len, self.kernel = input_size, max_len, kernel
        self.decomposition = bool(decomposition)
        self.output_size = input_size * features
        self.seasonal = nn.Linear(max_len, features)  # (L) -> (features), shared by channels
        self.trend = nn.Linear(max_len, features) if self.decomposition else None

    def forward(self, x: Tensor, state: None = None) -> tuple[Tensor, None]:
        # x: (B, T, input_size), T <= max_len -> (B, T, input_size * features)
        B, T = x.shape[:2]
        h = whole_window(x, self.input_size, self.max_len).transpose(1, 2)  # (B, C, max_len)
        if self.decomposition:
            trend = moving_average(h, min(self.kernel, self.max_len))
            z = self.trend(trend) + self.seasonal(h - trend)  # (B, C, features)
        else:
            z = self.seasonal(h)
        summary = z.reshape(B, 1, self.output_size)
        return summary.expand(B, T, self.output_size), None


class NBeatsBlock(nn.Module):
    """One N-BEATS block (generic basis): an MLP over the flattened window, then a backcast
    of the window (subtracted before the next block) and a forecast (added to the others)."""

    def __init__(
        self, window: int, width: int, forecast: int, layers: int, backcast: bool = True
    ) -> None:
        super().__init__()
        sizes = [window, *([width] * layers)]
        self.mlp = nn.Sequential(
            *(m for a, b in itertools.pairwise(sizes) for m in (nn.Linear(a, b), nn.ReLU()))
        )
        # the last block's backcast would feed nothing: it has none
        self.backcast = nn.Linear(width, window) if backcast else None
        self.forecast = nn.Linear(width, forecast)

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        h = self.mlp(x)
        return (None if self.backcast is None else self.backcast(h)), self.forecast(h)


class NBeats(nn.Module):
    """N-BEATS, generic (Oreshkin, Carpov, Chapados & Bengio 2020): a stack of fully connected
    blocks with doubly residual connections,

        x_0 = window,   (b_k, f_k) = Block_k(x_{k−1}),   x_k = x_{k−1} − b_k,   z = Σ_k f_k,

    over the window flattened across its ``input_size`` channels; z (``output_size``) is what
    the forecasting task's head maps to the horizon. Like DLinear it summarises the whole window
    (forecasting only; every returned step holds the summary).
    """

    kind: ClassVar[str] = "sequence"
    tasks: ClassVar[tuple[str, ...]] = ("forecasting",)
    causal: ClassVar[bool] = False

    def __init__(
        self,
        *,
        input_size: int = 1,
        max_len: int = 24,
        hidden_size: int = 128,
        num_layers: int = 4,
        num_blocks: int = 3,
        output_size: int = 32,
    ) -> None:
        super().__init__()
        for name, value in (
            ("input_size", input_size),
            ("max_len", max_len),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("num_blocks", num_blocks),
            ("output_size", output_size),
        ):
            check_int(name, value)
        self.input_size, self.max_len, self.output_size = input_size, max_len, output_size
        width = max_len * input_size
        self.blocks = nn.ModuleList(
            NBeatsBlock(width, hidden_size, output_size, num_layers, backcast=k < num_blocks - 1)
            for k in range(num_blocks)
        )

    def forward(self, x: Tensor, state: None = None) -> tuple[Tensor, None]:
        # x: (B, T, input_size), T <= max_len -> (B, T, output_size)
        B, T, C = x.shape
        x = whole_window(x, self.input_size, self.max_len)  # (B, max_len, C)
        residual = x.reshape(B, self.max_len * C)  # (B, L·C), oldest step first
        summary = x.new_zeros(B, self.output_size)
        for block in self.blocks:
            backcast, forecast = block(residual)
            summary = summary + forecast
            if backcast is not None:
                residual = residual - backcast
        return summary[:, None].expand(B, T, self.output_size), None
