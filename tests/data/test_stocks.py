"""Stock windows: real data, no look-ahead, clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from seqlab.data.series.stocks import StockDataModule, make_windows
from seqlab.errors import SeqlabError


@pytest.fixture(scope="module")
def bundled():
    dm = StockDataModule()
    dm.setup()
    return dm


def test_bundled_prices_are_real_and_split_chronologically(bundled):
    train, val, test = (bundled.splits[k] for k in ("train", "val", "test"))
    assert set(train.ticker) == {"AAPL", "GOOG", "IBM", "MSFT"}
    assert train.x.shape[1:] == (30, 4) and train.y.shape[1:] == (1,)
    assert len(train.y) > 5000 and len(val.y) > 1000 and len(test.y) > 1000
    # every training target precedes every val target, which precede every test target
    assert train.date.max() < val.date.min() and val.date.max() < test.date.min()
    # daily log returns of large caps: a few percent standard deviation
    assert 0.005 < float(train.y.std()) < 0.05


def test_normalisation_uses_training_split_only(bundled):
    x = bundled.splits["train"].x
    # windows overlap, so the mean over windows is close to (not exactly) zero
    assert torch.allclose(x.mean(dim=(0, 1)), torch.zeros(4), atol=0.05)
    assert not torch.allclose(bundled.splits["test"].x.mean(dim=(0, 1)), torch.zeros(4), atol=1e-3)


def test_windows_are_views_and_aligned():
    x = torch.arange(20.0).reshape(10, 2)
    y = torch.arange(10.0)
    inputs, targets = make_windows(x, y, window=3, horizon=2)
    assert inputs.shape == (6, 3, 2) and targets.shape == (6, 2)
    assert inputs.data_ptr() == x.data_ptr()  # a view, not a copy
    for i in range(6):
        assert torch.equal(inputs[i], x[i : i + 3])
        assert torch.equal(targets[i], y[i + 3 : i + 5])


def test_loader_batches(bundled):
    x, y = next(iter(bundled.train_dataloader()))
    assert x.shape == (128, 30, 4) and y.shape == (128, 1)
    assert x.dtype == torch.float32


def test_spec(bundled):
    spec = bundled.spec
    assert spec.task == "forecasting" and spec.num_features == 4 and spec.num_targets == 1
    assert spec.extra["target_std"] > 0


def _yahoo_csv(path, rows=200, seed=0):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    frame = pd.DataFrame(
        {
            "Date": pd.bdate_range("2020-01-01", periods=rows).strftime("%Y-%m-%d"),
            "Open": close * 0.99,
            "High": close * 1.01,
            "Low": close * 0.98,
            "Close": close,
            "Adj Close": close,
            "Volume": rng.integers(1_000, 10_000, rows),
        }
    )
    frame.to_csv(path, index=False)
    return frame


def test_user_csv_works(tmp_path):
    """The windows are the user's prices: every target is the log return of that file's Adj
    Close on its date, and the last input day's price is the day before."""
    frame = _yahoo_csv(tmp_path / "acme.csv", rows=400)
    dm = StockDataModule(csv_path=str(tmp_path / "acme.csv"), window=10)
    dm.setup()
    adj = frame.set_index(pd.to_datetime(frame["Date"]))["Adj Close"]
    returns = np.log(adj / adj.shift(1))
    for split in dm.splits.values():
        assert set(split.ticker) == {"ACME"}
        dates = pd.to_datetime(split.date)
        assert np.allclose(split.y[:, 0].numpy(), returns.loc[dates].to_numpy(), atol=1e-6)
        previous = adj.index.get_indexer(dates) - 1
        assert np.allclose(split.last_price, adj.iloc[previous].to_numpy())
    # 399 returns, 10 input days per split's first window: 3 x 10 fewer windows than returns
    assert sum(len(s.y) for s in dm.splits.values()) == 399 - 3 * 10


def test_missing_csv(tmp_path):
    with pytest.raises(SeqlabError, match=r"data.csv_path: file '.*nope.csv' does not exist"):
        StockDataModule(csv_path=str(tmp_path / "nope.csv")).setup()


