"""The test windows of a forecasting split, with what it takes to score them in the data's units.

The datamodule builds one :class:`ScoredWindows` for its test (or backtest) windows; the
evaluation (`seqlab.evaluation.forecasting`) turns the model's outputs into levels with
:meth:`ScoredWindows.to_levels` and compares them, series by series, with the actual values and
the reference forecasts fitted on each series' own history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ScoredWindows:
    series: list[str]  # (N,) the series of each window
    origins: np.ndarray  # (N,) index (in that series' levels) of the window's first target
    fit_ends: np.ndarray  # (N,) history a reference model may see: levels[:fit_end]
    levels: dict[str, np.ndarray]  # series -> (T, n_targets) in the data's own units
    times: dict[str, np.ndarray]  # series -> (T,) time stamps (or numbers)
    mean: dict[str, np.ndarray]  # series -> (n_targets,) scaler mean of the model values
    std: dict[str, np.ndarray]  # series -> (n_targets,) scaler std of the model values
    targets: list[str]
    horizon: int
    season: int
    transform: str  # none | log | diff
    backtest: bool = False  # rolling origins: scores per origin as well

    def __len__(self) -> int:
        return len(self.series)

    def to_levels(self, scaled: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Model outputs (N, horizon * n_targets), step-major, in scaled model units -> the
        forecasts in the data's own units (N, horizon, n_targets): scaler, then the target
        transform inverted (exp for log, a running sum from the last level for diff)."""
        rows = np.arange(len(self)) if rows is None else rows
        n = len(self.targets)
        out = np.asarray(scaled, np.float64).reshape(len(rows), self.horizon, n).copy()
        for k, i in enumerate(rows):
            name, origin = self.series[i], int(self.origins[i])
            values = out[k] * self.std[name] + self.mean[name]  # (horizon, n)
            if self.transform == "log":
                values = np.exp(values)
            elif self.transform == "diff":
                values = self.levels[name][origin - 1] + np.cumsum(values, axis=0)
            out[k] = values
        return out

    def actuals(self) -> np.ndarray:
        """(N, horizon, n_targets) the true values in the data's own units."""
        return np.stack(
            [
                self.levels[s][o : o + self.horizon]
                for s, o in zip(self.series, self.origins, strict=True)
            ]
        )
