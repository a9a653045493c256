"""The classical forecasts every forecasting run is judged against, on exactly its test windows.

Each is fitted on one series' own history (``level[:train_end]``: the training split, or
everything before the test block / the origin) and forecasts every test window of that series.
For each test window (series, forecast origin o, horizon H) in the data's own units:

- ``naive``: the last observed value, y_{o-1}, for every step (the random walk);
- ``naive2``: M4's Naive2, the naive forecast of the seasonally adjusted series, re-seasonalised
  (classical multiplicative decomposition, used when a 90% autocorrelation test at lag m
  finds a season);
- ``seasonal_naive``: the value one season earlier, y_{o+h-m·(⌊h/m⌋+1)};
- ``ar``: AR(p) fitted by ordinary least squares on the training split (statsmodels
  ``AutoReg``), iterated h steps from the window's own history;
- ``ets``: exponential smoothing (Holt-Winters, additive damped trend, additive season when
  two seasons fit in the training split; statsmodels ``ExponentialSmoothing``) fitted on the
  training split, its smoothing parameters then run over each window's history.

A reference that cannot be fitted on a series (too short, constant, a solver failure) is
reported for that series by :func:`classical_forecasts` and never ends a run. The scores are
computed in `seqlab.evaluation.forecasting`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

BASELINES = ("naive", "seasonal_naive", "naive2", "ar", "ets")
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


def naive(w: SeriesWindows, season: int) -> np.ndarray:
    return np.repeat(w.level[w.origins - 1][:, None], w.horizon, axis=1)


def seasonal_indices(history: np.ndarray, season: int) -> np.ndarray | None:
    """M4's seasonality test and classical multiplicative decomposition: the m seasonal
    indices (position k applies to times t with t % m == k), or None when the series shows no
    season at 90% (|acf_m| <= 1.645·sqrt((1 + 2·Σ_{k<m} acf_k²) / n)), is too short (< 3m),
    or is not positive."""
    m, n = int(season), len(history)
    if m <= 1 or n < 3 * m or (history <= 0).any():
        return None
    from statsmodels.tsa.seasonal import seasonal_decompose
    from statsmodels.tsa.stattools import acf

    r = acf(history, nlags=m, fft=False)
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(r[1:m] ** 2)) / n)
    if abs(r[m]) <= limit:
        return None
    seasonal = seasonal_decompose(history, model="multiplicative", period=m).seasonal
    return np.array([seasonal[k] for k in range(m)])  # seasonal[t] depends on t % m only


def naive2(w: SeriesWindows, season: int) -> np.ndarray:
    indices = seasonal_indices(w.level[: w.train_end], season)
    if indices is None:
        return naive(w, season)
    m = len(indices)
    last = w.origins - 1  # (N,)
    adjusted = w.level[last] / indices[last % m]  # the last seasonally adjusted value
    ahead = w.origins[:, None] + np.arange(w.horizon)[None, :]  # (N, H) forecast times
    return adjusted[:, None] * indices[ahead % m]


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
        start = w.level[max(0, o - p) : o]
        history = [float(start[0])] * (p - len(start)) + list(start)  # short: first value
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


def classical_forecasts(
    w: SeriesWindows, season: int, ar_order: int
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every reference forecast (N, H) of one series' windows, and for each reference that
    could not be fitted on this series the reason (it is left out for this series only)."""
    makers = {
        "naive": lambda: naive(w, season),
        "seasonal_naive": lambda: seasonal_naive(w, season),
        "naive2": lambda: naive2(w, season),
        "ar": lambda: ar(w, season, ar_order),
        "ets": lambda: ets(w, season),
    }
    forecasts, failures = {}, {}
    for name, make in makers.items():
        try:
            with np.errstate(all="ignore"):
                values = make()
        except Exception as err:  # any fitting failure is this series' result, not the run's
            failures[name] = f"{type(err).__name__}: {err}".splitlines()[0][:160]
            continue
        if values is None:
            failures[name] = f"skipped: more than {MAX_ETS_ORIGINS} origins"
        elif not np.isfinite(values).all():
            failures[name] = "non-finite forecast"
        else:
            forecasts[name] = values
    return forecasts, failures
