"""data=series: any user's table, the bundled classical series, and the field's baselines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.baselines.forecasts import (
    SeriesWindows,
    ar,
    classical_forecasts,
    ets,
    naive,
    naive2,
    seasonal_naive,
)
from seqlab.data.package_files import package_file
from seqlab.data.series.datamodule import SeriesDataModule
from seqlab.errors import SeqlabError
from seqlab.evaluation.forecasting import evaluate, score
from tests.conftest import compose_config

SHORT_RUN = [
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
    "logger=csv",
    "callbacks.media_budget=null",
    "model.backbone.hidden_size=8",
    "model.backbone.num_layers=1",
]


@pytest.fixture(scope="module")
def prices_long(tmp_path_factory) -> Path:
    """A real multi-series long-format file: two tickers' adjusted closes (bokeh_sampledata)."""
    source = package_file("bokeh_sampledata", "_data/stocks.csv.gz", field="test", hint="")
    with gzip.open(source, "rt") as file:
        prices = pd.read_csv(file)
    prices.columns = [c.lower().replace(" ", "_") for c in prices.columns]
    keep = prices[prices["ticker"].isin(["IBM", "MSFT"])]
    keep = keep[keep["date"].str[:4].isin(["2011", "2012"])]
    table = keep[["date", "ticker", "adj_close", "volume"]].sort_values(["ticker", "date"])
    path = tmp_path_factory.mktemp("series") / "prices_long.csv"
    table.to_csv(path, index=False)
    return path


def _module(path, **kwargs) -> SeriesDataModule:
    options = dict(time_column="date", target="adj_close", group_column="ticker", frequency="B")
    options |= dict(missing="ffill", window=10, horizon=2)
    dm = SeriesDataModule(path=str(path), **(options | kwargs))
    dm.setup("fit")
    return dm


def _perfect(dm: SeriesDataModule) -> np.ndarray:
    """The test targets in scaled model units: a forecast that is exactly right."""
    return dm.windows["test"][1].double().numpy()


def _scores(dm: SeriesDataModule, scaled: np.ndarray, **kwargs) -> dict[str, float]:
    windows = dm.forecast_windows
    rows = np.arange(len(windows))
    return evaluate(windows, windows.to_levels(scaled, rows), rows, **kwargs).metrics


def test_a_users_multi_series_file_trains_tests_and_evaluates_through_the_cli(
    tmp_path, prices_long
):
    from seqlab.cli.evaluate import run as evaluate_cli
    from seqlab.cli.train import run as train

    overrides = [
        "data=series",
        f"data.path={prices_long}",
        "data.time_column=date",
        "data.target=adj_close",
        "data.features=[volume]",
        "data.group_column=ticker",
        "data.frequency=B",
        "data.missing=ffill",
        "data.window=20",
        "data.horizon=3",
        "data.test_size=6",
        "model=gru",
    ]
    train(compose_config("train", [*overrides, *SHORT_RUN], tmp_path / "run"))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    test = summary["test"]
    for name in ("naive", "seasonal_naive", "naive2", "ar", "ets"):
        for metric in ("mase", "smape", "owa"):
            assert np.isfinite(test[f"test/baseline_{name}_{metric}"])
        assert 0 <= test[f"test/beats_{name}"] <= 1
    assert {"test/mase", "test/smape", "test/owa", "test/mean_rank"} <= set(test)
    assert "test/mae_units" not in test  # two series of different scales: no pooled MAE
    # the forecast plot works for any series: worst, median and best by MASE
    assert (tmp_path / "run" / "plots" / "forecast_test.png").stat().st_size > 10_000
    # every logged score can be recomputed from the forecasts file alone
    frame = pd.read_csv(tmp_path / "run" / "forecasts.csv")
    assert sorted(frame["series"].unique()) == ["IBM", "MSFT"]
    assert len(frame) == 2 * 4 * 3  # 2 series x 4 origins (last 6 points, horizon 3) x 3 steps
    recomputed, _ = score(frame)
    for key, value in recomputed.items():
        assert test[f"test/{key}"] == pytest.approx(value, rel=1e-5), key
    # by hand, one series' MASE: its mean absolute error over its in-sample seasonal-naive MAE
    ibm = frame[frame["series"] == "IBM"]
    by_hand = np.mean(np.abs(ibm["model"] - ibm["actual"]) / ibm["mase_scale"])
    msft = frame[frame["series"] == "MSFT"]
    other = np.mean(np.abs(msft["model"] - msft["actual"]) / msft["mase_scale"])
    assert test["test/mase"] == pytest.approx((by_hand + other) / 2, rel=1e-5)
    metrics = evaluate_cli(
        compose_config("eval", [f"ckpt_path={summary['best_checkpoint']}"], tmp_path / "e")
    )
    assert metrics["test/mase"] == pytest.approx(test["test/mase"], rel=1e-5)


