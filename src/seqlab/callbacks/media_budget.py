"""Media at a fixed share of training time: the periodic samples, attention maps, gradient-flow
measurements and image grids together take at most ``max_share`` of the time since fit began.

Each media callback asks before its periodic work (`media_allowed`) and times it
(`media_time`). When the media so far already took more than ``max_share`` of the elapsed
fit time, the work is deferred: the callback tries again at its next chance (the next
validation, the next batch), so a run with frequent validations gets fewer samples instead of
a slower run. Work at the end of fit and test (the final samples, the plots of the whole run)
always runs; it is counted too. Without this callback (``callbacks.media_budget=null``) every
media callback keeps its own schedule exactly.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import lightning as L

from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)


class MediaBudget(L.Callback):
    def __init__(self, max_share: float | None = 0.01) -> None:
        if max_share is not None and not 0 < float(max_share) <= 1:
            raise SeqlabError(
                f"callbacks.media_budget.max_share must be in (0, 1] or null, got {max_share}. "
                "Fix: a share of the wall time such as 0.01, or null (no budget)."
            )
        self.max_share = None if max_share is None else float(max_share)
        self.spent = 0.0  # seconds of media on the training thread since fit began
        self.deferred: set[str] = set()  # the media that waited at least once
        self._start: float | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start, self.spent = time.perf_counter(), 0.0
        self.deferred.clear()

    def allows(self) -> bool:
        """Whether periodic media may run now: the media so far took at most ``max_share``
        of the time since fit began."""
        if self.max_share is None or self._start is None:
            return True
        return self.spent <= self.max_share * (time.perf_counter() - self._start)

    @contextlib.contextmanager
    def spend(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spent += time.perf_counter() - start

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.deferred and trainer.is_global_zero:
            log.info(
                "media kept to %s of training time: %s waited for their turn "
                "(callbacks.media_budget.max_share; null: every one on its own schedule)",
                f"{100 * self.max_share:.3g}%",
                ", ".join(sorted(self.deferred)),
            )


def _budget(trainer: L.Trainer) -> MediaBudget | None:
    callbacks = getattr(trainer, "callbacks", ())  # a stand-in trainer may have none
    return next((c for c in callbacks if isinstance(c, MediaBudget)), None)


def media_allowed(trainer: L.Trainer, name: str) -> bool:
    """May the periodic media ``name`` run now? (Always, without a `MediaBudget`.)"""
    budget = _budget(trainer)
    if budget is None or budget.allows():
        return True
    budget.deferred.add(name)
    return False


@contextlib.contextmanager
def media_time(trainer: L.Trainer) -> Iterator[None]:
    """Count the block's wall time as media (a no-op without a `MediaBudget`)."""
    budget = _budget(trainer)
    with budget.spend() if budget is not None else contextlib.nullcontext():
        yield
