"""Panels as forecasters have them: ragged edges, short series, dates as software exports them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqlab.data.series.datamodule import SeriesDataModule
from seqlab.errors import SeqlabError


def _panel(lengths: dict[str, tuple[int, int]], periods: int = 60) -> pd.DataFrame:
    """Monthly long-format panel; series k observed on [start, stop), blank elsewhere (as a
    wide sheet exported to long format holds them)."""
    times = pd.date_range("2000-01-01", periods=periods, freq="MS")
    rows = []
    for k, (name, (start, stop)) in enumerate(lengths.items()):
        level = 10.0 ** (k + 1)  # scales 10x apart
        for i, t in enumerate(times):
            value = (
                level * (1 + 0.3 * np.sin(2 * np.pi * i / 12)) + i if start <= i < stop else None
            )
            rows.append({"month": t.strftime("%Y %b"), "id": name, "y": value})
    return pd.DataFrame(rows)


def _setup(frame: pd.DataFrame, **kwargs) -> SeriesDataModule:
    options = dict(time_column="month", target="y", group_column="id", window=12, horizon=3)
    dm = SeriesDataModule(frame=frame, **(options | kwargs))
    dm.setup("fit")
    return dm


def test_late_starts_and_early_ends_are_trimmed_not_refused_as_gaps(caplog):
    frame = _panel({"early": (0, 60), "late": (25, 60), "stopped": (0, 40)})
    with caplog.at_level("INFO"):
        dm = _setup(frame)  # data.missing=refuse (the default) and no flag beyond the columns
    assert {k: len(v) for k, v in dm.levels.items()} == {"early": 60, "late": 35, "stopped": 40}
    assert dm.levels["late"]["time"].iloc[0] == pd.Timestamp("2002-02-01")  # "1939 Jan" style
    assert dm.mode == "holdout" and dm.table_frequency == "MS"
    # each series tested on its own last 3 points, whatever its end
    windows = dm.forecast_windows
    ends = {s: int(o) + 3 for s, o in zip(windows.series, windows.origins, strict=True)}
    assert ends == {"early": 60, "late": 35, "stopped": 40}


def test_an_interior_gap_still_follows_data_missing():
    frame = _panel({"a": (0, 60), "b": (0, 60)})
    frame.loc[(frame["id"] == "b") & (frame["month"] == "2002 Mar"), "y"] = None
    with pytest.raises(SeqlabError, match=r"series 'b': 1 time step\(s\) have no value"):
        _setup(frame)
    assert len(_setup(frame, missing="interpolate").levels["b"]) == 60


def test_series_too_short_are_named_in_one_line_and_left_out(caplog):
    lengths = {"long": (0, 60), **{f"tiny{k}": (0, 8) for k in range(7)}}
    with caplog.at_level("INFO", logger="seqlab.data.series.datamodule"):
        dm = _setup(_panel(lengths))
    assert list(dm.levels) == ["long"]
    lines = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("7 series (tiny0, tiny1, tiny2, tiny3, tiny4, …) shorter than")


def test_a_series_too_short_for_a_test_window_is_trained_on_and_reported(caplog):
    # one calendar cut for all: a series that stops before the test period is not tested
    with caplog.at_level("INFO", logger="seqlab.data.series.datamodule"):
        dm = _setup(_panel({"long": (0, 60), "short": (0, 30)}), split="calendar")
    assert "short" not in dm.forecast_windows.series and dm.plans["short"].train
    assert any("(short) too short for a test window" in r.getMessage() for r in caplog.records)


def test_when_no_series_is_long_enough_the_error_says_so():
    with pytest.raises(SeqlabError, match=r"every series is too short: 2 series \(a, b\)"):
        _setup(_panel({"a": (0, 8), "b": (0, 9)}))


@pytest.mark.parametrize(
    ("labels", "first", "second"),
    [
        (["1981 Q1", "1981 Q2"], "1981-01-01", "1981-04-01"),
        (["1981Q3", "1981Q4"], "1981-07-01", "1981-10-01"),
        (["1981-Q4", "1982-Q1"], "1981-10-01", "1982-01-01"),
        (["1939 Jan", "1939 Feb"], "1939-01-01", "1939-02-01"),
        (["Jan 1939", "Feb 1939"], "1939-01-01", "1939-02-01"),
        (["2020-W05", "2020-W06"], "2020-01-27", "2020-02-03"),
        ([20200131, 20200229], "2020-01-31", "2020-02-29"),
    ],
    ids=[
        "quarter-space",
        "quarter-joined",
        "quarter-dash",
        "month-year",
        "month-first",
        "week",
        "yyyymmdd",
    ],
)
def test_periods_as_statistical_software_writes_them_are_read(labels, first, second):
    n = 40
    times = _continue(labels, n)
    assert times[:2] == labels
    frame = pd.DataFrame({"time": times, "value": np.sin(np.arange(n)) + 3})
    dm = SeriesDataModule(frame=frame, window=4, horizon=1, season=1)
    dm.setup("fit")
    assert str(dm.levels["series"]["time"].iloc[0].date()) == first
    assert str(dm.levels["series"]["time"].iloc[1].date()) == second
    assert len(dm.levels["series"]) == n  # a regular grid: nothing read as a gap


def _continue(labels: list, n: int) -> list:
    """n labels in the style of ``labels`` (two examples), one period apart."""
    first = labels[0]
    if isinstance(first, int):
        return [
            int(d.strftime("%Y%m%d")) for d in pd.date_range("2020-01-31", periods=n, freq="ME")
        ]
    if "W" in first:
        return [
            f"{d.isocalendar().year}-W{d.isocalendar().week:02d}"
            for d in pd.date_range("2020-01-27", periods=n, freq="W-MON")
        ]
    if "Q" in first:
        sep = first[4:-2]
        start = pd.Period(first.replace(" ", "").replace("-", ""), freq="Q")
        return [f"{p.year}{sep}Q{p.quarter}" for p in pd.period_range(start, periods=n, freq="Q")]
    months = pd.date_range("1939-01-01", periods=n, freq="MS")
    fmt = "%Y %b" if first[0].isdigit() else "%b %Y"
    return [m.strftime(fmt) for m in months]


def test_utc_offsets_across_daylight_saving_are_read_as_wall_clock_time():
    stamps = pd.date_range("2021-03-20 12:00", periods=20, freq="D", tz="Europe/Berlin")
    frame = pd.DataFrame({"time": [t.isoformat() for t in stamps], "value": np.arange(20) % 5})
    assert frame["time"].str[-6:].nunique() == 2  # +01:00 before the change, +02:00 after
    dm = SeriesDataModule(frame=frame, window=4, horizon=1, season=1)
    dm.setup("fit")
    times = dm.levels["series"]["time"]
    assert times.iloc[0] == pd.Timestamp("2021-03-20 12:00") and dm.table_frequency == "D"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            [1.0, 2.0, np.inf, 4.0] * 10,
            r"column 'value' has an infinite value \(inf\) at data row 3",
        ),
        (list(range(100, 140)), r"column 'value' counts up by exactly 1 at every step"),
    ],
    ids=["inf", "row-counter"],
)
def test_values_that_cannot_be_forecast_get_one_line(values, message):
    frame = pd.DataFrame({"time": pd.date_range("2020-01-01", periods=40), "value": values})
    with pytest.raises(SeqlabError, match=message):
        SeriesDataModule(frame=frame, window=4, horizon=1).setup("fit")


def test_a_constant_series_is_named_and_scored_without_mase(caplog):
    frame = _panel({"a": (0, 60), "b": (0, 60)})
    frame.loc[frame["id"] == "b", "y"] = 7.0
    with caplog.at_level("INFO", logger="seqlab.data.series.datamodule"):
        dm = _setup(frame)
    assert any("1 series (b) constant" in r.getMessage() for r in caplog.records)
    assert dm.std["b"][0] == 1.0  # no division by zero in the scaler


def test_a_twelve_year_monthly_series_trains_with_the_default_window():
    from seqlab.data.package_files import package_file

    path = package_file("aeon", "datasets/data/Airline/Airline.csv", field="test", hint="")
    dm = SeriesDataModule(path=str(path), time_column="Date", target="Passengers")
    dm.setup("fit")  # 144 months, data.window=24: validation windows reach back into training
    assert dm.window == 24 and dm.mode == "calendar"
    assert all(len(dm.windows[s][0]) > 0 for s in ("train", "val", "test"))


def test_a_backtest_scores_every_origin_and_their_mean():
    from seqlab.evaluation.forecasting import evaluate

    dm = _setup(_panel({"a": (0, 60), "b": (10, 60)}), split="backtest")
    windows = dm.forecast_windows
    rows = np.arange(len(windows))
    perfect = dm.windows["test"][1].double().numpy()
    noisy = perfect + np.random.default_rng(0).normal(0, 0.1, perfect.shape)
    metrics = evaluate(windows, windows.to_levels(noisy, rows), rows).metrics
    per_origin = [metrics[f"origin_{k}_mase"] for k in range(3)]
    assert metrics["mase"] == pytest.approx(np.mean(per_origin), rel=1e-6)  # 3 origins each


def test_columns_named_by_numbers_as_a_headerless_export_has_them(tmp_path):
    """pandas writes an unnamed index as ``,0``: the command line then says data.target=0."""
    path = tmp_path / "lynx_like.csv"
    pd.DataFrame({"0": np.sin(np.arange(60) / 3) + 2}, index=pd.RangeIndex(1821, 1881)).to_csv(path)
    dm = SeriesDataModule(path=str(path), time_column="Unnamed: 0", target=0, window=8, horizon=1)
    dm.setup("fit")  # the int reaches the datamodule as Hydra parses it
    assert dm.targets == ["0"] and len(dm.levels["series"]) == 60