@pytest.mark.parametrize("transform", ["none", "log", "diff"])
def test_forecasts_are_scored_in_the_datas_own_units(prices_long, transform):
    dm = _module(prices_long, transform=transform, baselines=False)
    assert _scores(dm, _perfect(dm), references=False)["mase"] < 1e-4  # float32 round trip
    windows = dm.forecast_windows
    rows = np.arange(len(windows))
    # the naive forecast, made in model units, scores what the naive reference scores
    x = dm.windows["test"][0].double().numpy()
    if transform == "diff":  # a change of 0, in each series' scaled units
        zero = [-windows.mean[s][0] / windows.std[s][0] for s in windows.series]
        no_change = np.repeat(np.array(zero)[:, None], 2, axis=1)
    else:
        no_change = x[:, -1, :1].repeat(2, 1)
    mine = evaluate(windows, windows.to_levels(no_change, rows), rows, ar_order=2)
    errors = [
        abs(dm.levels[name]["adj_close"].iloc[o + h] - dm.levels[name]["adj_close"].iloc[o - 1])
        for name, o in zip(windows.series, windows.origins, strict=True)
        for h in range(dm.horizon)
    ]
    frame = mine.frame
    assert np.allclose(np.abs(frame["model"] - frame["actual"]), errors, rtol=1e-5)
    assert mine.metrics["mase"] == pytest.approx(mine.metrics["baseline_naive_mase"], rel=1e-5)


def _targets_by_split(dm: SeriesDataModule) -> dict[str, dict[str, list[int]]]:
    """For every series and split, the (model-value) indices the windows' targets cover."""
    covered: dict[str, dict[str, list[int]]] = {}
    for name, plan in dm.plans.items():
        covered[name] = {
            split: sorted({o + h for o in plan.origins(split) for h in range(dm.horizon)})
            for split in ("train", "val", "test")
        }
    return covered


@pytest.mark.parametrize("split", ["holdout", "backtest", "calendar"])
def test_no_target_crosses_a_cut_but_inputs_reach_back(prices_long, split):
    dm = _module(prices_long, split=split, window=10, horizon=2, test_size=4, val_size=4)
    for name, covered in _targets_by_split(dm).items():
        train, val, test = covered["train"], covered["val"], covered["test"]
        assert train and val and test, name
        assert max(train) < min(val) and max(val) < min(test), name  # targets stay inside
        length = len(dm.levels[name])
        if split == "holdout":
            assert test == list(range(length - 4, length))  # each series' own last points
            assert val == list(range(length - 8, length - 4))
        if split == "backtest":  # 3 origins, a horizon apart, at the end of the series
            assert dm.plans[name].test == [length - 6, length - 4, length - 2]
        # the first validation window reads inputs from the training period
        assert dm.plans[name].val[0] - dm.window < dm.plans[name].train_end
    # the test windows really are those targets, in scaled units
    x, y = dm.windows["test"]
    assert len(x) == len(dm.forecast_windows) and y.shape[1] == 2


def test_calendar_cut_is_one_date_and_scaling_comes_from_train(prices_long):
    dm = _module(prices_long, split="calendar", scaler="global")
    table = pd.read_csv(prices_long)
    # the business-day grid the file's dates are read on (holidays filled), over both series
    times = np.sort(pd.unique(pd.concat([lv["time"] for lv in dm.levels.values()])))
    cut, test_cut = times[int(len(times) * 0.7)], times[int(len(times) * 0.85)]
    train_rows = table[pd.to_datetime(table["date"]) < cut]
    one = next(iter(dm.mean))
    assert dm.mean[one][0] == pytest.approx(train_rows["adj_close"].mean(), rel=1e-3)
    per_series = _module(prices_long, split="calendar", scaler="series")
    ibm = train_rows[train_rows["ticker"] == "IBM"]["adj_close"]
    assert per_series.mean["IBM"][0] == pytest.approx(ibm.mean(), rel=1e-3)
    assert dm.spec.seq_len == 10 and dm.spec.num_targets == 2
    for name, plan in dm.plans.items():
        times_of = dm.levels[name]["time"]
        assert (times_of.iloc[plan.test] >= test_cut).all()  # first target of each test window
        assert (times_of.iloc[[o + dm.horizon - 1 for o in plan.train]] < cut).all()  # last


