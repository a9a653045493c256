"""model.normalize=window: each input window in its own units, so any level can be forecast."""

from __future__ import annotations

import pytest
import torch

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.tasks.forecasting import ForecastingTask


def _task(normalize: str, fit: str = "gradient", **backbone) -> ForecastingTask:
    spec = DataSpec(
        task="forecasting",
        num_features=2,
        num_targets=3,
        seq_len=12,
        extra={"target": ["y"], "metrics": "series", "normalize": "window"},
    )
    model = {
        "backbone": {"_target_": "seqlab.nn.recurrent.GRU", "input_size": 8, "hidden_size": 8}
        | backbone,
        "normalize": normalize,
        "fit": fit,
    }
    torch.manual_seed(0)
    return ForecastingTask(model=model, spec=spec.to_dict())


def test_forecasts_move_with_the_level_and_scale_of_the_window():
    task = _task("auto").eval()  # auto: what the data suggests (window, for data=series)
    x = torch.randn(4, 12, 2)
    shift = torch.tensor([1000.0, -3.0])  # a level no training window ever had
    with torch.no_grad():
        base = task(x)
        moved = task(x * 50 + shift)
    # forecast of the target (feature 0), every step: a*f(x) + b
    assert torch.allclose(moved, base * 50 + 1000.0, rtol=1e-4, atol=1e-2)


def test_without_window_normalisation_the_forecast_does_not_follow():
    task = _task("none").eval()
    x = torch.randn(4, 12, 2)
    with torch.no_grad():
        assert not torch.allclose(task(x + 1000.0), task(x) + 1000.0, atol=1.0)


def test_the_loss_is_taken_in_window_units():
    task = _task("window")
    x, y = torch.randn(8, 12, 2), torch.randn(8, 3)
    loss = task.loss(x, y)
    # the same windows and targets at 1000x the scale: the same loss
    assert torch.allclose(task.loss(x * 1000, y * 1000), loss, rtol=1e-4)


def test_an_unknown_setting_is_refused_with_the_choices():
    with pytest.raises(SeqlabError, match=r"model.normalize='revin' is not known.*window"):
        _task("revin")
