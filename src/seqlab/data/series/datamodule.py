"""Forecasting any time series a user has: ``data=series data.path=my.csv``.

A long-format table (time column, target column(s), optional covariates, optional group
column for many series in one file) becomes windows of ``window`` steps -> the next
``horizon`` values of the target(s). Everything is causal and fitted on the training split:

- one chronological cut for every series (the same calendar times), no window crosses a split;
- target transform ``none`` | ``log`` | ``diff`` (first differences), inverted for the metrics
  so errors are in the data's own units;
- scaling (mean/std per column) from the training rows only;
- the classical baselines (`seqlab.baselines.forecasts`: naive, seasonal-naive, AR(p) by
  OLS, exponential smoothing) on exactly the test windows, next to MASE and sMAPE.

Bundled real series (offline, inside the ``statsmodels`` wheel): ``data=sunspots``,
``data=nile``, ``data=elec_equip``, ``data=co2``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from seqlab.baselines.forecasts import (
    BASELINES,
    SeriesWindows,
    classical_forecasts,
    point_metrics,
    seasonal_scale,
)
from seqlab.data.loaders import SplitLoaders, make_loader
from seqlab.data.package_files import package_file
from seqlab.data.series.table import describe, load_series, read_frame
from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)
TRANSFORMS = ("none", "log", "diff")
# data.preset -> (package, file inside it)
PRESETS = {
    "sunspots": ("statsmodels", "datasets/sunspots/sunspots.csv"),
    "nile": ("statsmodels", "datasets/nile/nile.csv"),
    "elec_equip": ("statsmodels", "datasets/elec_equip/elec_equip.csv"),
    "co2": ("statsmodels", "datasets/co2/co2.csv"),
}
SEASONS = {"MS": 12, "ME": 12, "M": 12, "QS": 4, "QE": 4, "Q": 4, "W": 52, "D": 7, "h": 24, "H": 24}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


class SeriesDataModule(SplitLoaders, L.LightningDataModule):
    """Windows of one or many series -> the next ``horizon`` values of the target(s)."""

    def __init__(
        self,
        *,
        path: str | None = None,
        preset: str | None = None,
        time_column: str = "time",
        target: str | list[str] = "value",
        features: list[str] | None = None,
        group_column: str | None = None,
        frequency: str | None = None,
        date_format: str | None = None,
        missing: str = "refuse",
        transform: str = "none",
        window: int = 24,
        horizon: int = 1,
        season: int | None = None,
        train_frac: float = 0.7,
        val_frac: float = 0.15,
        batch_size: int = 64,
        num_workers: int = 0,
        baselines: bool = True,
        ar_order: int | None = None,
        frame: pd.DataFrame | None = None,
    ) -> None:
        super().__init__()
        self.path, self.preset, self.frame = path, preset, frame
        self.time_column, self.group_column = time_column, group_column
        self.targets, self.features = _as_list(target), _as_list(features)
        self.frequency, self.date_format, self.missing = frequency, date_format, missing
        self.transform = transform
        self.window, self.horizon = int(window), int(horizon)
        self.season_given = season
        self.train_frac, self.val_frac = float(train_frac), float(val_frac)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.baselines, self.ar_order = bool(baselines), ar_order
        self._validate()
        self.table_frequency: str | None = None
        self.windows: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._test_meta: list[tuple[str, int]] = []  # (series, first forecast index in levels)
        self._classical: dict[str, float] | None = None
        self.save_hyperparameters(ignore=["frame"])

    def _validate(self) -> None:
        if not self.targets:
            raise SeqlabError("data.target is empty. Fix: name the column(s) to forecast.")
        if self.transform not in TRANSFORMS:
            raise SeqlabError(
                f"data.transform={self.transform!r} is not known. Fix: one of {list(TRANSFORMS)}."
            )
        if self.window < 1 or self.horizon < 1:
            raise SeqlabError("data.window and data.horizon must be integers >= 1.")
        if not (0 < self.train_frac < 1 and 0 < self.val_frac < 1 - self.train_frac):
            raise SeqlabError(
                f"data.train_frac={self.train_frac}, data.val_frac={self.val_frac}: need "
                "0 < train_frac, 0 < val_frac and train_frac + val_frac < 1 (test gets the rest)."
            )
        if self.preset is not None and self.preset not in PRESETS:
            raise SeqlabError(
                f"data.preset={self.preset!r} is not known; choose from {sorted(PRESETS)}."
            )

    # ------------------------------------------------------------------ reading
    def _table(self):
        path = self.path
        if self.preset is not None and path is None and self.frame is None:
            package, relative = PRESETS[self.preset]
            path = package_file(
                package, relative, field=f"data.preset={self.preset}", hint="set data.path"
            )
        frame, where = read_frame(path, self.frame)
        return load_series(
            frame,
            where=where,
            time_column=self.time_column,
            columns=[*self.targets, *self.features],
            group_column=self.group_column,
            frequency=self.frequency,
            date_format=self.date_format,
            missing=self.missing,
        )

    @property
    def season(self) -> int:
        if self.season_given:
            return int(self.season_given)
        freq = (self.table_frequency or "").split("-")[0]
        return SEASONS.get(freq, 1)

    def setup(self, stage: str | None = None) -> None:
        if self.windows:
            return
        table = self._table()
        self.table_frequency = table.frequency
        levels, values = self._transformed(table)
        cut_val, cut_test = self._cuts(values)
        stats = self._scaling(values, cut_val)
        self.mean, self.std = stats
        self.levels = levels
        splits: dict[str, list] = {"train": [], "val": [], "test": []}
        self._test_meta, self._train_ends = [], {}
        for name, frame in values.items():
            scaled = (frame[self.columns].to_numpy(np.float64) - self.mean) / self.std
            times = frame["time"]
            bounds = {
                "train": (0, int((times < cut_val).sum())),
                "val": (int((times < cut_val).sum()), int((times < cut_test).sum())),
                "test": (int((times < cut_test).sum()), len(frame)),
            }
            shift = 1 if self.transform == "diff" else 0  # z[k] is level[k+1] - level[k]
            self._train_ends[name] = bounds["train"][1] + shift
            for split, (start, end) in bounds.items():
                for i in range(start, end - self.window - self.horizon + 1):
                    x = scaled[i : i + self.window]
                    y = scaled[
                        i + self.window : i + self.window + self.horizon, : len(self.targets)
                    ]
                    splits[split].append((x, y.reshape(-1)))
                    if split == "test":
                        self._test_meta.append((name, i + self.window + shift))
        for split, rows in splits.items():
            if not rows:
                raise SeqlabError(
                    f"data: the {split} split has no window of data.window={self.window} + "
                    f"data.horizon={self.horizon} steps in any series ({describe(table)}). Fix: a "
                    "shorter window or horizon, or more data in that split (data.train_frac, "
                    "data.val_frac)."
                )
            x = torch.tensor(np.stack([r[0] for r in rows]), dtype=torch.float32)
            y = torch.tensor(np.stack([r[1] for r in rows]), dtype=torch.float32)
            self.windows[split] = (x, y)
        for note in table.report:
            log.info("%s", note)
        log.info(
            "series: %s; windows train/val/test %s",
            describe(table),
            "/".join(str(len(self.windows[s][0])) for s in ("train", "val", "test")),
        )

    @property
    def columns(self) -> list[str]:
        return [*self.targets, *self.features]

    def _transformed(self, table) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        """(levels in the data's units, model values after the target transform) per series."""
        levels, values = {}, {}
        for name, frame in table.series.items():
            label = f"series {name!r}" if self.group_column else "the series"
            need = self.window + self.horizon + (1 if self.transform == "diff" else 0)
            if len(frame) < need:
                raise SeqlabError(
                    f"data: {label} has {len(frame)} steps, fewer than data.window + data.horizon "
                    f"({need}). Fix: a shorter window/horizon, or drop that series."
                )
            out = frame.copy()
            if self.transform == "log":
                bad = (frame[self.targets] <= 0).any(axis=1)
                if bad.any():
                    row = int(bad.to_numpy().argmax())
                    raise SeqlabError(
                        f"data.transform=log: {label} has a value <= 0 at {frame['time'].iloc[row]}"
                        ". Fix: data.transform=none or diff."
                    )
                out[self.targets] = np.log(frame[self.targets])
            elif self.transform == "diff":
                out[self.targets] = frame[self.targets].diff()
                out = out.iloc[1:].reset_index(drop=True)
            levels[name], values[name] = frame, out
        return levels, values

    def _cuts(self, values: dict[str, pd.DataFrame]):
        """The same calendar cut for every series (train_frac / val_frac of the time axis)."""
        times = np.sort(pd.unique(pd.concat([v["time"] for v in values.values()])))
        n = len(times)
        return times[int(n * self.train_frac)], times[int(n * (self.train_frac + self.val_frac))]

    def _scaling(self, values: dict[str, pd.DataFrame], cut_val) -> tuple[np.ndarray, np.ndarray]:
        train = np.concatenate(
            [v.loc[v["time"] < cut_val, self.columns].to_numpy(np.float64) for v in values.values()]
        )
        mean, std = train.mean(axis=0), train.std(axis=0)
        return mean, np.where(std > 0, std, 1.0)

    # ------------------------------------------------------------------ spec and loaders
    @property
    def spec(self) -> DataSpec:
        n = len(self.targets)
        mean = np.tile(self.mean[:n], self.horizon).tolist()  # (horizon * n,) step-major
        std = np.tile(self.std[:n], self.horizon).tolist()
        return DataSpec(
            task="forecasting",
            num_features=len(self.columns),
            num_targets=self.horizon * n,
            seq_len=self.window,
            feature_names=tuple(self.columns),
            extra={
                "target": self.targets,
                "target_mean": mean,
                "target_std": std,
                # persistence in model units: the last input value of each target (levels),
                # or no change (differences)
                "persistence": "zero" if self.transform == "diff" else "last",
                "frequency": self.table_frequency,
                "season": self.season,
                "data_fingerprint": self.fingerprint(),
            },
        )

    def fingerprint(self) -> str:
        x, y = self.windows["test"]
        return hashlib.sha1(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()[:16]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = TensorDataset(*self.windows[split])
        return make_loader(
            dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers
        )

    # ------------------------------------------------------------------ evaluation
    def forecast_metrics(self, pred: torch.Tensor) -> dict[str, float]:
        """Test forecasts (N, horizon * targets) in model units (denormalised, transformed)
        -> MAE/RMSE/MASE/sMAPE in the data's units, next to the classical baselines."""
        if len(pred) != len(self._test_meta):
            return {}  # a partial test (limit_test_batches): windows do not line up
        n = len(self.targets)
        pred = pred.detach().double().cpu().numpy().reshape(len(pred), self.horizon, n)
        model, truth, scale = [], [], []
        classical: dict[str, list] = {name: [] for name in BASELINES}
        for j, target in enumerate(self.targets):
            for name, level_frame in self.levels.items():
                rows = [k for k, (s, _) in enumerate(self._test_meta) if s == name]
                if not rows:
                    continue
                level = level_frame[target].to_numpy(np.float64)
                origins = np.array([self._test_meta[k][1] for k in rows])
                windows = SeriesWindows(level, self._train_ends[name], origins, self.horizon)
                model.append(self._to_level(pred[rows, :, j], level, origins))
                truth.append(windows.targets())
                scale.append(
                    np.full(len(rows), seasonal_scale(level[: windows.train_end], self.season))
                )
                if self.baselines:
                    order = self.ar_order or min(self.window, max(self.season, 1) + 1)
                    for key, values in classical_forecasts(windows, self.season, order).items():
                        classical[key].append(values)
        y, s = np.concatenate(truth), np.concatenate(scale)
        metrics = {
            f"{k}_units" if k in ("mae", "rmse") else k: v
            for k, v in point_metrics(y, np.concatenate(model), s).items()
        }
        for key, parts in classical.items():
            if parts and len(parts) == len(truth):
                for metric, value in point_metrics(y, np.concatenate(parts), s).items():
                    metrics[f"baseline_{key}_{metric}"] = value
        return metrics

    def _to_level(self, pred: np.ndarray, level: np.ndarray, origins: np.ndarray) -> np.ndarray:
        if self.transform == "log":
            return np.exp(pred)
        if self.transform == "diff":
            return level[origins - 1][:, None] + np.cumsum(pred, axis=1)
        return pred
