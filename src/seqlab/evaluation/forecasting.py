"""Forecasts scored as the field scores them: per series, then averaged.

:func:`forecasts_frame` puts the model's test forecasts in the data's own units beside the
actual values and every reference forecast, in long format, one row per (series, origin, step):

    series, [target,] origin, time, step, actual, model, [lo, hi,] <reference>..., mase_scale

``origin`` is the time of the last value the forecast could see (neuralforecast's ``cutoff``),
``mase_scale`` the in-sample MAE of the seasonal-naive forecast on the history the references
were fitted on, so every score below can be recomputed from the file alone.

:func:`score` reads such a frame: for each series (and target) MAE, RMSE, sMAPE (percent,
200·|y−ŷ|/(|y|+|ŷ|)) and MASE (|y−ŷ| / mase_scale), averaged over series; OWA against Naive2
(M4: ½(sMAPE/sMAPE_Naive2 + MASE/MASE_Naive2), from the averages); the share of series on which
the model's MAE beats each reference (``beats_<reference>``), and the model's mean rank among
all forecasts by MAE (1 = best). MAE and RMSE in the data's units are reported only when there
is one series (``mae_units``, ``rmse_units``): averaged over series of different scales they
mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqlab.baselines.forecasts import (
    BASELINES,
    SeriesWindows,
    classical_forecasts,
    seasonal_scale,
)
from seqlab.data.series.scored_windows import ScoredWindows

KEYS = ("series", "target", "origin", "time", "step")


@dataclass
class Failure:
    series: str
    reference: str
    reason: str


@dataclass
class ForecastEvaluation:
    frame: pd.DataFrame
    metrics: dict[str, float]
    failures: list[Failure] = field(default_factory=list)
    per_series: pd.DataFrame | None = None

    def failure_lines(self, shown: int = 3) -> list[str]:
        """One line per reference that failed somewhere: how often, and the first cases."""
        lines = []
        for name in dict.fromkeys(f.reference for f in self.failures):
            cases = [f for f in self.failures if f.reference == name]
            first = "; ".join(f"{f.series}: {f.reason}" for f in cases[:shown])
            lines.append(f"reference {name} failed on {len(cases)} series ({first})")
        return lines


def forecasts_frame(
    windows: ScoredWindows,
    model: np.ndarray,
    rows: np.ndarray,
    *,
    references: bool = True,
    ar_order: int = 1,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, list[Failure]]:
    """model (len(rows), H, n) in the data's units for ``windows`` rows ``rows`` -> the long
    frame and the references that failed (per series)."""
    H, targets = windows.horizon, windows.targets
    series = np.asarray(windows.series, dtype=object)[rows]
    origins, fit_ends = windows.origins[rows], windows.fit_ends[rows]
    actual = windows.actuals()[rows]  # (N, H, n)
    failures: list[Failure] = []
    columns: dict[str, list[np.ndarray]] = {}
    for j, target in enumerate(targets):
        reference = {name: np.full((len(rows), H), np.nan) for name in BASELINES}
        scale = np.full(len(rows), np.nan)
        groups = pd.DataFrame({"s": series, "f": fit_ends}).groupby(["s", "f"], sort=False)
        for (name, fit_end), index in groups.indices.items():
            level = windows.levels[name][:, j]
            scale[index] = seasonal_scale(level[:fit_end], windows.season)
            if not references:
                continue
            w = SeriesWindows(level, int(fit_end), origins[index], H)
            made, failed = classical_forecasts(w, windows.season, ar_order)
            for ref, values in made.items():
                reference[ref][index] = values
            label = name if len(targets) == 1 else f"{name}/{target}"
            failures += [Failure(label, ref, why) for ref, why in failed.items()]
        part = {
            "series": np.repeat(series, H),
            "target": np.full(len(rows) * H, target, dtype=object),
            "origin": np.repeat(
                [windows.times[s][o - 1] for s, o in zip(series, origins, strict=True)], H
            ),
            "time": np.concatenate(
                [windows.times[s][o : o + H] for s, o in zip(series, origins, strict=True)]
            ),
            "step": np.tile(np.arange(1, H + 1), len(rows)),
            "actual": actual[:, :, j].reshape(-1),
            "model": model[:, :, j].reshape(-1),
        }
        if bounds is not None:
            part["lo"], part["hi"] = bounds[0][:, :, j].reshape(-1), bounds[1][:, :, j].reshape(-1)
        if references:
            part |= {name: reference[name].reshape(-1) for name in BASELINES}
        part["mase_scale"] = np.repeat(scale, H)
        for key, values in part.items():
            columns.setdefault(key, []).append(np.asarray(values))
    frame = pd.DataFrame({key: np.concatenate(parts) for key, parts in columns.items()})
    if len(targets) == 1:
        frame = frame.drop(columns="target")
    return frame, failures


def _per_series(frame: pd.DataFrame, forecasts: list[str]) -> pd.DataFrame:
    """One row per series (and target): mae, rmse, smape, mase of each forecast."""
    keys = [k for k in ("series", "target") if k in frame.columns]
    y = frame["actual"].to_numpy(np.float64)
    out = {}
    for name in forecasts:
        yhat = frame[name].to_numpy(np.float64)
        err = np.abs(yhat - y)
        denom = np.abs(y) + np.abs(yhat)
        smape = np.where(denom > 0, 200.0 * err / np.where(denom > 0, denom, 1.0), 0.0)
        scale = frame["mase_scale"].to_numpy(np.float64)
        parts = pd.DataFrame(
            {
                "mae": err,
                "se": err**2,
                "smape": np.where(np.isnan(yhat), np.nan, smape),
                "mase": err / np.where(scale > 0, scale, np.nan),
            }
        )
        for key in keys:
            parts[key] = frame[key].to_numpy()
        grouped = parts.groupby(keys, sort=True).mean()
        grouped["rmse"] = np.sqrt(grouped.pop("se"))
        out[name] = grouped
    return pd.concat(out, axis=1)  # columns: (forecast, metric)


def score(frame: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    """The metrics of a forecasts frame (see the module docstring), and the per-series table."""
    references = [name for name in BASELINES if name in frame.columns]
    forecasts = ["model", *references]
    table = _per_series(frame, forecasts)
    one_series = len(table) == 1
    metrics: dict[str, float] = {"series_scored": float(len(table))}

    def averaged(name: str) -> dict[str, float]:
        values = {m: float(np.nanmean(table[(name, m)])) for m in ("smape", "mase")}
        if one_series:
            values |= {"mae_units": float(table[(name, "mae")].iloc[0])}
            values |= {"rmse_units": float(table[(name, "rmse")].iloc[0])}
        return values

    scores = {name: averaged(name) for name in forecasts if table[(name, "mae")].notna().any()}
    if "naive2" in scores:
        base = scores["naive2"]
        for values in scores.values():
            values["owa"] = 0.5 * (values["smape"] / base["smape"] + values["mase"] / base["mase"])
    for name, values in scores.items():
        prefix = "" if name == "model" else f"baseline_{name}_"
        metrics |= {f"{prefix}{metric}": value for metric, value in values.items()}
    mae = pd.DataFrame({name: table[(name, "mae")] for name in forecasts})
    for name in references:
        both = mae[name].notna()
        if both.any():
            metrics[f"beats_{name}"] = float((mae["model"][both] < mae[name][both]).mean())
    ranks = mae.rank(axis=1, method="average")["model"]
    metrics["mean_rank"] = float(ranks.mean())
    return {k: v for k, v in metrics.items() if np.isfinite(v)}, table


def evaluate(
    windows: ScoredWindows,
    model: np.ndarray,
    rows: np.ndarray,
    *,
    references: bool = True,
    ar_order: int = 1,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> ForecastEvaluation:
    frame, failures = forecasts_frame(
        windows, model, rows, references=references, ar_order=ar_order, bounds=bounds
    )
    metrics, table = score(frame)
    if windows.backtest:  # rolling origins: the scores at the k-th origin of every series
        k = frame.groupby("series")["origin"].rank(method="dense").astype(int) - 1
        for number, part in frame.groupby(k.to_numpy()):
            scores, _ = score(part)
            metrics |= {f"origin_{number}_{m}": scores[m] for m in ("mase", "smape") if m in scores}
    if bounds is not None:
        inside = (frame["actual"] >= frame["lo"]) & (frame["actual"] <= frame["hi"])
        metrics["coverage_interval"] = float(inside.mean())
    return ForecastEvaluation(frame=frame, metrics=metrics, failures=failures, per_series=table)
