"""model=ar model.fit=least_squares is the ordinary least-squares AR(τ) of statsmodels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqlab.errors import SeqlabError
from tests.conftest import compose_config

RUN = [
    "data=sunspots",
    "data.window=4",
    "model=ar",
    "model.backbone.order=4",
    "model.fit=least_squares",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "logger=csv",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
]


def test_coefficients_equal_statsmodels_autoreg_on_the_training_split(tmp_path):
    from hydra.utils import instantiate
    from statsmodels.tsa.ar_model import AutoReg

    from seqlab.cli.train import run

    out = tmp_path / "run"
    run(compose_config("train", RUN, out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    ckpt = torch.load(summary["last_checkpoint"], weights_only=True)["state_dict"]

    cfg = compose_config("train", RUN, tmp_path / "data")
    dm = instantiate(cfg.data, _convert_="all")
    dm.setup("fit")
    level = dm.levels["series"]["SUNACTIVITY"].to_numpy(np.float64)
    z = (level - dm.mean["series"][0]) / dm.std["series"][0]  # the model's normalised units
    fitted = AutoReg(z[: dm.plans["series"].train_end], lags=4, trend="c").fit()
    phi = fitted.params[1:]  # lag 1 (newest) first

    # the task's map from the last 4 inputs to the forecast: head ∘ AR ∘ projection
    proj, net, head = (ckpt[f"{m}.weight"] for m in ("input_proj", "backbone.net", "head"))
    C = proj.shape[0]
    lags = [(head @ net[:, k * C : (k + 1) * C] @ proj).item() for k in range(4)]  # oldest first
    assert np.allclose(lags[::-1], phi, atol=1e-3)
    bias = (head @ (net @ ckpt["input_proj.bias"].repeat(4) + ckpt["backbone.net.bias"])).item()
    assert bias + ckpt["head.bias"].item() == pytest.approx(fitted.params[0], abs=1e-3)
    # and it forecasts: the exact AR(4) is far better than the random walk on sunspots
    assert summary["test"]["test/mase"] < summary["test"]["test/baseline_naive_mase"]


def test_least_squares_needs_a_linear_ar(tmp_path):
    from seqlab.cli.train import run

    cfg = compose_config("train", [*RUN, "model.backbone.hidden_size=8"], tmp_path)
    with pytest.raises(SeqlabError, match=r"needs model=ar with model\.backbone\.hidden_size=0"):
        run(cfg)


def test_ar_order_follows_the_forecasting_window_unless_set(tmp_path):
    from hydra.utils import instantiate

    from seqlab.tasks.registry import build_task

    def built(overrides: list[str]):
        cfg = compose_config("train", ["data=sunspots", "model=ar", *overrides], tmp_path)
        dm = instantiate(cfg.data, _convert_="all")
        dm.setup("fit")
        return build_task(cfg.model, dm.spec)

    assert built(["data.window=12"]).backbone.order == 12  # AR(τ) with τ = the window
    assert built(["data.window=12", "model.backbone.order=3"]).backbone.order == 3


@pytest.mark.slow  # a real training run: CI runs it with -m slow
def test_least_squares_in_window_units_is_the_exact_normalised_ar(tmp_path):
    from seqlab.cli.train import run

    out = tmp_path / "run"
    run(compose_config("train", [*RUN, "model.normalize=window"], out))
    test = json.loads((out / "summary.json").read_text())["test"]
    # the normalised AR(4) still forecasts sunspots better than the random walk
    assert test["test/mase"] < test["test/baseline_naive_mase"]
