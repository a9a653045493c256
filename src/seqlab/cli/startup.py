"""Where the seconds go between ``python train.py`` and the first training step.

``train.py`` notes the process start (``SEQLAB_T0``) before it imports anything; the run
marks each phase as it ends, and `FirstStepClock` marks the first training batch. The
breakdown goes into ``summary.json`` (``startup_s``) and the log; ``benchmarks/startup_phases.py``
compares it across commands.
"""

from __future__ import annotations

import logging
import os
import time

import lightning as L

log = logging.getLogger(__name__)


class Stopwatch:
    """Seconds since the process started, per named phase (each from the end of the last)."""

    def __init__(self) -> None:
        self.start = float(os.environ.get("SEQLAB_T0", time.time()))
        self.last = self.start
        self.phases: dict[str, float] = {}
        self.mark("imports_and_config")  # everything before the run function

    def mark(self, phase: str) -> None:
        now = time.time()
        self.phases[phase] = round(now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return round(self.last - self.start, 3)

    def breakdown(self) -> dict[str, float] | None:
        """The phases and their total, once the first step was reached (else None)."""
        if "fit_start_to_first_step" not in self.phases:
            return None
        return {**self.phases, "total_to_first_step": self.total()}


class FirstStepClock(L.Callback):
    """Marks the first training batch (after the sanity check) on the stopwatch."""

    def __init__(self, stopwatch: Stopwatch) -> None:
        self.stopwatch = stopwatch
        self.done = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.done:
            return
        self.done = True
        self.stopwatch.mark("fit_start_to_first_step")
        phases = ", ".join(f"{k} {v:.2f}" for k, v in self.stopwatch.phases.items())
        log.info("start-up %.2f s to the first step (%s)", self.stopwatch.total(), phases)
