"""Forecasts against what happened, on the test split, for any series.

Price series (``data=stocks``): predicted vs actual returns and the prices they imply, one
column per ticker. Any other series (``data=series``): the worst, median and best series by
MASE, each with its history, the model's forecast from the last origin (and interval), the
actual values and the best reference's forecast.
"""

from __future__ import annotations

import lightning as L
import numpy as np

from seqlab.figures.forecasting import forecast_figure, series_forecast_figure
from seqlab.figures.worker import plot_to_run


class ForecastPlot(L.Callback):
    """After testing a forecasting task: a figure of its test forecasts."""

    def __init__(self, max_points: int = 250, history: int = 48) -> None:
        self.max_points = max_points
        self.history = history

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        evaluation = getattr(pl_module, "test_evaluation", None)
        windows = getattr(trainer.datamodule, "forecast_windows", None)
        if evaluation is not None and windows is not None:
            panels, reference = series_panels(evaluation, windows, self.history)
            if panels:
                plot_to_run(
                    trainer, "forecast_test", lambda: series_forecast_figure(panels, reference)
                )
            return
        self._prices(trainer, pl_module)

    def _prices(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        predictions = getattr(pl_module, "test_predictions", None)
        splits = getattr(trainer.datamodule, "splits", None)
        if not predictions or not isinstance(splits, dict):
            return
        test = splits["test"]
        if getattr(test, "ticker", None) is None:
            return  # a dataset without series ids and dates: nothing to draw
        pred = predictions["pred"][:, 0].numpy()
        true = predictions["target"][:, 0].numpy()
        if len(pred) != len(test.ticker):
            return  # partial test (limit_test_batches): the rows do not line up with dates
        max_points = self.max_points
        plot_to_run(trainer, "forecast_test", lambda: forecast_figure(test, pred, true, max_points))


def series_panels(evaluation, windows, history: int) -> tuple[list[dict], str | None]:
    """Plain arrays for the figure: worst, median and best series by the model's MASE (by
    sMAPE where MASE is undefined), each at its last origin."""
    table, frame = evaluation.per_series, evaluation.frame
    metric = "mase" if table[("model", "mase")].notna().any() else "smape"
    ranked = table[("model", metric)].dropna().sort_values()
    if ranked.empty:
        return [], None
    picks = dict.fromkeys([ranked.index[-1], ranked.index[len(ranked) // 2], ranked.index[0]])
    names = ["worst", "median", "best"] if len(picks) == 3 else ["series"] * len(picks)
    references = [c for c in frame.columns if c in {k for k, _ in table.columns} - {"model"}]
    scores = {r: np.nanmean(table[(r, metric)]) for r in references}
    best = min(scores, key=scores.get) if scores else None
    panels = []
    for label, key in zip(names, picks, strict=True):
        series = key[0] if isinstance(key, tuple) else key
        rows = frame[frame["series"] == series]
        if "target" in rows.columns:
            rows = rows[rows["target"] == key[1]]
        last = rows[rows["origin"] == rows["origin"].iloc[-1]]
        j = windows.targets.index(key[1]) if isinstance(key, tuple) else 0
        times, level = windows.times[series], windows.levels[series][:, j]
        cut = int(np.searchsorted(times, last["time"].iloc[0]))
        panel = {
            "title": f"{label}: {series} ({metric.upper()} {ranked[key]:.3g})",
            "history_time": times[max(0, cut - history) : cut],
            "history": level[max(0, cut - history) : cut],
            "time": last["time"].to_numpy(),
            "actual": last["actual"].to_numpy(),
            "model": last["model"].to_numpy(),
            "reference": None if best is None else last[best].to_numpy(),
        }
        if "lo" in last.columns:
            panel["lo"], panel["hi"] = last["lo"].to_numpy(), last["hi"].to_numpy()
        panels.append(panel)
    return panels, best
