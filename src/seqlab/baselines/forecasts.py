"""The classical forecasts every forecasting run is judged against, on exactly its test windows.

For each test window (series, forecast origin o, horizon H) in the data's own units:

- ``naive``: the last observed value, y_{o-1}, for every step (the random walk);
- ``seasonal_naive``: the value one season earlier, y_{o+h-m·(⌊h/m⌋+1)};
- ``ar``: AR(p) fitted by ordinary least squares on the training split (statsmodels
  ``AutoReg``), iterated h steps from the window's own history;
- ``ets``: exponential smoothing (Holt-Winters, additive damped trend, additive season when
  two seasons fit in the training split; statsmodels ``ExponentialSmoothing``) fitted on the
  training split, its smoothing parameters then run over each window's history.

Metrics (pooled over windows and steps): MAE, RMSE, sMAPE (percent) and MASE, the error
scaled by the in-sample seasonal-naive MAE of the training split (per series), the field's
standard: MASE < 1 beats the seasonal-naive forecast on the training data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

BASELINES = ("naive", "seasonal_naive", "ar", "ets")
MAX_ETS_ORIGINS = 3000  # ETS re-runs per window origin when H > 1


@dataclass
class SeriesWindows:
    """One univariate series in its own units and the test windows cut from it."""

    level: np.ndarray  # (T,)
    train_end: int  # level[:train_end] is the training split
    origins: np.ndarray  # (N,) index of each window's first forecast step
    horizon: int

    def targets(self) -> np.ndarray:
        return np.stack([self.level[o : o + self.horizon] for o in self.origins])  # (N, H)


def seasonal_scale(level: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast (the MASE denominator)."""
    m = max(int(season), 1)
    if len(level) <= m:
        return float("nan")
    scale = float(np.mean(np.abs(level[m:] - level[:-m])))
    return scale if scale > 0 else float("nan")


def point_metrics(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """y, yhat (N, H); scale (N,) each window's series' MASE denominator."""
    err = yhat - y
    denom = np.abs(y) + np.abs(yhat)
    smape = np.where(denom > 0, 200.0 * np.abs(err) / np.where(denom > 0, denom, 1.0), 0.0)
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mase": float(np.nanmean(np.abs(err) / scale[:, None])),
        "smape": float(np.mean(smape)),
    }


def naive(w: SeriesWindows, season: int) -> np.ndarray:
    return np.repeat(w.level[w.origins - 1][:, None], w.horizon, axis=1)


def seasonal_naive(w: SeriesWindows, season: int) -> np.ndarray:
    m = max(int(season), 1)
    steps = np.arange(w.horizon)
    back = m * (steps // m + 1) - steps  # (H,) how far back each step looks
    return w.level[w.origins[:, None] - back[None, :]]


def ar(w: SeriesWindows, season: int, order: int) -> np.ndarray:
    from statsmodels.tsa.ar_model import AutoReg

    train = w.level[: w.train_end]
    p = max(1, min(int(order), len(train) // 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = AutoReg(train, lags=p, trend="c").fit().params  # [c, φ_1, ..., φ_p]
    const, phi = params[0], params[1:]
    out = np.empty((len(w.origins), w.horizon))
    for i, o in enumerate(w.origins):
        history = list(w.level[o - p : o])
        for h in range(w.horizon):
            nxt = const + float(np.dot(phi, history[::-1][:p]))
            out[i, h] = nxt
            history.append(nxt)
    return out


def ets(w: SeriesWindows, season: int) -> np.ndarray | None:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    train = w.level[: w.train_end]
    m = int(season)
    seasonal = "add" if m > 1 and len(train) >= 2 * m else None
    spec = dict(
        trend="add", damped_trend=True, seasonal=seasonal, seasonal_periods=m if seasonal else None
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = ExponentialSmoothing(train, initialization_method="estimated", **spec).fit()
        p = fitted.params
        known = dict(
            initialization_method="known",
            initial_level=p["initial_level"],
            initial_trend=p["initial_trend"],
            initial_seasonal=p["initial_seasons"] if seasonal else None,
        )
        smoothing = dict(
            smoothing_level=p["smoothing_level"],
            smoothing_trend=p["smoothing_trend"],
            smoothing_seasonal=p["smoothing_seasonal"] if seasonal else None,
            damping_trend=p["damping_trend"],
            optimized=False,
        )
        if w.horizon == 1:  # one-step forecasts for every origin from one pass
            end = int(w.origins.max()) + 1
            run = ExponentialSmoothing(w.level[:end], **spec, **known).fit(**smoothing)
            return np.asarray(run.fittedvalues)[w.origins][:, None]
        if len(w.origins) > MAX_ETS_ORIGINS:
            return None
        out = np.empty((len(w.origins), w.horizon))
        for i, o in enumerate(w.origins):
            run = ExponentialSmoothing(w.level[:o], **spec, **known).fit(**smoothing)
            out[i] = run.forecast(w.horizon)
        return out


def classical_forecasts(w: SeriesWindows, season: int, ar_order: int) -> dict[str, np.ndarray]:
    forecasts = {
        "naive": naive(w, season),
        "seasonal_naive": seasonal_naive(w, season),
        "ar": ar(w, season, ar_order),
    }
    smoothed = ets(w, season)
    if smoothed is not None:
        forecasts["ets"] = smoothed
    return forecasts
