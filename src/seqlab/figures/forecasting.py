"""Forecasting figures: price returns and the prices they imply; any series' forecasts."""

from __future__ import annotations

import numpy as np

from seqlab.figures.worker import matplotlib_headless


def forecast_figure(split, pred: np.ndarray, true: np.ndarray, max_points: int):
    """One column per ticker of ``split`` (``ticker``, ``date``, ``last_price`` per row):
    predicted vs actual next-day log returns on top, the prices they imply below (the last
    ``max_points`` rows of each ticker)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    tickers = list(dict.fromkeys(split.ticker))
    fig, axes = plt.subplots(2, len(tickers), figsize=(4.2 * len(tickers), 6), squeeze=False)
    for col, ticker in enumerate(tickers):
        rows = np.flatnonzero(split.ticker == ticker)[-max_points:]
        dates = split.date[rows]
        ax = axes[0, col]
        ax.plot(dates, true[rows], lw=0.8, label="actual")
        ax.plot(dates, pred[rows], lw=0.8, label="predicted")
        ax.axhline(0.0, color="grey", lw=0.6, ls="--", label="persistence (0)")
        ax.set_title(f"{ticker}: next-day log return")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        # One-step-ahead implied price: P_{t+1} = P_t * exp(predicted return).
        last = split.last_price[rows]
        ax = axes[1, col]
        ax.plot(dates, last * np.exp(true[rows]), lw=0.9, label="actual")
        ax.plot(dates, last * np.exp(pred[rows]), lw=0.9, label="implied by forecast")
        ax.set_title(f"{ticker}: adjusted close")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    # fixed margins (in inches at the sides): tight_layout's extra draw pass was a third of
    # this figure's cost, the last plot of a forecasting run (nothing left to overlap it)
    width = 4.2 * len(tickers)
    fig.subplots_adjust(
        left=0.75 / width, right=1 - 0.15 / width, bottom=0.12, top=0.95, hspace=0.5, wspace=0.25
    )
    return fig


def series_forecast_figure(panels: list[dict], reference: str | None):
    """One panel per chosen series (e.g. worst, median and best by MASE): the history before
    the last origin, the actual values after it, the model's forecast from that origin with
    its interval when there is one, and the best reference's forecast.

    Each panel: ``title``, ``history_time``/``history`` (arrays), ``time``, ``actual``,
    ``model``, optional ``lo``/``hi`` and ``reference`` (arrays over the horizon)."""
    matplotlib_headless()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        ax.plot(panel["history_time"], panel["history"], color="0.35", lw=0.9, label="history")
        ax.plot(panel["time"], panel["actual"], color="black", lw=1.2, marker=".", label="actual")
        ax.plot(panel["time"], panel["model"], color="tab:blue", lw=1.2, marker=".", label="model")
        if panel.get("lo") is not None:
            ax.fill_between(
                panel["time"], panel["lo"], panel["hi"], color="tab:blue", alpha=0.2, label="95%"
            )
        if panel.get("reference") is not None:
            ax.plot(
                panel["time"],
                panel["reference"],
                color="tab:orange",
                lw=1,
                ls="--",
                label=reference,
            )
        ax.axvline(panel["history_time"][-1], color="0.6", lw=0.6, ls=":")
        ax.set_title(panel["title"], fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig
