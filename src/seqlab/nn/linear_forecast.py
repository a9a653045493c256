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
        B, T, C = x.shape
        if self.input_size != C or self.max_len < T:
            raise ValueError(
                f"expected input (batch, time <= {self.max_len}, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        h = x.transpose(1, 2)  # (B, C, T)
        if self.max_len > T:  # a shorter window: its first value repeated on the left
            h = torch.cat([h[..., :1].expand(-1, -1, self.max_len - T), h], dim=-1)
        if self.decomposition:
            trend = moving_average(h, min(self.kernel, self.max_len))
            z = self.trend(trend) + self.seasonal(h - trend)  # (B, C, features)
        else:
            z = self.seasonal(h)
        summary = z.reshape(B, 1, self.output_size)
        return summary.expand(B, T, self.output_size), None
