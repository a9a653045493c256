"""Forecasting any time series a user has: ``data=series data.path=my.csv``.

A long-format table (time column, target column(s), optional covariates, optional group
column for many series in one file) becomes windows of ``window`` steps -> the next
``horizon`` values of the target(s). Everything is causal:

- splits as forecasters use them (`seqlab.data.series.splits`): each series' own last points
  (``holdout``, the default for many series), rolling origins (``backtest``) or one calendar
  cut (``calendar``, the default for one series); only targets lie in a split, inputs may
  reach back;
- target transform ``none`` | ``log`` | ``diff`` (first differences), inverted before scoring
  so errors are in the data's own units;
- scaling (mean/std per column) from training rows only: per series (``scaler=series``), over
  all series (``global``) or none;
- the test windows go to the evaluation as :class:`ScoredWindows`, which scores them per series
  beside the classical references (`seqlab.baselines.forecasts`).

Series shorter than what one window needs are named in one line and left out; blanks before a
series starts or after it ends are trimmed (`seqlab.data.series.table`).

Bundled real series (offline, inside the ``statsmodels`` wheel): ``data=sunspots``,
``data=nile``, ``data=elec_equip``, ``data=co2``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from seqlab.data.fingerprint import fingerprint
from seqlab.data.loaders import SplitLoaders, make_loader
from seqlab.data.package_files import package_file
from seqlab.data.series.scored_windows import ScoredWindows
from seqlab.data.series.splits import SPLITS, SeriesPlan, plan_series, split_cut_dates
from seqlab.data.series.table import describe, load_series, read_frame, series_names
from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)
TRANSFORMS = ("none", "log", "diff")
SCALERS = ("series", "global", "none")
# data.preset -> (package, file inside it)
PRESETS = {
    "sunspots": ("statsmodels", "datasets/sunspots/sunspots.csv"),
    "nile": ("statsmodels", "datasets/nile/nile.csv"),
    "elec_equip": ("statsmodels", "datasets/elec_equip/elec_equip.csv"),
    "co2": ("statsmodels", "datasets/co2/co2.csv"),
}
SEASONS = {"MS": 12, "ME": 12, "M": 12, "QS": 4, "QE": 4, "Q": 4, "W": 52, "D": 7, "h": 24, "H": 24}
SPLIT_NAMES = ("train", "val", "test")


def _as_list(value: Any) -> list[str]:
    """Column names as strings: one name or a list; a header like ``0`` reaches here as an int
    from the command line (data.target=0)."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        return [str(value)]
    return [str(v) for v in value]


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
        split: str = "auto",
        test_size: int | None = None,
        val_size: int | None = None,
        backtest: dict | None = None,
        train_frac: float = 0.7,
        val_frac: float = 0.15,
        scaler: str = "series",
        batch_size: int = 64,
        num_workers: int = 0,
        baselines: bool = True,
        ar_order: int | None = None,
        frame: pd.DataFrame | None = None,
    ) -> None:
        super().__init__()
        self.path, self.preset, self.frame = path, preset, frame
        self.time_column = str(time_column)  # headers such as 0 arrive as ints
        self.group_column = None if group_column is None else str(group_column)
        self.targets, self.features = _as_list(target), _as_list(features)
        self.frequency, self.date_format, self.missing = frequency, date_format, missing
        self.transform = transform
        self.window, self.horizon = int(window), int(horizon)
        self.season_given = season
        self.split = split
        self.test_size, self.val_size = test_size, val_size
        self.backtest = {"windows": 3, "step": None, **(backtest or {})}
        self.train_frac, self.val_frac = float(train_frac), float(val_frac)
        self.scaler = scaler
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.baselines, self.ar_order = bool(baselines), ar_order
        self._validate()
        self.table_frequency: str | None = None
        self.windows: dict[str, tuple[torch.Tensor, ...]] = {}
        self.scored: dict[str, ScoredWindows] = {}
        self.save_hyperparameters(ignore=["frame"])

    def _validate(self) -> None:
        if not self.targets:
            raise SeqlabError("data.target is empty. Fix: name the column(s) to forecast.")
        for name, value, known in (
            ("transform", self.transform, TRANSFORMS),
            ("split", self.split, SPLITS),
            ("scaler", self.scaler, SCALERS),
        ):
            if value not in known:
                raise SeqlabError(f"data.{name}={value!r} is not known. Fix: one of {list(known)}.")
        if self.window < 1 or self.horizon < 1:
            raise SeqlabError("data.window and data.horizon must be integers >= 1.")
        for name in ("test_size", "val_size"):
            value = getattr(self, name)
            least = self.horizon if name == "test_size" else 0
            if value is not None and int(value) < least:
                raise SeqlabError(
                    f"data.{name}={value} must be >= {least} (data.horizon={self.horizon} for "
                    "the test). Fix: a larger value, or null for the default."
                )
        if int(self.backtest["windows"]) < 1 or int(self.backtest["step"] or 1) < 1:
            raise SeqlabError("data.backtest.windows and data.backtest.step must be >= 1.")
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
            targets=self.targets,
        )

    @property
    def season(self) -> int:
        if self.season_given:
            return int(self.season_given)
        freq = (self.table_frequency or "").split("-")[0]
        return SEASONS.get(freq, 1)

    @property
    def columns(self) -> list[str]:
        return [*self.targets, *self.features]

    @property
    def mode(self) -> str:
        """The split in use: ``auto`` is holdout for many series, calendar for one."""
        if self.split != "auto":
            return self.split
        return "holdout" if len(self.levels) > 1 else "calendar"

    @property
    def min_inputs(self) -> int:
        """Real input steps a window needs at least (the rest of it repeats the first value)."""
        return min(self.window, max(self.horizon, self.season, 2))

    def setup(self, stage: str | None = None) -> None:
        if self.windows:
            return
        table = self._table()
        self.table_frequency = table.frequency
        self.levels, values = self._transformed(table)
        self.plans = self._plans(values)
        self.mean, self.std = self._scaling(values)
        shift = 1 if self.transform == "diff" else 0  # z[k] is level[k+1] - level[k]
        rows: dict[str, list] = {split: [] for split in SPLIT_NAMES}
        meta: list[tuple[str, int, int]] = []  # test windows: (series, origin, fit end) in levels
        for name, frame in values.items():
            scaled = (frame[self.columns].to_numpy(np.float64) - self.mean[name]) / self.std[name]
            plan = self.plans[name]
            for split in SPLIT_NAMES:
                for o in plan.origins(split):
                    rows[split].append(self._window(scaled, o))
                    if split == "test":
                        meta.append((name, o + shift, self._fit_end(plan, o) + shift))
        for split in SPLIT_NAMES:
            if not rows[split]:
                raise SeqlabError(
                    f"data: the {split} split has no window of data.window={self.window} + "
                    f"data.horizon={self.horizon} steps in any series ({describe(table)}, "
                    f"data.split={self.mode}). Fix: a shorter window or horizon, a smaller "
                    "data.test_size / data.val_size, or longer series."
                )
            x = torch.tensor(np.stack([r[0] for r in rows[split]]), dtype=torch.float32)
            y = torch.tensor(np.stack([r[1] for r in rows[split]]), dtype=torch.float32)
            self.windows[split] = (x, y)
        self.scored["test"] = self._scored(meta)
        self._report(table)

    def _window(self, scaled: np.ndarray, origin: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (window, F) ending just before ``origin`` (left-padded with the first value
        when the series is shorter) and targets (horizon * n_targets,), step-major."""
        x = scaled[max(0, origin - self.window) : origin]
        if len(x) < self.window:
            x = np.concatenate([np.repeat(x[:1], self.window - len(x), axis=0), x])
        y = scaled[origin : origin + self.horizon, : len(self.targets)]
        return x, y.reshape(-1)

    def _fit_end(self, plan: SeriesPlan, origin: int) -> int:
        """The history a reference model is fitted on, for the test window at ``origin``:
        the training split (calendar), everything before the test block (holdout), or
        everything before that origin (backtest: refitted per origin)."""
        if self.mode == "calendar":
            return plan.train_end
        if self.mode == "backtest":
            return origin
        return plan.test[0]

    def _plans(self, values: dict[str, pd.DataFrame]) -> dict[str, SeriesPlan]:
        test_size = int(self.test_size or self.horizon)
        if self.mode == "backtest":
            step = int(self.backtest["step"] or self.horizon)
            test_size = self.horizon + step * (int(self.backtest["windows"]) - 1)
        else:
            step = 1
        val_size = int(self.val_size if self.val_size is not None else test_size)
        cuts = self._calendar_cuts(values) if self.mode == "calendar" else {}
        return {
            name: plan_series(
                len(frame),
                mode=self.mode,
                window=self.window,
                horizon=self.horizon,
                min_inputs=self.min_inputs,
                test_size=test_size,
                val_size=val_size if self.mode != "backtest" else self.horizon,
                step=step,
                windows=int(self.backtest["windows"]),
                cuts=cuts.get(name),
            )
            for name, frame in values.items()
        }

    def _calendar_cuts(self, values: dict[str, pd.DataFrame]) -> dict[str, tuple[int, int]]:
        """The same calendar cut for every series (train_frac / val_frac of the time axis)."""
        times = pd.concat([v["time"] for v in values.values()])
        cut_val, cut_test = split_cut_dates(times, self.train_frac, self.val_frac)
        return {
            name: (int((frame["time"] < cut_val).sum()), int((frame["time"] < cut_test).sum()))
            for name, frame in values.items()
        }

    def _transformed(self, table) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        """(levels in the data's units, model values after the target transform) per series;
        series too short for one window are named and left out."""
        levels, values, short = {}, {}, []
        need = self.min_inputs + self.horizon + (1 if self.transform == "diff" else 0)
        for name, frame in table.series.items():
            label = f"series {name!r}" if self.group_column else "the series"
            if len(frame) < need:
                short.append(name)
                continue
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
        if short:
            message = (
                f"{series_names(short)} shorter than {need} steps (data.horizon plus "
                f"{self.min_inputs} inputs{' plus 1 for diff' if self.transform == 'diff' else ''})"
            )
            if not levels:
                raise SeqlabError(
                    f"data: every series is too short: {message}. Fix: a shorter data.window "
                    "/ data.horizon, or longer series."
                )
            table.report.append(f"{message}: left out")
        return levels, values

    def _scaling(
        self, values: dict[str, pd.DataFrame]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Mean and std per column from training rows only: per series, pooled, or none."""
        width = len(self.columns)
        train = {
            name: frame[self.columns].to_numpy(np.float64)[: max(self.plans[name].train_end, 1)]
            for name, frame in values.items()
        }
        if self.scaler == "none":
            ones = {name: (np.zeros(width), np.ones(width)) for name in values}
        elif self.scaler == "global":
            pooled = np.concatenate(list(train.values()))
            stats = (pooled.mean(axis=0), pooled.std(axis=0))
            ones = {name: stats for name in values}
        else:
            ones = {name: (rows.mean(axis=0), rows.std(axis=0)) for name, rows in train.items()}
        mean = {name: m for name, (m, _) in ones.items()}
        std = {name: np.where(np.isfinite(s) & (s > 0), s, 1.0) for name, (_, s) in ones.items()}
        return mean, std

    def _scored(self, meta: list[tuple[str, int, int]]) -> ScoredWindows:
        n = len(self.targets)
        return ScoredWindows(
            series=[m[0] for m in meta],
            origins=np.array([m[1] for m in meta], dtype=np.int64),
            fit_ends=np.array([m[2] for m in meta], dtype=np.int64),
            levels={k: f[self.targets].to_numpy(np.float64) for k, f in self.levels.items()},
            times={k: f["time"].to_numpy() for k, f in self.levels.items()},
            mean={k: v[:n] for k, v in self.mean.items()},
            std={k: v[:n] for k, v in self.std.items()},
            targets=list(self.targets),
            horizon=self.horizon,
            season=self.season,
            transform=self.transform,
            backtest=self.mode == "backtest",
        )

    def _report(self, table) -> None:
        untested = [name for name, plan in self.plans.items() if not plan.test]
        if untested:
            table.report.append(
                f"{series_names(untested)} too short for a test window after data.window: "
                "trained on, not tested"
            )
        constant = [
            name
            for name, frame in self.levels.items()
            if (frame[self.targets].nunique() <= 1).any()
        ]
        if constant:
            table.report.append(
                f"{series_names(constant)} constant: MASE is undefined there (scored by MAE and sMAPE)"
            )
        for note in table.report:
            log.info("%s", note)
        log.info(
            "series: %s; split %s; windows train/val/test %s",
            describe(table),
            self.mode,
            "/".join(str(len(self.windows[s][0])) for s in SPLIT_NAMES),
        )

    # ------------------------------------------------------------------ spec and loaders
    @property
    def spec(self) -> DataSpec:
        n = len(self.targets)
        one = next(iter(self.mean))
        # the global scaler's statistics map model units to the data's units for every series;
        # per-series scaling is undone by the evaluation (ScoredWindows), so the task sees 0/1
        pooled = self.scaler == "global" and self.transform == "none"
        mean = np.tile(self.mean[one][:n] if pooled else np.zeros(n), self.horizon).tolist()
        std = np.tile(self.std[one][:n] if pooled else np.ones(n), self.horizon).tolist()
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
                "persistence": "zero" if self.transform == "diff" else "last",
                "metrics": "series",
                # per-window normalisation suits series of any level (model.normalize=auto)
                "normalize": "window",
                "num_series": len(self.levels),
                "frequency": self.table_frequency,
                "season": self.season,
                "horizon": self.horizon,
                "transform": self.transform,
                "scaler": self.scaler,
                "split": self.mode,
                # what predict.py needs to read a new file the way training read this one
                "table": {
                    "time_column": self.time_column,
                    "group_column": self.group_column,
                    "features": self.features,
                    "date_format": self.date_format,
                    "missing": self.missing,
                    "window": self.window,
                    "min_inputs": self.min_inputs,
                    "global_mean": self.mean[one].tolist() if self.scaler == "global" else None,
                    "global_std": self.std[one].tolist() if self.scaler == "global" else None,
                },
                "data_fingerprint": self.fingerprint(),
            },
        )

    def fingerprint(self) -> str:
        return fingerprint(*self.windows["test"])

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        x, y = self.windows[split]
        # evaluation batches carry each window's row, so forecasts meet their series and
        # origin again after any sampler (partial tests, DDP)
        tensors = (x, y) if split == "train" else (x, y, torch.arange(len(x)))
        return make_loader(
            TensorDataset(*tensors),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
        )

    @property
    def forecast_windows(self) -> ScoredWindows | None:
        """The test windows with what scoring them takes (read by the forecasting task)."""
        return self.scored.get("test")

    @property
    def reference_settings(self) -> dict[str, Any]:
        """Which reference forecasts fit this data, and their settings."""
        order = self.ar_order or min(self.window, max(self.season, 1) + 1)
        return {"enabled": self.baselines, "ar_order": int(order)}
