"""Faults lose nothing: interrupted runs save a checkpoint; non-finite losses stop cleanly."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import lightning as L

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training produced NaN/inf; the last good checkpoint is kept as it was."""


class FiniteLossGuard(L.Callback):
    """Stop at the first non-finite training loss, naming the step and the last checkpoint.

    Reading the loss value synchronises a GPU with the host: on a GPU raise
    ``check_every_n_steps`` (the step in the message is then the first checked one).
    """

    def __init__(self, check_every_n_steps: int = 1) -> None:
        self.check_every_n_steps = max(int(check_every_n_steps), 1)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.check_every_n_steps:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None:
            loss = trainer.callback_metrics.get("train/loss")
        if loss is None:
            return
        value = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        if math.isfinite(value):
            return
        # the newest file any ModelCheckpoint wrote (on a tie, the later callback: last.ckpt)
        last = max(
            (
                (os.path.getmtime(path), i, path)
                for i, c in enumerate(trainer.checkpoint_callbacks)
                if (path := c.last_model_path or c.best_model_path) and os.path.exists(path)
            ),
            default=(0.0, 0, ""),
        )[2]
        kept = (
            f"the last good checkpoint is kept: {last}" if last else "no checkpoint was written yet"
        )
        raise NonFiniteLossError(
            f"train/loss is {value} at global step {trainer.global_step} (epoch {trainer.current_epoch}, "
            f"batch {batch_idx}); {kept}. Fix: lower model.optimizer.lr, set "
            "trainer.gradient_clip_val, or check the data for extreme values."
        )


class CheckpointOnInterrupt(L.Callback):
    """On SIGINT/SIGTERM (e.g. SLURM pre-emption) or a crash, save ``<dirpath>/last.ckpt``
    so ``python train.py resume=<run dir>`` continues from there. Not after a non-finite
    loss: that state is not worth resuming, and the previous ``last.ckpt`` stays."""

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        self.path = Path(dirpath) / f"{filename}.ckpt"

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, NonFiniteLossError) or trainer.state.fn != "fit":
            return
        if trainer.sanity_checking or trainer.global_step == 0:
            return
        everywhere = (
            isinstance(exception, KeyboardInterrupt) or "SIGTERM" in type(exception).__name__
        )
        if trainer.world_size > 1 and not everywhere:
            # saving waits at a barrier: after a crash on one rank only, the others never come
            log.warning(
                "%s on one of %d ranks: no checkpoint on the way out",
                type(exception).__name__,
                trainer.world_size,
            )
            return
        log.warning("%s: saving %s before exiting", type(exception).__name__, self.path)
        trainer.save_checkpoint(self.path)
