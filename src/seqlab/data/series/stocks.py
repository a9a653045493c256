"""Real daily stock prices as forecasting windows, offline by default.

Source (default): ``bokeh_sampledata/_data/stocks.csv.gz`` shipped inside the
``bokeh_sampledata`` pip package: AAPL, IBM, MSFT 2000–2013, GOOG 2004–2013, FB 2012–2013,
daily OHLCV and adjusted close. Alternatives: ``csv_path`` (a Yahoo-style CSV of one
ticker) or ``source=yfinance`` (live download, needs network and ``pip install yfinance``).

Everything is causal: splits are chronological by calendar date (the same cut dates for
every ticker), no window crosses a split boundary, and normalisation statistics come from
the training split only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from seqlab.data.checks import check_int
from seqlab.data.fingerprint import fingerprint
from seqlab.data.loaders import SplitLoaders, make_loader
from seqlab.data.package_files import package_file
from seqlab.data.series.splits import split_cut_dates
from seqlab.data.series.table_checks import (
    numeric_columns,
    parse_dates,
    positive_columns,
    require_rows,
    unique_dates,
)
from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)

YAHOO_COLUMNS = ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume")
PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close")

# feature name -> columns it needs; every feature is scale-free, so tickers pool.
FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "log_return": ("Adj Close",),  # log(P_t / P_{t-1}) of the split-adjusted close
    "volume_change": ("Volume",),  # log((V_t + 1) / (V_{t-1} + 1))
    "range": ("High", "Low", "Close"),  # (High - Low) / Close, intraday volatility
    "body": ("Open", "Close"),  # log(Close / Open), the day's candle body
}
TARGETS = ("log_return",)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitWindows:
    """Windows of one split. x: (N, window, F) inputs, y: (N, horizon) raw target values."""

    x: torch.Tensor
    y: torch.Tensor
    ticker: np.ndarray  # (N,) ticker of each window
    date: np.ndarray  # (N,) date of the first forecast day
    last_price: np.ndarray  # (N,) adjusted close on the last input day


def read_prices(
    *,
    csv_path: str | None,
    source: str,
    tickers: list[str] | None,
    start: str,
    end: str,
    date_format: str | None = None,
    duplicate_dates: str = "error",
) -> pd.DataFrame:
    """Long frame: Ticker, Date (datetime64), Open, High, Low, Close, Adj Close, Volume."""
    if csv_path is not None:
        return _read_user_csv(
            Path(csv_path), date_format=date_format, duplicate_dates=duplicate_dates
        )
    if source == "bundled":
        path = package_file(
            "bokeh_sampledata",
            "_data/stocks.csv.gz",
            field="data.source=bundled",
            hint="set data.csv_path to a Yahoo-style CSV",
        )
        frame = pd.read_csv(path, parse_dates=["Date"])
        _check_nan(frame, str(path))
        return frame
    if source == "yfinance":
        return _download_yfinance(tickers or ["AAPL"], start=start, end=end)
    raise SeqlabError(
        f"data.source={source!r} is not known. Fix: use data.source=bundled (offline), "
        "data.source=yfinance (live), or set data.csv_path."
    )


def _read_user_csv(
    path: Path, *, date_format: str | None = None, duplicate_dates: str = "error"
) -> pd.DataFrame:
    if not path.is_file():
        raise SeqlabError(
            f"data.csv_path: file '{path}' does not exist. Fix: point data.csv_path at a "
            f"Yahoo-style CSV with columns {','.join(YAHOO_COLUMNS)}, or unset it "
            "(data.csv_path=null) to use the bundled prices."
        )
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise SeqlabError(
            f"data.csv_path: '{path}' is not a readable CSV ({err}). Fix: export it as CSV "
            f"with a header row {','.join(YAHOO_COLUMNS)}."
        ) from err
    frame.columns = [str(c).strip() for c in frame.columns]
    if "Date" not in frame.columns:
        raise SeqlabError(
            f"{path}: missing required column 'Date' (found: {', '.join(frame.columns)}). "
            f"Fix: a Yahoo-style header is {','.join(YAHOO_COLUMNS)}."
        )
    where = str(path)
    require_rows(frame, where)
    frame["Date"] = parse_dates(frame["Date"], where=where, column="Date", fmt=date_format)
    frame = numeric_columns(frame, [c for c in YAHOO_COLUMNS if c != "Date"], where)
    _check_nan(frame, where)
    positive_columns(frame, [c for c in PRICE_COLUMNS if c in frame.columns], where)
    if "Ticker" not in frame.columns:
        frame["Ticker"] = path.name.split(".")[0].upper()
    return unique_dates(frame, where=where, keys=["Ticker", "Date"], policy=duplicate_dates)


def _download_yfinance(tickers: list[str], *, start: str, end: str) -> pd.DataFrame:
    try:
        import yfinance
    except ImportError as err:
        raise SeqlabError(
            "data.source=yfinance needs the yfinance package and network. Fix: "
            "`pip install yfinance` (or `pip install -e .[live]`), or use data.source=bundled."
        ) from err
    frames = []
    for ticker in tickers:
        raw = yfinance.download(ticker, start=start, end=end, auto_adjust=False, progress=False)
        if raw.empty:
            raise SeqlabError(
                f"data.tickers: yfinance returned no rows for {ticker!r} ({start}..{end})."
            )
        raw.columns = [c[0] if isinstance(c, tuple) else c for c in raw.columns]
        raw = raw.reset_index()
        raw["Ticker"] = ticker
        frames.append(raw)
    return pd.concat(frames, ignore_index=True)


def _check_nan(frame: pd.DataFrame, where: str) -> None:
    columns = [c for c in YAHOO_COLUMNS if c in frame.columns]
    bad = frame[columns].isna()
    if bad.to_numpy().any():
        column = bad.any().idxmax()
        row = int(bad[column].to_numpy().argmax())
        raise SeqlabError(
            f"{where}: column '{column}' has {int(bad[column].sum())} missing/NaN value(s), "
            f"first at data row {row + 1}. Fix: drop or fill those rows before training."
        )


def compute_features(prices: pd.DataFrame, features: list[str], target: str) -> pd.DataFrame:
    """Per-ticker features (first day dropped: returns need a previous day)."""
    out = []
    for ticker, group in prices.sort_values(["Ticker", "Date"]).groupby("Ticker", sort=True):
        group = group.reset_index(drop=True)
        cols: dict[str, Any] = {"Ticker": ticker, "Date": group["Date"]}
        adj = group["Adj Close"].to_numpy(np.float64)
        cols["price"] = adj
        if "log_return" in features or target == "log_return":
            cols["log_return"] = np.log(adj / np.roll(adj, 1))
        if "volume_change" in features:
            vol = group["Volume"].to_numpy(np.float64)
            cols["volume_change"] = np.log((vol + 1.0) / (np.roll(vol, 1) + 1.0))
        if "range" in features:
            cols["range"] = ((group["High"] - group["Low"]) / group["Close"]).to_numpy()
        if "body" in features:
            cols["body"] = np.log(group["Close"] / group["Open"]).to_numpy()
        out.append(pd.DataFrame(cols).iloc[1:])
    return pd.concat(out, ignore_index=True)


def make_windows(
    x: torch.Tensor, y: torch.Tensor, window: int, horizon: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sliding windows as views. x: (L, F), y: (L,) -> (N, window, F), (N, horizon).

    Window i reads x[i : i + window] and forecasts y[i + window : i + window + horizon].
    """
    n = x.shape[0] - window - horizon + 1
    inputs = x[: n + window - 1].unfold(0, window, 1).transpose(1, 2)  # (N, window, F)
    targets = y[window:].unfold(0, horizon, 1)[:n]  # (N, horizon)
    return inputs, targets


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise SeqlabError(f"data.{name}={value!r} must be a number.") from err


