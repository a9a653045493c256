"""Predicted vs actual returns, and the price path they imply, on the test split."""

from __future__ import annotations

import lightning as L
import numpy as np

from seqlab.callbacks.media import matplotlib_headless, save_figure


class ForecastPlot(L.Callback):
    """After testing a forecasting task: one panel pair per ticker (returns, prices)."""

    def __init__(self, max_points: int = 250) -> None:
        self.max_points = max_points

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        predictions = getattr(pl_module, "test_predictions", None)
        splits = getattr(trainer.datamodule, "splits", None)
        if not predictions or not splits or not trainer.is_global_zero:
            return
        test = splits["test"]
        pred = predictions["pred"][:, 0].numpy()
        true = predictions["target"][:, 0].numpy()
        if len(pred) != len(test.ticker):
            return  # partial test (limit_test_batches): the rows do not line up with dates
        matplotlib_headless()
        import matplotlib.pyplot as plt

        tickers = list(dict.fromkeys(test.ticker))
        fig, axes = plt.subplots(2, len(tickers), figsize=(4.2 * len(tickers), 6), squeeze=False)
        for col, ticker in enumerate(tickers):
            rows = np.flatnonzero(test.ticker == ticker)[-self.max_points :]
            dates = test.date[rows]
            ax = axes[0, col]
            ax.plot(dates, true[rows], lw=0.8, label="actual")
            ax.plot(dates, pred[rows], lw=0.8, label="predicted")
            ax.axhline(0.0, color="grey", lw=0.6, ls="--", label="persistence (0)")
            ax.set_title(f"{ticker}: next-day log return")
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
            # One-step-ahead implied price: P_{t+1} = P_t * exp(predicted return).
            last = test.last_price[rows]
            ax = axes[1, col]
            ax.plot(dates, last * np.exp(true[rows]), lw=0.9, label="actual")
            ax.plot(dates, last * np.exp(pred[rows]), lw=0.9, label="implied by forecast")
            ax.set_title(f"{ticker}: adjusted close")
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        axes[0, 0].legend(fontsize=7)
        axes[1, 0].legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, trainer, "forecast_test")
