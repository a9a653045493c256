"""Vanishing gradients, made visible: ‖∂L_T/∂x_t‖ over time steps t, during training.

The measure (`SeqlabTask.input_gradient_norms`) is exact: per sequence, in eval mode, in
float64; it is kept in float64 here too, in the CSV and the plot (no floor, no underflow)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import lightning as L
import numpy as np

from seqlab.callbacks.media_budget import media_allowed, media_time
from seqlab.figures.gradients import gradient_flow_log_figure
from seqlab.figures.worker import plot_to_run
from seqlab.utils.files import atomic_write_text


class GradientFlow(L.Callback):
    """Every ``every_n_steps`` optimiser steps, measure how strongly the loss at the last
    step of a batch depends on each earlier input step (the mean over up to ``max_rows``
    sequences of each one's ‖∂L_T/∂x_t‖); at the end of fit, save ``gradient_flow.csv`` and
    a heatmap (training step × time step, log10 norm) with the first/last profiles (drawn by
    the background plot worker when one runs).

    One measurement costs about one training step of ``max_rows`` sequences, in float64
    (a GPT of width 128, T=64, 32 rows: 1.7 steps of batch 32): every 200 steps it is
    under 1% of training. With a `MediaBudget` among the callbacks, a measurement that would
    exceed it waits for a later batch (at most one measurement per ``every_n_steps`` window)."""

    def __init__(self, every_n_steps: int = 200, max_rows: int = 32) -> None:
        self.every_n_steps = every_n_steps
        self.max_rows = max_rows
        self.steps: list[int] = []
        self.norms: list[np.ndarray] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # before the optimiser step: global step 0 is the network at initialisation
        if not hasattr(pl_module, "input_gradient_norms") or not trainer.is_global_zero:
            return
        # once per window of every_n_steps steps: at its first step, or later in the window
        # when the media budget deferred it
        last = self.steps[-1] if self.steps else -1
        if trainer.global_step // self.every_n_steps <= last // self.every_n_steps:
            return
        if len(batch) > 2:
            return  # padded sequences of varying length: no common time axis to plot
        if not media_allowed(trainer, "gradient flow"):
            return
        rows = tuple(part[: self.max_rows] for part in batch[:2])
        try:
            with media_time(trainer):
                norms = pl_module.input_gradient_norms(rows).detach().cpu().double().numpy()
        except NotImplementedError:
            return
        self.steps.append(trainer.global_step)
        self.norms.append(norms)
        ratio = float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")
        pl_module.log("grad_flow/first_over_last", ratio, on_step=True, on_epoch=False)
        # the same in log10: a metric logged as float32 would read 0 below 1e-45
        log_ratio = float(np.log10(norms[0]) - np.log10(norms[-1])) if norms.all() else np.nan
        pl_module.log("grad_flow/log10_first_over_last", log_ratio, on_step=True, on_epoch=False)

    def on_fit_end(self, trainer, pl_module) -> None:
        if not self.norms or not trainer.is_global_zero:
            return
        out = Path(trainer.default_root_dir)
        table = np.stack(self.norms)  # (logged steps, T)
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(["global_step", *[f"t{t}" for t in range(table.shape[1])]])
        for step, row in zip(self.steps, table, strict=True):
            writer.writerow([step, *row.tolist()])  # str(float): every float64 digit
        atomic_write_text(out / "gradient_flow.csv", text.getvalue())
        steps, name = list(self.steps), type(pl_module.backbone).__name__
        plot_to_run(trainer, "gradient_flow", lambda: gradient_flow_log_figure(steps, table, name))
