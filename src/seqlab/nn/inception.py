"""InceptionTime (Ismail Fawaz et al. 2020, "InceptionTime: Finding AlexNet for time series
classification"): ``depth`` Inception modules with a residual shortcut around every three, whose
per-step features the task averages over the valid steps (global average pooling, the paper's
readout) or reads at the last step (forecasting).

One module, on ``(B, C, T)``::

    x ─ 1x1 conv (bottleneck, C -> 32; only when C > 1) ─┬─ conv k=39 ─┐
                                                          ├─ conv k=19 ─┤
                                                          └─ conv k=9 ──┼─ concat (4 x 32) ─ BN ─ ReLU
    x ─ maxpool (3, stride 1, same) ─ 1x1 conv ───────────────────────────┘

The kernels default to 39, 19 and 9: the paper's 40, 20 and 10 (its code: 40 // 2**i) made odd,
so that "same" padding is symmetric (an even kernel pads one step more on the right, and torch
then copies the input into a padded buffer: measured 12% slower per step here).
``kernel_sizes=[40, 20, 10]`` gives the paper's exactly (torch pads 19 left / 20 right, as the
Keras original does). The shortcut adds the block's input, through a 1x1 conv + BatchNorm
when the channel counts differ (the first one: ``input_size`` -> 4 x filters) and through a
BatchNorm alone when they agree (as the widely used PyTorch port, tsai, does), then a ReLU.
Convolutions carry no bias (each is followed by a BatchNorm), as in the original.

Padding never changes a result: every convolution reads its input with the padded steps
zeroed (what a "same" convolution sees beyond the end of a series that is alone), the max
pool reads them as -inf (what its own padding is), and every module's output is zeroed at the
padded steps; so a valid step's output is the same alone or padded beside longer series (in
eval mode; in training BatchNorm's batch statistics include the padded steps, as in `FCN`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.nn.checks import check_bool, check_fraction, check_int, field
from seqlab.nn.padding import check_sequence_input, valid_steps

KERNEL_SIZES = (39, 19, 9)


def _masked(h: Tensor, mask: Tensor | None) -> Tensor:
    return h if mask is None else h * mask


class InceptionModule(nn.Module):
    """(B, c_in, T) -> (B, filters * (len(kernel_sizes) + 1), T)."""

    def __init__(
        self, c_in: int, *, filters: int, kernel_sizes: Sequence[int], bottleneck: int
    ) -> None:
        super().__init__()
        # the paper skips the bottleneck on univariate input (nothing to squeeze)
        self.bottleneck = (
            nn.Conv1d(c_in, bottleneck, 1, bias=False) if bottleneck and c_in > 1 else None
        )
        c_mid = bottleneck if self.bottleneck is not None else c_in
        self.convs = nn.ModuleList(
            nn.Conv1d(c_mid, filters, k, padding="same", bias=False) for k in kernel_sizes
        )
        self.pool_conv = nn.Conv1d(c_in, filters, 1, bias=False)
        self.out_channels = filters * (len(kernel_sizes) + 1)
        self.norm = nn.BatchNorm1d(self.out_channels)

    def forward(self, h: Tensor, valid: Tensor | None = None) -> Tensor:
        # h: (B, c_in, T), zero at padded steps; valid: (B, 1, T) bool or None
        mask = None if valid is None else valid.to(h.dtype)
        z = h if self.bottleneck is None else _masked(self.bottleneck(h), mask)
        branches = [conv(z) for conv in self.convs]
        # padded steps as -inf, as the pool's own padding is at a lone series' end
        pooled = F.max_pool1d(
            h if valid is None else h.masked_fill(~valid, float("-inf")), 3, stride=1, padding=1
        )
        if valid is not None:  # a padded step whose window is all padding is -inf: zero it
            pooled = pooled.masked_fill(~valid, 0.0)
        branches.append(self.pool_conv(pooled))
        return _masked(F.relu(self.norm(torch.cat(branches, dim=1))), mask)


class Shortcut(nn.Module):
    """The residual path: 1x1 conv + BatchNorm when the widths differ, BatchNorm when not."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.proj = nn.Conv1d(c_in, c_out, 1, bias=False) if c_in != c_out else None
        self.norm = nn.BatchNorm1d(c_out)

    def forward(self, h: Tensor) -> Tensor:
        return self.norm(h if self.proj is None else self.proj(h))


class InceptionTime(nn.Module):
    """One InceptionTime network (the paper's ensemble is five of them, different seeds)."""

    kind: ClassVar[str] = "sequence"
    causal: ClassVar[bool] = False  # each step sees up to kernel // 2 steps after it

    def __init__(
        self,
        *,
        input_size: int = 32,
        filters: int = 32,
        depth: int = 6,
        kernel_sizes: Sequence[int] = KERNEL_SIZES,
        bottleneck: int = 32,
        residual: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("input_size", input_size)
        check_int("filters", filters)
        check_int("depth", depth)
        check_int("bottleneck", bottleneck, least=0)  # 0: no bottleneck
        check_bool("residual", residual)
        check_fraction("dropout", dropout)
        if isinstance(kernel_sizes, str) or not isinstance(kernel_sizes, Sequence):
            raise SeqlabError(
                f"{field('kernel_sizes')} must be a list of integers, e.g. [40, 20, 10], "
                f"got {kernel_sizes!r}"
            )
        if not kernel_sizes:
            raise SeqlabError(f"{field('kernel_sizes')} must name at least one kernel size")
        for k in kernel_sizes:
            check_int("kernel_sizes", k)
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.input_size, self.depth, self.residual = input_size, depth, residual
        width = filters * (len(self.kernel_sizes) + 1)
        self.output_size = self.hidden_size = width
        self.blocks = nn.ModuleList(
            InceptionModule(
                input_size if d == 0 else width,
                filters=filters,
                kernel_sizes=self.kernel_sizes,
                bottleneck=bottleneck,
            )
            for d in range(depth)
        )
        # a shortcut after every third module, from the last shortcut's output (or the input)
        ends = [d for d in range(depth) if d % 3 == 2] if residual else []
        self.shortcut_after = tuple(ends)
        self.shortcuts = nn.ModuleList(
            Shortcut(input_size if i == 0 else width, width) for i in range(len(ends))
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, state: None = None, *, lengths: Tensor | None = None
    ) -> tuple[Tensor, None]:
        # x: (B, T, input_size) -> (B, T, output_size); no state is carried
        check_sequence_input(x, self.input_size)
        valid = mask = None
        if lengths is not None:
            valid = valid_steps(lengths, x.shape[1], x.device)[:, None, :]  # (B, 1, T)
            mask = valid.to(x.dtype)
        h = _masked(x.transpose(1, 2), mask)  # (B, C, T)
        res, k = h, 0
        for d, module in enumerate(self.blocks):
            h = module(h, valid)
            if k < len(self.shortcut_after) and d == self.shortcut_after[k]:
                h = _masked(F.relu(h + self.shortcuts[k](res)), mask)
                res, k = h, k + 1
        return self.drop(h.transpose(1, 2)), None  # (B, T, output_size)
