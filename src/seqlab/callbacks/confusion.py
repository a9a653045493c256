"""Confusion matrices of a classification task as PNG (run dir plots/) and W&B images."""

from __future__ import annotations

import lightning as L
import numpy as np

from seqlab.callbacks.media import matplotlib_headless, save_figure


def confusion_figure(matrix: np.ndarray, class_names: list[str], title: str):
    """Counts (rows = true class, columns = predicted), cells coloured by row share."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    k = len(matrix)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(2.0 + 0.55 * k, 14.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    colour = "white" if share[i, j] > 0.5 else "black"
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                            color=colour)  # fmt: skip
    ticks = range(k)
    ax.set_xticks(ticks, class_names, rotation=45 if k > 10 else 0, fontsize=7)
    ax.set_yticks(ticks, class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{title} (accuracy {accuracy:.4f}, n={int(matrix.sum())})")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    return fig


class ConfusionMatrixPlot(L.Callback):
    """After fit: the last validation confusion matrix; after test: the test one.

    Reads ``pl_module.confusion[stage]`` (set by `ClassificationTask`); a no-op for tasks
    without it.
    """

    def _plot(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        matrix = getattr(pl_module, "confusion", {}).get(stage)
        if matrix is None or not trainer.is_global_zero:
            return
        names = list(pl_module.spec.class_names) or [str(i) for i in range(len(matrix))]
        title = f"{stage} confusion, {type(pl_module.backbone).__name__}"
        if stage == "val":
            title += f", epoch {trainer.current_epoch}"
        fig = confusion_figure(matrix.numpy(), names, title)
        save_figure(fig, trainer, f"confusion_{stage}")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._plot(trainer, pl_module, "val")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._plot(trainer, pl_module, "test")
