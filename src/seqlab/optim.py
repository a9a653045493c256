"""Learning-rate schedules targeted from model configs (``model.scheduler._target_``).

Schedules are classes, not factory functions: a checkpoint may only rebuild classes
(see `seqlab.security`).
"""

from __future__ import annotations

import math

import torch


class WarmupCosine(torch.optim.lr_scheduler.LambdaLR):
    """Per epoch: linear warm-up over ``warmup_epochs``, then cosine decay to
    ``min_lr_ratio`` x lr at ``max_epochs`` (the usual ViT schedule)."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        warmup_epochs: int = 0,
        max_epochs: int = 100,
        min_lr_ratio: float = 0.0,
    ) -> None:
        warmup, total = max(int(warmup_epochs), 0), max(int(max_epochs), 1)

        def factor(epoch: int) -> float:
            if epoch < warmup:
                return (epoch + 1) / (warmup + 1)
            progress = min((epoch - warmup) / max(total - warmup, 1), 1.0)
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        super().__init__(optimizer, factor)
