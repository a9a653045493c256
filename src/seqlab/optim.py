"""Optimisers and learning-rate schedules of model configs (``model.optimizer`` and
``model.scheduler._target_``).

Schedules are classes, not factory functions: a checkpoint may only rebuild classes
(see `seqlab.security`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable

import torch

# optimisers whose single fused kernel (``fused=True``) seqlab uses where the parameters allow
FUSED_BY_DEFAULT = (torch.optim.Adam, torch.optim.AdamW)
FUSED_DEVICES = ("cpu", "cuda")


def build_optimizer(
    factory: Callable[..., torch.optim.Optimizer],
    params: Iterable[torch.nn.Parameter],
    *,
    allow_fused: bool = True,
) -> torch.optim.Optimizer:
    """``factory(params=...)``, with torch's fused Adam/AdamW kernel unless the config chose.

    The fused kernel updates every tensor in one pass: for gpt_shakespeare's GPT (810 k
    parameters in 68 tensors) an AdamW step takes ~1 ms on a CPU core instead of ~3.3 ms
    with torch's default (foreach), which is what a step of seqlab's loop costs beyond a raw
    loop. It applies when the optimiser is Adam or AdamW, the config sets neither ``fused``
    nor ``foreach``, and every parameter is a floating-point tensor on one CPU or CUDA
    device; ``+model.optimizer.fused=false`` keeps torch's default. ``allow_fused=False``
    (mixed precision with gradient clipping: the fused kernel unscales the gradients itself,
    after clipping would have read them, and Lightning refuses it) keeps the default too.
    """
    params = list(params)  # all of them, frozen ones too, as torch's fused check reads them
    chosen = getattr(factory, "keywords", {})
    func = getattr(factory, "func", factory)
    if (
        allow_fused
        and isinstance(func, type)
        and issubclass(func, FUSED_BY_DEFAULT)
        and chosen.get("fused") is None
        and chosen.get("foreach") is None
        and params
        and all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in params)
        and len({p.device for p in params}) == 1
    ):
        factory = functools.partial(factory, fused=True)
    return factory(params=params)


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
