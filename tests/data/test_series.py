"""data=series: any user's table, the bundled classical series, and the field's baselines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqlab.baselines.forecasts import SeriesWindows, ar, seasonal_naive
from seqlab.data.package_files import package_file
from seqlab.data.series.datamodule import SeriesDataModule
from seqlab.errors import SeqlabError
from tests.conftest import compose_config

SHORT_RUN = [
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
    "logger=csv",
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


def _perfect(dm: SeriesDataModule) -> torch.Tensor:
    """The test targets in model units: a forecast that is exactly right."""
    spec = dm.spec
    y = dm.windows["test"][1]
    return y * torch.tensor(spec.extra["target_std"]) + torch.tensor(spec.extra["target_mean"])


def test_a_users_multi_series_file_trains_tests_and_evaluates_through_the_cli(
    tmp_path, prices_long
):
    from seqlab.cli.evaluate import run as evaluate
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
        "model=gru",
    ]
    train(compose_config("train", [*overrides, *SHORT_RUN], tmp_path / "run"))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    test = summary["test"]
    for name in ("naive", "seasonal_naive", "ar", "ets"):
        for metric in ("mae", "rmse", "mase", "smape"):
            assert np.isfinite(test[f"test/baseline_{name}_{metric}"])
    assert {"test/mase", "test/smape", "test/mae_units", "test/skill"} <= set(test)
    # the random walk on prices: MASE near 1 on its own scale, and the logged persistence
    # baseline (last value) equals the naive baseline computed from the levels
    assert test["test/baseline_mae"] == pytest.approx(test["test/baseline_naive_mae"], rel=1e-4)
    metrics = evaluate(
        compose_config("eval", [f"ckpt_path={summary['best_checkpoint']}"], tmp_path / "e")
    )
    assert metrics["test/mase"] == pytest.approx(test["test/mase"], rel=1e-5)


@pytest.mark.parametrize("transform", ["none", "log", "diff"])
def test_forecasts_are_scored_in_the_datas_own_units(prices_long, transform):
    dm = _module(prices_long, transform=transform, baselines=False)
    metrics = dm.forecast_metrics(_perfect(dm))
    assert metrics["mae_units"] < 1e-3 and metrics["mase"] < 1e-4  # float32 round trip
    no_change = torch.zeros_like(_perfect(dm)) if transform == "diff" else _last(dm)
    naive = dm.forecast_metrics(no_change)
    errors = [
        abs(dm.levels[name]["adj_close"].iloc[o + h] - dm.levels[name]["adj_close"].iloc[o - 1])
        for name, o in dm._test_meta
        for h in range(dm.horizon)
    ]
    assert naive["mae_units"] == pytest.approx(np.mean(errors), rel=1e-4)


def _last(dm: SeriesDataModule) -> torch.Tensor:
    """The naive forecast in model units: the last input value of the target, every step."""
    spec = dm.spec
    x = dm.windows["test"][0]
    last = x[:, -1, :1].repeat(1, dm.horizon)
    return last * torch.tensor(spec.extra["target_std"]) + torch.tensor(spec.extra["target_mean"])


def test_splits_share_one_cut_and_scaling_comes_from_train(prices_long):
    dm = _module(prices_long)
    table = pd.read_csv(prices_long)
    times = np.sort(pd.to_datetime(table["date"]).unique())
    cut = times[int(len(times) * 0.7)]
    train_rows = table[pd.to_datetime(table["date"]) < cut]
    assert dm.mean[0] == pytest.approx(train_rows["adj_close"].mean(), rel=1e-3)
    assert dm.spec.seq_len == 10 and dm.spec.num_targets == 2
    # windows never cross the cut: train windows end before it, test windows start after
    n_test = len(dm.windows["test"][0])
    assert n_test == sum(1 for _ in dm._test_meta) and n_test > 0


def test_the_classical_baselines_follow_their_definitions():
    level = np.arange(40, dtype=float) + 10 * np.sin(np.arange(40) * 2 * np.pi / 4)
    w = SeriesWindows(level=level, train_end=30, origins=np.array([32, 35]), horizon=6)
    # seasonal-naive with m=4: step h looks back 4, 4, 4, 4 then 8, 8 (one more season)
    expected = np.stack([[level[o + h - 4 * (h // 4 + 1)] for h in range(6)] for o in w.origins])
    assert np.array_equal(seasonal_naive(w, 4), expected)
    from statsmodels.tsa.ar_model import AutoReg

    fitted = AutoReg(level[:30], lags=3, trend="c").fit()
    one_step = fitted.model.predict(fitted.params, start=32, end=32)  # in-sample style check
    ours = ar(SeriesWindows(level, 30, np.array([32]), 1), 4, 3)
    history = level[29:32][::-1]
    assert ours[0, 0] == pytest.approx(fitted.params[0] + fitted.params[1:] @ history)
    assert np.isfinite(one_step).all()


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
            "time,value\n" + "".join(f"2020-01-{d:02d},{d}\n" for d in range(1, 9)),
            {},
            r"has 8 steps, fewer than data.window \+ data.horizon",
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
    metrics = dm.forecast_metrics(_perfect(dm))
    assert metrics["mase"] < 1e-4 and metrics["baseline_seasonal_naive_mase"] > 0  # float32
