"""A DataLoader that resumes in the middle of an epoch (Lightning's stateful protocol).

Lightning saves ``state_dict()`` of a training loader that has one into the checkpoint and
hands it back through ``load_state_dict()`` on resume. The state is the number of batches
of the current epoch the model has *trained on* (set by ``SeqlabTask.on_train_batch_end``
from Lightning's own batch index, not by counting yields: Lightning fetches one batch
ahead). With the epoch-seeded samplers the order of an epoch depends only on (seed, epoch),
so skipping those batches' indices (no data is loaded for them) continues exactly where
the interrupted run stopped.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch.utils.data import DataLoader


class _Skipping:
    """The first ``skip`` batches of index lists dropped from ``batches``."""

    def __init__(self, batches: Any, skip: int) -> None:
        self.batches, self.skip = batches, skip

    def __iter__(self):
        return itertools.islice(iter(self.batches), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.batches) - self.skip, 0)


class ResumableDataLoader(DataLoader):
    """Also: its own random generator (seeded from the run's seed), because a DataLoader
    without one draws a base seed from the *global* RNG every time it is iterated; a resumed
    run iterates at different moments (sanity check, the first partial epoch) and the
    dropout masks that follow would differ from those of an uninterrupted run."""

    batches_done: int = 0  # of the current epoch, kept up to date by the task
    _skip: int = 0  # set by load_state_dict, used by the next iteration only
    _skipping: int = 0

    def __init__(self, *args: Any, generator: torch.Generator | None = None, **kwargs: Any):
        if generator is None:
            generator = torch.Generator().manual_seed(torch.initial_seed() % 2**63)
        super().__init__(*args, generator=generator, **kwargs)

    def state_dict(self) -> dict[str, int]:
        return {"batches_done": int(self.batches_done)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._skip = int(state.get("batches_done", 0))

    def __iter__(self):
        self._skipping, self._skip = self._skip, 0
        self.batches_done = self._skipping
        try:
            return super().__iter__()  # the iterator reads _index_sampler once, here
        finally:
            self._skipping = 0

    @property
    def _index_sampler(self):
        sampler = super()._index_sampler
        return _Skipping(sampler, self._skipping) if self._skipping else sampler


def make_loader(
    dataset: Any,
    *,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    collate_fn: Any = None,
) -> ResumableDataLoader:
    """The loader every seqlab datamodule uses: resumable, epoch-seeded order when shuffled."""
    from seqlab.data.samplers import EpochSeededSampler

    return ResumableDataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSeededSampler(len(dataset)) if shuffle else None,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        collate_fn=collate_fn,
    )


class SplitLoaders:
    """The three Lightning loader hooks: the training split shuffled, val and test in order.

    By default each split is ``self.splits[split]`` loaded with ``make_loader`` (and
    ``self.collate_fn`` when set); a datamodule overrides ``_loader`` to build it otherwise."""

    collate_fn: Any = None

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return make_loader(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
