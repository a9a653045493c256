"""model.interval=gaussian: a mean and a σ per target, coverage of the intervals on test."""

from __future__ import annotations

import json

import pytest
import torch

from seqlab.tasks.forecasting import gaussian_nll
from tests.conftest import compose_config


def test_the_loss_is_the_gaussian_negative_log_likelihood():
    torch.manual_seed(0)
    mean, log_scale, y = torch.randn(8, 3), torch.randn(8, 3) * 0.3, torch.randn(8, 3)
    reference = torch.nn.GaussianNLLLoss()(mean, y, (2 * log_scale).exp())
    assert torch.allclose(gaussian_nll(mean, log_scale, y), reference, atol=1e-6)


def test_intervals_are_trained_and_their_coverage_reported(tmp_path):
    from seqlab.cli.train import run

    out = tmp_path / "run"
    overrides = ["data=sunspots", "model=gru", "model.interval=gaussian", "trainer.max_epochs=15"]
    overrides += ["trainer.accelerator=cpu", "logger=csv", "extras.print_config=false"]
    run(compose_config("train", [*overrides, "callbacks.progress_bar=null"], out))
    test = json.loads((out / "summary.json").read_text())["test"]
    assert 0.0 <= test["test/coverage_80"] <= test["test/coverage_95"] <= 1.0
    # measured 0.80 and 0.96 (seed 42): calibrated, neither collapsed (-> 0) nor blown up (-> 1)
    assert 0.65 <= test["test/coverage_80"] <= 0.92
    assert test["test/coverage_95"] >= 0.85 and test["test/coverage_80"] < test["test/coverage_95"]
    assert test["test/width_95"] > 0 and "test/nll" in test


def _coverage(batches: list[torch.Tensor]) -> dict[str, float]:
    """ForecastingTask's coverage over test batches of these errors, sigma = 1 (log_scale 0)
    and target_std 2: a target is inside the 80% interval when |error| <= 1.2816, inside the
    95% one when |error| <= 1.96."""
    import types

    from torch import nn
    from torchmetrics import MeanMetric

    from seqlab.tasks.forecasting import ForecastingTask

    names = ("coverage_80", "coverage_95", "width_95")
    task = types.SimpleNamespace(
        coverage=nn.ModuleDict({name: MeanMetric() for name in names}),
        target_std=torch.tensor(2.0),
    )
    for error in batches:
        mean = torch.zeros_like(error)
        ForecastingTask._update_coverage(task, mean, torch.zeros_like(error), mean + error)
    return {name: float(task.coverage[name].compute()) for name in names}


def test_coverage_and_width_are_the_hand_count():
    errors = [torch.tensor([[0.5, -1.5], [2.5, 1.0]]), torch.tensor([[-3.0, 0.1], [1.9, 1.2]])]
    values = _coverage(errors)
    # by hand over the 8 targets: inside 80%: 0.5, 1.0, 0.1, 1.2 (4); 95%: + 1.5, 1.9 (6)
    assert values["coverage_80"] == pytest.approx(4 / 8)
    assert values["coverage_95"] == pytest.approx(6 / 8)
    assert values["width_95"] == pytest.approx(2 * 1.96 * 2.0)


def test_coverage_weighs_every_target_once_when_batches_differ_in_size():
    values = _coverage([torch.tensor([[0.5], [1.5], [2.5], [1.0]]), torch.tensor([[3.0], [0.1]])])
    assert values["coverage_95"] == pytest.approx(4 / 6)  # 0.5, 1.5, 1.0, 0.1 of 6 targets
