"""Why training stopped, said in the summary: a recipe cut by its time bound says so."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def why_training_stopped(trainer: Any) -> dict[str, Any]:
    """{reason, epochs_done, epochs_planned, steps}: reason is ``interrupted``, ``max_time``
    (trainer.max_time ran out), ``early_stopping``, ``max_steps`` or ``max_epochs``."""
    from lightning.pytorch.callbacks import EarlyStopping, Timer

    planned = trainer.max_epochs if trainer.max_epochs not in (None, -1) else None
    done = int(trainer.current_epoch)
    reason = "max_epochs"
    timers = [c for c in trainer.callbacks if isinstance(c, Timer)]
    remaining = timers[0].time_remaining("train") if timers else None
    if trainer.interrupted:
        reason = "interrupted"
    elif remaining is not None and remaining <= 0:
        reason = "max_time"
    elif any(isinstance(c, EarlyStopping) and c.stopped_epoch > 0 for c in trainer.callbacks):
        reason = "early_stopping"
    elif trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps:
        reason = "max_steps"
    stopped = {
        "reason": reason,
        "epochs_done": done,
        "epochs_planned": planned,
        "steps": int(trainer.global_step),
    }
    if reason == "max_time":
        log.warning(
            "training was cut by its time bound (trainer.max_time) after %d of %s epochs: the "
            "scores are those of a shortened run (raise trainer.max_time, or run on a faster "
            "machine)",
            done,
            planned if planned is not None else "unbounded",
        )
    return stopped
