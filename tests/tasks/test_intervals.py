"""model.interval=gaussian: a mean and a σ per target, coverage of the intervals on test."""

from __future__ import annotations

import json

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
    overrides = ["data=sunspots", "model=gru", "model.interval=gaussian", "trainer.max_epochs=5"]
    overrides += ["trainer.accelerator=cpu", "logger=csv", "extras.print_config=false"]
    run(compose_config("train", [*overrides, "callbacks.progress_bar=null"], out))
    test = json.loads((out / "summary.json").read_text())["test"]
    assert 0.0 <= test["test/coverage_80"] <= test["test/coverage_95"] <= 1.0
    assert test["test/coverage_95"] >= 0.5  # a σ that learned something, not a collapsed one
    assert test["test/width_95"] > 0 and "test/nll" in test
