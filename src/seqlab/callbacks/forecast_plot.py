"""Predicted vs actual returns, and the price path they imply, on the test split."""

from __future__ import annotations

import lightning as L

from seqlab.plotting import forecast_figure, plot_to_run


class ForecastPlot(L.Callback):
    """After testing a forecasting task: one panel pair per ticker (returns, prices)."""

    def __init__(self, max_points: int = 250) -> None:
        self.max_points = max_points

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        predictions = getattr(pl_module, "test_predictions", None)
        splits = getattr(trainer.datamodule, "splits", None)
        if not predictions or not isinstance(splits, dict) or not trainer.is_global_zero:
            return
        test = splits["test"]
        if getattr(test, "ticker", None) is None:
            return  # a dataset without series ids and dates (a user's own): nothing to draw
        pred = predictions["pred"][:, 0].numpy()
        true = predictions["target"][:, 0].numpy()
        if len(pred) != len(test.ticker):
            return  # partial test (limit_test_batches): the rows do not line up with dates
        max_points = self.max_points
        plot_to_run(trainer, "forecast_test", lambda: forecast_figure(test, pred, true, max_points))
