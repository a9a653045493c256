"""Per-series forecast scores, checked against the field's reference library (utilsforecast)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqlab.baselines.forecasts import seasonal_scale
from seqlab.evaluation.forecasting import score


def _panel(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Three series whose scales differ by 10^3, their histories, and a test frame
    (2 origins x horizon 3) with a model and two references."""
    rng = np.random.default_rng(seed)
    m, rows, history = 4, [], []
    for k, level in enumerate([1.0, 1e2, 1e3]):
        name = f"s{k}"
        past = level * (5 + np.sin(np.arange(30) * 2 * np.pi / m) + rng.normal(0, 0.2, 30))
        history += [{"unique_id": name, "ds": t, "y": y} for t, y in enumerate(past)]
        scale = seasonal_scale(past, m)
        for origin in (30, 33):
            for step in range(1, 4):
                actual = level * (5 + rng.normal(0, 0.5))
                rows.append(
                    {
                        "series": name,
                        "origin": origin - 1,
                        "time": origin + step - 1,
                        "step": step,
                        "actual": actual,
                        "model": actual + level * rng.normal(0, 0.3),
                        "naive": actual + level * rng.normal(0, 0.6),
                        "naive2": actual + level * rng.normal(0, 0.5),
                        "mase_scale": scale,
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(history), m


def test_mase_and_smape_per_series_then_averaged_equal_utilsforecast():
    from utilsforecast import losses

    frame, history, m = _panel()
    metrics, table = score(frame)
    ours = frame.rename(columns={"series": "unique_id", "time": "ds", "actual": "y"})
    forecasts = ["model", "naive", "naive2"]
    mase = losses.mase(ours, forecasts, seasonality=m, train_df=history).set_index("unique_id")
    smape = losses.smape(ours, forecasts).set_index("unique_id")
    for name in forecasts:
        assert np.allclose(table[(name, "mase")].to_numpy(), mase[name].to_numpy(), rtol=1e-9)
        # utilsforecast's sMAPE is a share in [0, 1]; the M competitions' is 200x that, in %
        assert np.allclose(table[(name, "smape")].to_numpy(), 200 * smape[name].to_numpy())
    assert metrics["mase"] == pytest.approx(mase["model"].mean())
    assert metrics["baseline_naive_smape"] == pytest.approx(200 * smape["naive"].mean())


def test_owa_share_beaten_and_rank_follow_their_definitions():
    frame, _, _ = _panel(1)
    metrics, table = score(frame)
    owa = 0.5 * (
        metrics["smape"] / metrics["baseline_naive2_smape"]
        + metrics["mase"] / metrics["baseline_naive2_mase"]
    )
    assert metrics["owa"] == pytest.approx(owa) and metrics["baseline_naive2_owa"] == 1.0
    mae = {name: table[(name, "mae")].to_numpy() for name in ("model", "naive", "naive2")}
    assert metrics["beats_naive"] == pytest.approx(np.mean(mae["model"] < mae["naive"]))
    ranks = [1 + sum(mae[o][i] < mae["model"][i] for o in ("naive", "naive2")) for i in range(3)]
    assert metrics["mean_rank"] == pytest.approx(np.mean(ranks))
    # scale-free: one series 1000x larger does not dominate the average (pooled MAE would)
    assert "mae_units" not in metrics


def test_one_series_reports_units_and_a_missing_reference_is_left_out_for_its_series_only():
    frame, _, _ = _panel(2)
    one = frame[frame["series"] == "s2"].copy()
    metrics, _ = score(one)
    err = (one["model"] - one["actual"]).abs()
    assert metrics["mae_units"] == pytest.approx(err.mean())
    assert metrics["rmse_units"] == pytest.approx(np.sqrt((err**2).mean()))
    frame.loc[frame["series"] == "s0", "naive"] = np.nan  # a reference that failed on s0
    metrics, table = score(frame)
    assert np.isnan(table[("naive", "mase")].iloc[0])
    assert metrics["baseline_naive_mase"] == pytest.approx(table[("naive", "mase")].iloc[1:].mean())
