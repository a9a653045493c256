"""Exploding gradients, made visible: the total gradient norm ‖g‖ before clipping."""

from __future__ import annotations

import lightning as L
import torch

from seqlab.errors import SeqlabError


class GradNorm(L.Callback):
    """Every ``every_n_steps`` optimiser steps, log ``train/grad_norm``: the total 2-norm of
    all parameter gradients, ‖g‖ = sqrt(Σ_p ‖∂L/∂p‖²), measured **before** clipping.

    It runs in ``on_before_optimizer_step``, which Lightning calls after the backward pass
    (and after unscaling AMP gradients) and before ``gradient_clip_val`` clips them, so the
    logged value is the very number clipping compares with its threshold c: with clipping
    by norm, the step taken uses c·g/‖g‖ whenever this value exceeds c. (Under truncated
    BPTT's manual optimisation each chunk clips itself before its step: the value logged
    there is after that clipping.)

    The value goes straight to every logger at the current step, independent of
    ``trainer.log_every_n_steps``; the last one is kept in ``last`` and in
    ``trainer.callback_metrics``. ``per_parameter`` also logs each parameter's norm
    (``train/grad_norm/<name>``, Lightning's ``grad_norm`` utility).
    """

    def __init__(self, every_n_steps: int = 25, per_parameter: bool = False) -> None:
        if int(every_n_steps) < 1:
            raise SeqlabError(
                f"callbacks.grad_norm.every_n_steps must be >= 1, got {every_n_steps}. Fix: e.g. "
                "callbacks.grad_norm.every_n_steps=25, or callbacks.grad_norm=null."
            )
        self.every_n_steps = int(every_n_steps)
        self.per_parameter = per_parameter
        self.last: float | None = None

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step % self.every_n_steps:
            return
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if not grads:
            return
        # the function clip_grad_norm_ uses: the same number clipping compares with c
        total = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
        self.last = float(total)
        metrics = {"train/grad_norm": self.last}
        if self.per_parameter:
            from lightning.pytorch.utilities import grad_norm

            per_param = grad_norm(pl_module, norm_type=2)
            metrics.update(
                {
                    f"train/grad_norm/{k.removeprefix('grad_2.0_norm/')}": float(v)
                    for k, v in per_param.items()
                    if k != "grad_2.0_norm_total"
                }
            )
        trainer.callback_metrics["train/grad_norm"] = total.detach()
        if not trainer.is_global_zero:
            return
        step = trainer.fit_loop.epoch_loop._batches_that_stepped  # the step self.log uses
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
