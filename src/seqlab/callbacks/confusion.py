"""Confusion matrices of a classification task as PNG (run dir plots/) and W&B images."""

from __future__ import annotations

import lightning as L

from seqlab.figures.classification import confusion_figure
from seqlab.figures.worker import plot_to_run


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
        counts = matrix.numpy().copy()
        plot_to_run(trainer, f"confusion_{stage}", lambda: confusion_figure(counts, names, title))

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._plot(trainer, pl_module, "val")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._plot(trainer, pl_module, "test")
