"""Draw the media callbacks' plots on one background thread while training goes on."""

from __future__ import annotations

import lightning as L

from seqlab.figures.worker import (
    plots_join_at_exit,
    running_plot_worker,
    start_plot_worker,
    stop_plot_worker,
)


class BackgroundPlots(L.Callback):
    """Starts the plot worker (`seqlab.figures.worker.PlotWorker`) when a stage (fit, validate,
    test) sets up and joins it when the stage tears down, so every plot a callback asked for
    is complete on disk, and logged to W&B, when ``trainer.fit``/``trainer.test`` returns.
    Inside `seqlab.figures.worker.plots_joined_at_exit` (``python train.py``: fit then test) the
    worker runs on until that block ends instead, so the plots of the end of fit are drawn
    while the test stage runs. Finished plots reach W&B from the training thread at the end
    of each validation and training epoch. ``enabled: false`` draws every plot on the training thread instead;
    ``nice`` is the worker thread's CPU niceness (Linux).
    """

    def __init__(self, enabled: bool = True, nice: int = 10) -> None:
        self.enabled = bool(enabled)
        self.nice = int(nice)
        self._warmed = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.enabled and trainer.is_global_zero:
            start_plot_worker(nice=self.nice)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._warmed:
            return
        self._warmed = True  # after the first step: pyplot's import no longer delays it
        worker = running_plot_worker()
        if worker is not None:
            worker.warm()

    @staticmethod
    def _drain() -> None:
        worker = running_plot_worker()
        if worker is not None:
            worker.drain()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._drain()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._drain()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if plots_join_at_exit():
            self._drain()
        else:
            stop_plot_worker()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception) -> None:
        stop_plot_worker(raise_errors=False)  # the plots asked for so far, then the error