def test_the_classical_baselines_follow_their_definitions():
    level = np.arange(40, dtype=float) + 10 * np.sin(np.arange(40) * 2 * np.pi / 4) + 20
    w = SeriesWindows(level=level, train_end=30, origins=np.array([32, 35]), horizon=6)
    assert np.array_equal(naive(w, 4), np.stack([np.full(6, level[31]), np.full(6, level[34])]))
    # seasonal-naive with m=4: step h looks back 4, 4, 4, 4 then 8, 8 (one more season)
    expected = np.stack([[level[o + h - 4 * (h // 4 + 1)] for h in range(6)] for o in w.origins])
    assert np.array_equal(seasonal_naive(w, 4), expected)
    from statsmodels.tsa.ar_model import AutoReg
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.seasonal import seasonal_decompose

    fitted = AutoReg(level[:30], lags=3, trend="c").fit()
    ours = ar(SeriesWindows(level, 30, np.array([32]), 1), 4, 3)
    history = level[29:32][::-1]
    assert ours[0, 0] == pytest.approx(fitted.params[0] + fitted.params[1:] @ history)
    # Naive2: the last seasonally adjusted value, re-seasonalised (a clear season of 4 here)
    indices = seasonal_decompose(level[:30], model="multiplicative", period=4).seasonal[:4]
    last = 31
    adjusted = level[last] / indices[last % 4]
    assert np.allclose(naive2(w, 4)[0], [adjusted * indices[(32 + h) % 4] for h in range(6)])
    # ETS: the smoothing fitted on the training split, run over each window's own history
    one = SeriesWindows(level, 30, np.array([30]), 3)
    spec = dict(trend="add", damped_trend=True, seasonal="add", seasonal_periods=4)
    reference = ExponentialSmoothing(level[:30], initialization_method="estimated", **spec).fit()
    assert np.allclose(ets(one, 4)[0], reference.forecast(3), rtol=1e-6)


def test_a_reference_that_cannot_be_fitted_is_reported_for_its_series_only():
    short = SeriesWindows(np.arange(1.0, 7.0), train_end=2, origins=np.array([4]), horizon=2)
    made, failed = classical_forecasts(short, 1, 3)
    assert "ar" in failed and "cannot be estimated" in failed["ar"]
    assert {"naive", "seasonal_naive", "naive2"} <= set(made)


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("when,value\n2020-01-01,1\n", {}, r"missing column\(s\) \['time'\].*data.time_column"),
        (
            "time,value\n2020-01-01,1\n2020-01-02,x\n",
            {},
            r"column 'value' has a non-numeric value 'x' at data row 2",
        ),
        (
            "time,value\n2020-01-02,1\n2020-01-01,2\n2020-01-03,3\n",
            {},
            r"is not sorted .*Fix: sort the file by time",
        ),
        ("time,value\n2020-01-01,1\n2020-01-01,2\n", {}, r"repeats 2020-01-01.*one row per time"),
        (
            "time,value,empty\n2020-01-01,1,\n2020-01-02,2,\n",
            {"features": ["empty"]},
            r"column 'empty' has no values at all",
        ),
        (
            "time,value\n" + "".join(f"2020-01-{d:02d},{d % 3}\n" for d in range(1, 7)),
            {},
            r"every series is too short: 1 series \(series\) shorter than 8 steps",
        ),
        (
            "time,value\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n"
            + "".join(f"2020-02-{d:02d},{d}\n" for d in range(1, 29)),
            {"frequency": "D"},
            r"have no value .*data.missing=interpolate",
        ),
    ],
    ids=["no-time-column", "non-numeric", "unsorted", "duplicated", "all-nan", "too-short", "gaps"],
)
def test_bad_files_get_one_clear_error(tmp_path, content, kwargs, message):
    dm = SeriesDataModule(path=_write(tmp_path, content), window=8, horizon=1, **kwargs)
    with pytest.raises(SeqlabError, match=message):
        dm.setup("fit")


def test_gaps_are_filled_as_configured_and_reported(tmp_path, caplog):
    days = pd.date_range("2020-01-01", periods=120, freq="D")
    frame = pd.DataFrame({"time": days, "value": np.sin(np.arange(120) / 5)}).drop(index=[30, 31])
    dm = SeriesDataModule(frame=frame, window=8, missing="interpolate")
    with caplog.at_level("INFO", logger="seqlab.data.series.table"):
        dm.setup("fit")
    assert "2 missing time step(s) handled by data.missing=interpolate" in caplog.text
    assert dm.table_frequency == "D"


@pytest.mark.parametrize("preset", ["sunspots", "nile", "elec_equip", "co2"])
def test_bundled_series_load_offline(tmp_path, preset):
    from hydra.utils import instantiate

    cfg = compose_config("train", [f"data={preset}"], tmp_path)
    dm = instantiate(cfg.data, _convert_="all")
    dm.setup("fit")
    assert all(len(dm.windows[s][0]) > 0 for s in ("train", "val", "test"))
    metrics = _scores(dm, _perfect(dm), ar_order=2)
    assert metrics["mase"] < 1e-4 and metrics["baseline_seasonal_naive_mase"] > 0  # float32