def test_csv_missing_column(tmp_path):
    frame = _yahoo_csv(tmp_path / "a.csv")
    frame.drop(columns=["Adj Close"]).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(SeqlabError, match=r"a.csv: missing required column\(s\) \['Adj Close'\]"):
        StockDataModule(csv_path=str(tmp_path / "a.csv")).setup()


def test_csv_too_short(tmp_path):
    _yahoo_csv(tmp_path / "short.csv", rows=20)
    with pytest.raises(SeqlabError, match=r"only 20 rows.*data.window \+ data.horizon"):
        StockDataModule(csv_path=str(tmp_path / "short.csv"), window=30).setup()


def test_csv_with_nan(tmp_path):
    frame = _yahoo_csv(tmp_path / "nan.csv")
    frame.loc[57, "Close"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(SeqlabError, match=r"nan.csv: column 'Close' has 1 missing/NaN.*row 58"):
        StockDataModule(csv_path=str(tmp_path / "nan.csv")).setup()


def test_unknown_ticker():
    with pytest.raises(SeqlabError, match=r"data.tickers: unknown ticker\(s\) \['XYZ'\].*AAPL"):
        StockDataModule(tickers=["AAPL", "XYZ"]).setup()


def test_unknown_feature():
    with pytest.raises(SeqlabError, match=r"data.features: unknown feature"):
        StockDataModule(features=["log_return", "sentiment"])


def test_feature_formulas():
    """README: log return of the split-adjusted close, volume change, intraday range, body."""
    from seqlab.data.series.stocks import compute_features

    prices = pd.DataFrame(
        {
            "Ticker": ["X"] * 3,
            "Date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]),
            "Open": [10.0, 11.0, 12.0],
            "High": [12.0, 13.0, 15.0],
            "Low": [9.0, 10.0, 11.0],
            "Close": [11.0, 12.0, 14.0],
            "Adj Close": [5.5, 6.0, 7.0],  # a 2:1 split since: the adjusted close is half
            "Volume": [99.0, 199.0, 49.0],
        }
    )
    features = ["log_return", "volume_change", "range", "body"]
    table = compute_features(prices, features, "log_return")
    assert list(table["Date"]) == list(prices["Date"][1:])  # the first day has no return
    np.testing.assert_allclose(table["log_return"], [np.log(6.0 / 5.5), np.log(7.0 / 6.0)])
    np.testing.assert_allclose(table["volume_change"], [np.log(200 / 100), np.log(50 / 200)])
    np.testing.assert_allclose(table["range"], [(13 - 10) / 12, (15 - 11) / 14])
    np.testing.assert_allclose(table["body"], [np.log(12 / 11), np.log(14 / 12)])


def test_splits_are_70_15_15_of_the_calendar_with_shared_cut_dates(bundled):
    from seqlab.data.series.splits import split_cut_dates

    dates = pd.Series(pd.date_range("2001-01-01", periods=200)).repeat(2)  # two tickers
    val_start, test_start = split_cut_dates(dates, 0.7, 0.15)
    assert (val_start, test_start) == (pd.Timestamp("2001-05-21"), pd.Timestamp("2001-06-20"))
    assert (dates.unique() < val_start).sum() == 140 and (dates.unique() < test_start).sum() == 170
    # the bundled data: each ticker's first val (test) target falls on the same day, the
    # window-th trading day after the shared cut, and the calendar days with a target are
    # shared ~70/15/15
    days = {k: np.unique(bundled.splits[k].date) for k in ("train", "val", "test")}
    for k, before in (("val", "train"), ("test", "val")):
        split = bundled.splits[k]
        firsts = {t: split.date[split.ticker == t].min() for t in set(split.ticker)}
        assert len(firsts) == 4 and len(set(firsts.values())) == 1, firsts
        assert days[before].max() < days[k].min()
    total = sum(len(d) for d in days.values())
    shares = [len(days[k]) / total for k in ("train", "val", "test")]
    np.testing.assert_allclose(shares, [0.70, 0.15, 0.15], atol=0.02)
