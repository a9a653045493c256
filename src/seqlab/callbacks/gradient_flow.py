"""Vanishing gradients, made visible: ‖∂L_T/∂x_t‖ over time steps t, during training."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import numpy as np

from seqlab.callbacks.media import matplotlib_headless, save_figure


class GradientFlow(L.Callback):
    """Every ``every_n_steps`` optimiser steps, measure how strongly the loss at the last
    step of a batch depends on each earlier input step; at the end of fit, save a heatmap
    (training step × time step, log10 norm) and the first/last profiles."""

    def __init__(self, every_n_steps: int = 50, max_rows: int = 32) -> None:
        self.every_n_steps = every_n_steps
        self.max_rows = max_rows
        self.steps: list[int] = []
        self.norms: list[np.ndarray] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # before the optimiser step: global step 0 is the network at initialisation
        if not hasattr(pl_module, "input_gradient_norms") or not trainer.is_global_zero:
            return
        if trainer.global_step % self.every_n_steps != 0 or trainer.global_step in self.steps:
            return
        rows = tuple(part[: self.max_rows] for part in batch[:2])
        try:
            norms = pl_module.input_gradient_norms(rows).detach().float().cpu().numpy()
        except NotImplementedError:
            return
        self.steps.append(trainer.global_step)
        self.norms.append(norms)
        ratio = float(norms[0] / max(norms[-1], 1e-30))
        pl_module.log("grad_flow/first_over_last", ratio, on_step=True, on_epoch=False)

    def on_fit_end(self, trainer, pl_module) -> None:
        if not self.norms or not trainer.is_global_zero:
            return
        out = Path(trainer.default_root_dir)
        table = np.stack(self.norms)  # (logged steps, T)
        with (out / "gradient_flow.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["global_step", *[f"t{t}" for t in range(table.shape[1])]])
            for step, row in zip(self.steps, table, strict=True):
                writer.writerow([step, *row.tolist()])
        matplotlib_headless()
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
        image = left.imshow(np.log10(table + 1e-30), aspect="auto", origin="lower", cmap="magma")
        left.set_xlabel("input time step t")
        left.set_ylabel("logged training step")
        left.set_yticks(range(len(self.steps)), [str(s) for s in self.steps], fontsize=6)
        left.set_title("log10 ‖∂L_T / ∂x_t‖")
        fig.colorbar(image, ax=left)
        right.semilogy(table[0], label=f"step {self.steps[0]}")
        right.semilogy(table[-1], label=f"step {self.steps[-1]}")
        right.set_xlabel("input time step t")
        right.set_title(f"gradient reaching each step ({type(pl_module.backbone).__name__})")
        right.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, trainer, "gradient_flow")
