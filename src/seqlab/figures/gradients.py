"""Gradient figures: gradient flow through time and layers, and the sweep comparisons
(vanishing/exploding gradients across models) drawn after a multirun."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqlab.figures.worker import matplotlib_headless


def gradient_flow_figure(steps: list[int], table: np.ndarray, model_name: str):
    """``table`` (logged steps, T) of ‖∂L_T/∂x_t‖: a heatmap (training step × time step,
    log10) and the first and last profiles."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    image = left.imshow(np.log10(table + 1e-30), aspect="auto", origin="lower", cmap="magma")
    left.set_xlabel("input time step t")
    left.set_ylabel("logged training step")
    left.set_yticks(range(len(steps)), [str(s) for s in steps], fontsize=6)
    left.set_title("log10 ‖∂L_T / ∂x_t‖")
    fig.colorbar(image, ax=left)
    right.semilogy(table[0], label=f"step {steps[0]}")
    right.semilogy(table[-1], label=f"step {steps[-1]}")
    right.set_xlabel("input time step t")
    right.set_title(f"gradient reaching each step ({model_name})")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def gradient_flow_comparison_figure(curves: list[tuple[str, Any, Any, int, int]]):
    """Curves ``(label, first profile, last profile, first step, last step)``, one per job:
    ‖∂L_T/∂x_t‖ over t at initialisation (left) and after training (right)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for label, first, last, *_steps in curves:
        axes[0].semilogy(first, label=label)
        axes[1].semilogy(last, label=label)
    axes[0].set_title(f"at initialisation (step {curves[0][3]})")
    axes[1].set_title(f"after training (step {curves[0][4]})")
    for ax in axes:
        ax.set_xlabel("input time step t (the loss is at the last step)")
    axes[0].set_ylabel("‖∂L_T / ∂x_t‖")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def gradient_flow_log_figure(steps: list[int], table: np.ndarray, model_name: str):
    """Like `gradient_flow_figure`, without a floor: ``table`` (logged steps, T) holds exact
    float64 norms (a tanh RNN's 1e-70 stays 1e-70); zeros, if any, are left blank."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    table = np.asarray(table, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logs = np.where(table > 0, np.log10(np.where(table > 0, table, 1.0)), np.nan)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    image = left.imshow(logs, aspect="auto", origin="lower", cmap="magma")
    left.set_xlabel("input time step t")
    left.set_ylabel("logged training step")
    left.set_yticks(range(len(steps)), [str(s) for s in steps], fontsize=6)
    left.set_title("log10 ‖∂L_T / ∂x_t‖ (float64, per sequence)")
    fig.colorbar(image, ax=left)
    right.semilogy(np.where(table[0] > 0, table[0], np.nan), label=f"step {steps[0]}")
    right.semilogy(np.where(table[-1] > 0, table[-1], np.nan), label=f"step {steps[-1]}")
    right.set_xlabel("input time step t")
    right.set_title(f"gradient reaching each step ({model_name})")
    right.legend(fontsize=7)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.25)  # no extra pass
    return fig


def grad_norm_comparison_figure(runs: list[dict[str, Any]], clip_val: float | None = None):
    """Exploding gradients, side by side: one dict per run with ``label``, ``grad_steps``,
    ``grad_norm`` (total 2-norm before clipping, log scale, left) and ``loss_steps``,
    ``loss`` (training loss, log scale, right); ``note`` (e.g. "stopped: train/loss is inf
    at global step 12") goes in the legend and an × marks the run's last finite values.
    ``clip_val`` draws the clipping threshold c."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for run in runs:
        label = run["label"] + (f"\n({run['note']})" if run.get("note") else "")
        color = None
        for ax, steps, values in (
            (left, run["grad_steps"], run["grad_norm"]),
            (right, run["loss_steps"], run["loss"]),
        ):
            steps, values = np.asarray(steps), np.asarray(values, dtype=np.float64)
            ok = np.isfinite(values) & (values > 0)
            (line,) = ax.semilogy(
                steps[ok], values[ok], lw=1, color=color, label=label if ax is left else None
            )
            color = line.get_color()
            if run.get("note") and ok.any():
                ax.plot(steps[ok][-1], values[ok][-1], "x", color=color, ms=8, mew=2)
    if clip_val:
        left.axhline(clip_val, color="black", ls="--", lw=0.8, label=f"c = {clip_val:g}")
    left.set_title("total gradient norm ‖g‖ before clipping")
    right.set_title("training loss")
    for ax in (left, right):
        ax.set_xlabel("training step")
    left.legend(fontsize=7)
    fig.tight_layout()
    return fig
