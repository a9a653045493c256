"""predict.py for forecasters: the next horizon of every series of a new file, checkpoint alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.errors import SeqlabError
from tests.conftest import SHORT, train_summary
from tests.test_predict import run_predict

pytestmark = pytest.mark.xdist_group("forecast_predict")


def _panel(path: Path, periods: int = 72, drop_last: int = 0) -> Path:
    """Three monthly series 10^1..10^3 apart, the last one starting late, in long format."""
    times = pd.date_range("2010-01-01", periods=periods, freq="MS")
    noise = np.random.default_rng(0).normal(0, 0.05, (3, periods))
    rows = []
    for k, name in enumerate(["north", "south", "late"]):
        start = 20 if name == "late" else 0
        for i, t in enumerate(times[: periods - drop_last]):
            season = 1 + 0.3 * np.sin(2 * np.pi * i / 12)
            value = 10.0 ** (k + 1) * (season * (1 + i / 50) + noise[k, i])
            rows.append({"date": t.date(), "store": name, "sales": value if i >= start else None})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _train(out: Path, data: Path, *extra: str) -> dict:
    """A small GRU forecaster of the panel: 12 months in, the next 3 out."""
    columns = ["data.time_column=date", "data.group_column=store", "data.target=sales"]
    model = ["model=gru", "model.backbone.hidden_size=8"]
    window = ["data.window=12", "data.horizon=3"]
    return train_summary(
        out, *SHORT, "data=series", f"data.path={data}", *columns, *window, *model, *extra
    )


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forecaster")
    data = _panel(tmp / "sales.csv")
    summary = _train(tmp / "run", data, "model.interval=gaussian", "trainer.max_epochs=2")
    data.unlink()  # prediction needs the checkpoint and the new file only
    return tmp, summary


def test_forecasts_continue_every_series_in_its_units_and_equal_the_scored_test(forecaster):
    tmp, summary = forecaster
    scored = pd.read_csv(tmp / "run" / "forecasts.csv")
    # the file as it was when the test forecasts were made: each series up to its origin
    new = _panel(tmp / "until_origin.csv", drop_last=3)
    table = run_predict(tmp / "p1", summary["best_checkpoint"], f"data.path={new}")
    assert list(table.columns) == ["series", "time", "step", "forecast", "lo", "hi"]
    assert sorted(table["series"].unique()) == ["late", "north", "south"]
    assert (table.groupby("series")["time"].first() == "2015-10-01").all()  # after 2015-09
    merged = table.merge(scored, on=["series", "time", "step"])
    assert len(merged) == 9
    # per-window normalisation: the series' own scaling cancels, the forecasts are eval's
    assert np.allclose(merged["forecast"], merged["model"], rtol=1e-4)
    assert np.allclose(merged["lo_x"], merged["lo_y"], rtol=1e-4)  # and the same interval
    assert (table["lo"] < table["forecast"]).all() and (table["forecast"] < table["hi"]).all()


def test_short_series_are_named_and_skipped(forecaster, tmp_path, caplog):
    _, summary = forecaster
    path = _panel(tmp_path / "new.csv")
    frame = pd.read_csv(path)
    tiny = pd.DataFrame(
        {"date": frame["date"][:5], "store": "tiny", "sales": 1.0 + np.arange(5) % 2}
    )
    pd.concat([frame, tiny]).to_csv(path, index=False)
    with caplog.at_level("WARNING"):
        table = run_predict(tmp_path / "p", summary["best_checkpoint"], f"data.path={path}")
    assert "tiny" not in set(table["series"])
    assert any(
        "1 series (tiny) shorter than a window needs" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.rename(columns={"sales": "units"}), r"missing column\(s\) \['sales'\]"),
        (
            lambda f: f[pd.to_datetime(f["date"]).dt.month % 3 == 1],
            r"the series are 'QS-JAN' but the model was trained on 'MS' data",
        ),
        (
            lambda f: f.assign(sales=f["sales"].astype(object).where(f.index != 7, "twelve")),
            r"non-numeric value 'twelve'",
        ),
    ],
    ids=["renamed-column", "other-frequency", "non-numeric"],
)
def test_a_file_that_does_not_fit_is_refused_in_one_line(forecaster, tmp_path, change, message):
    _, summary = forecaster
    path = tmp_path / "new.csv"
    change(pd.read_csv(_panel(tmp_path / "base.csv"))).to_csv(path, index=False)
    with pytest.raises(SeqlabError, match=message):
        run_predict(tmp_path / "p", summary["best_checkpoint"], f"data.path={path}")


@pytest.mark.slow  # a training run, an ONNX export and a prediction: CI runs it with -m slow
def test_an_exported_forecaster_reads_raw_values_and_reproduces_predict(tmp_path):
    pytest.importorskip("onnxruntime")
    from hydra.core.global_hydra import GlobalHydra

    from seqlab.cli.export import run as export
    from tests.conftest import compose_config

    data = _panel(tmp_path / "sales.csv")
    summary = _train(tmp_path / "run", data, "trainer.max_epochs=1")
    ckpt = summary["best_checkpoint"]
    export(compose_config("export", [f"ckpt_path={ckpt}", "format=onnx"], tmp_path / "x"))
    GlobalHydra.instance().clear()
    predicted = run_predict(tmp_path / "p", ckpt, f"data.path={data}")
    # a user's script: only numpy and onnxruntime, raw values in, forecasts out
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "x" / "model.onnx"))
    frame = pd.read_csv(data).dropna()
    for name, rows in frame.groupby("store"):
        window = rows["sales"].to_numpy(np.float32)[-12:].reshape(1, 12, 1)
        (forecast,) = session.run(["forecast"], {"window": window})
        mine = predicted[predicted["series"] == name]["forecast"].to_numpy()
        assert np.allclose(forecast[0], mine, rtol=1e-4), name


@pytest.mark.parametrize("transform", ["log", "diff"])
def test_a_transformed_forecaster_predicts_in_the_datas_units(tmp_path, transform):
    data = _panel(tmp_path / "sales.csv")
    summary = _train(tmp_path / "run", data, f"data.transform={transform}", "trainer.max_epochs=1")
    table = run_predict(tmp_path / "p", summary["best_checkpoint"], f"data.path={data}")
    last = pd.read_csv(data).dropna().groupby("store")["sales"].last()
    first = table[table["step"] == 1].set_index("series")["forecast"]
    # the next value lies near the series' last one, on its own scale (10 to 1000 apart)
    assert ((first / last[first.index]).between(0.5, 2.0)).all(), (first, last)


def test_future_time_stamps_continue_each_axis():
    from seqlab.prediction.forecasting import _future

    assert _future(np.array([1997.0, 1998.0, 1999.0]), 2, None).tolist() == [2000, 2001]
    months = pd.date_range("2020-01-01", periods=3, freq="MS").to_numpy()
    assert [str(t)[:10] for t in _future(months, 2, "MS")] == ["2020-04-01", "2020-05-01"]
    assert _future(np.array([0.0, 0.5, 1.0]), 2, None).tolist() == [1.5, 2.0]
