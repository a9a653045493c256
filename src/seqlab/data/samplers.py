"""Samplers whose order depends only on (seed, epoch), so a resumed run draws what an
uninterrupted one would have drawn. Lightning calls ``set_epoch`` before every epoch."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSeededSampler(Sampler[int]):
    """Shuffled indices (``replacement=False``) or ``num_samples`` random draws with
    replacement, from a generator seeded by ``seed + epoch``. ``seed=None`` takes the seed
    of the run (``torch.initial_seed()``, set by ``seed=`` through ``seed_everything``)."""

    def __init__(
        self,
        size: int,
        *,
        num_samples: int | None = None,
        replacement: bool = False,
        seed: int | None = None,
    ) -> None:
        self.size = size
        self.num_samples = num_samples if num_samples is not None else size
        self.replacement = replacement
        self.seed = int(torch.initial_seed() if seed is None else seed) % 2**62
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.replacement:
            draws = torch.randint(self.size, (self.num_samples,), generator=generator)
        else:
            draws = torch.randperm(self.size, generator=generator)[: self.num_samples]
        return iter(draws.tolist())