class StockDataModule(SplitLoaders, L.LightningDataModule):
    """Daily prices of a few tickers → (window of features, next ``horizon`` returns)."""

    def __init__(
        self,
        *,
        tickers: list[str] | None = ("AAPL", "GOOG", "IBM", "MSFT"),
        features: list[str] = ("log_return", "volume_change", "range", "body"),
        target: str = "log_return",
        window: int = 30,
        horizon: int = 1,
        train_frac: float = 0.7,
        val_frac: float = 0.15,
        batch_size: int = 128,
        num_workers: int = 0,
        csv_path: str | None = None,
        source: str = "bundled",
        start: str = "2000-01-01",
        end: str = "2013-12-31",
        date_format: str | None = None,
        duplicate_dates: str = "error",
    ) -> None:
        super().__init__()
        self.tickers = list(tickers) if tickers else None
        self.features = list(features)
        self.target = target
        self.window = check_int("data.window", window)
        self.horizon = check_int("data.horizon", horizon)
        self.train_frac, self.val_frac = (
            _number("train_frac", train_frac),
            _number("val_frac", val_frac),
        )
        self.batch_size = check_int("data.batch_size", batch_size)
        self.num_workers = check_int("data.num_workers", num_workers, least=0)
        self.csv_path = csv_path
        self.source = source
        self.start, self.end = start, end
        self.date_format, self.duplicate_dates = date_format, duplicate_dates
        self._validate_options()
        self.splits: dict[str, SplitWindows] = {}
        self.feature_mean = self.feature_std = None
        self.target_mean = self.target_std = 0.0
        self.save_hyperparameters()

    def _validate_options(self) -> None:
        unknown = [f for f in self.features if f not in FEATURE_COLUMNS]
        if unknown or not self.features:
            raise SeqlabError(
                f"data.features: unknown feature(s) {unknown or '[]'}. "
                f"Fix: choose from {sorted(FEATURE_COLUMNS)}."
            )
        if self.target not in TARGETS:
            raise SeqlabError(f"data.target={self.target!r} is not known; choose from {TARGETS}.")
        if self.window < 1 or self.horizon < 1:
            raise SeqlabError("data.window and data.horizon must be >= 1.")
        if not (0 < self.train_frac < 1 and 0 < self.val_frac < 1 - self.train_frac):
            raise SeqlabError(
                f"data.train_frac={self.train_frac}, data.val_frac={self.val_frac}: need "
                "0 < train_frac, 0 < val_frac and train_frac + val_frac < 1 (test gets the rest)."
            )

    # ------------------------------------------------------------------ loading
    def _load_frame(self) -> pd.DataFrame:
        prices = read_prices(
            csv_path=self.csv_path,
            source=self.source,
            tickers=self.tickers,
            start=self.start,
            end=self.end,
            date_format=self.date_format,
            duplicate_dates=self.duplicate_dates,
        )
        where = self.csv_path or "the price table"
        needed = {"Ticker", "Date"} | {c for f in self.features for c in FEATURE_COLUMNS[f]}
        needed |= set(FEATURE_COLUMNS[self.target])
        missing = sorted(needed - set(prices.columns))
        if missing:
            users = [f for f in self.features if set(FEATURE_COLUMNS[f]) & set(missing)]
            raise SeqlabError(
                f"{where}: missing required column(s) {missing} (needed by features "
                f"{users or [self.target]}; found: {', '.join(map(str, prices.columns))}). "
                f"Fix: add the column(s) (Yahoo-style header {','.join(YAHOO_COLUMNS)}) "
                "or drop those features from data.features."
            )
        if prices["Date"].isna().any():
            row = int(prices["Date"].isna().to_numpy().argmax())
            raise SeqlabError(
                f"{where}: column 'Date' has unparseable values (first at data row {row + 1})."
                " Fix: use ISO dates (YYYY-MM-DD)."
            )
        if self.csv_path is None and self.tickers:
            available = sorted(prices["Ticker"].unique())
            unknown = [t for t in self.tickers if t not in available]
            if unknown:
                raise SeqlabError(
                    f"data.tickers: unknown ticker(s) {unknown}; available in {where}: "
                    f"{', '.join(available)}. Fix: pick from these or set data.csv_path."
                )
            prices = prices[prices["Ticker"].isin(self.tickers)]
        if (prices["Adj Close"] <= 0).any():
            raise SeqlabError(f"{where}: column 'Adj Close' has non-positive prices.")
        counts = prices.groupby("Ticker").size()
        need = self.window + self.horizon + 1
        short = counts[counts < need]
        if len(short):
            raise SeqlabError(
                f"{where}: ticker {short.index[0]} has only {int(short.iloc[0])} rows, shorter "
                f"than data.window + data.horizon + 1 = {need}. Fix: lower data.window or "
                "use a longer series."
            )
        return prices

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return  # idempotent: the spec is needed before Trainer.fit calls setup again
        table = compute_features(self._load_frame(), self.features, self.target)
        val_start, test_start = split_cut_dates(table["Date"], self.train_frac, self.val_frac)
        split_of = np.where(
            table["Date"] < val_start, 0, np.where(table["Date"] < test_start, 1, 2)
        )
        train_rows = table[split_of == 0]
        feats = train_rows[self.features].to_numpy(np.float64)
        self.feature_mean = torch.tensor(feats.mean(0), dtype=torch.float32)
        self.feature_std = torch.tensor(feats.std(0) + 1e-8, dtype=torch.float32)
        self.target_mean = float(train_rows[self.target].mean())
        self.target_std = float(train_rows[self.target].std() + 1e-12)

        parts: dict[int, list[tuple]] = {0: [], 1: [], 2: []}
        for (ticker, split), seg in table.groupby(["Ticker", split_of], sort=True):
            if len(seg) < self.window + self.horizon:
                continue
            x = (
                torch.tensor(seg[self.features].to_numpy(np.float32)) - self.feature_mean
            ) / self.feature_std
            y = torch.tensor(seg[self.target].to_numpy(np.float32))
            xs, ys = make_windows(x, y, self.window, self.horizon)
            n = xs.shape[0]
            first_target = slice(self.window, self.window + n)
            parts[int(split)].append(
                (
                    xs,
                    ys,
                    np.full(n, ticker),
                    seg["Date"].to_numpy()[first_target],
                    seg["price"].to_numpy()[self.window - 1 : self.window - 1 + n],
                )
            )
        for index, name in enumerate(SPLITS):
            if not parts[index]:
                raise SeqlabError(
                    f"data.window={self.window}: the {name} split has no complete window of "
                    f"window + horizon = {self.window + self.horizon} days. Fix: lower "
                    "data.window/data.horizon or widen the split fractions."
                )
            xs, ys, tick, date, price = zip(*parts[index], strict=True)
            self.splits[name] = SplitWindows(
                x=torch.cat(xs),
                y=torch.cat(ys),
                ticker=np.concatenate(tick),
                date=np.concatenate(date),
                last_price=np.concatenate(price),
            )
        sizes = {k: len(v.y) for k, v in self.splits.items()}
        log.info(
            "stocks: windows per split %s, val from %s, test from %s", sizes, val_start, test_start
        )

    # ------------------------------------------------------------------ spec & loaders
    @property
    def spec(self) -> DataSpec:
        if not self.splits:
            raise RuntimeError("call setup() before reading the spec")
        return DataSpec(
            task="forecasting",
            num_features=len(self.features),
            num_targets=self.horizon,
            seq_len=self.window,
            feature_names=tuple(self.features),
            extra={
                "target": self.target,
                "target_mean": self.target_mean,
                "target_std": self.target_std,
                "tickers": sorted({str(t) for t in self.splits["train"].ticker}),
                "data_fingerprint": self.fingerprint(),
            },
        )

    def fingerprint(self) -> str:
        """Hash of the test windows, so eval can check it sees the same data as training."""
        test = self.splits["test"]
        return fingerprint(test.x, test.y)

    def normalise_target(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.target_mean) / self.target_std

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        windows = self.splits[split]
        dataset = TensorDataset(windows.x, self.normalise_target(windows.y))
        return make_loader(
            dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers
        )

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
