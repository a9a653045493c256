"""DLinear equals its definition: a moving-average decomposition and a linear map per part."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.nn.linear_forecast import DLinear


def _reference(x: np.ndarray, model: DLinear) -> np.ndarray:
    """The paper's computation, written out in numpy for one window x (L, C)."""
    L, C = x.shape
    k = model.kernel
    left, right = (k - 1) // 2, k // 2
    out = []
    for c in range(C):
        padded = np.concatenate([np.full(left, x[0, c]), x[:, c], np.full(right, x[-1, c])])
        trend = np.array([padded[t : t + k].mean() for t in range(L)])
        seasonal = x[:, c] - trend
        Wt, bt = model.trend.weight.detach().double().numpy(), model.trend.bias.detach().numpy()
        Ws, bs = (
            model.seasonal.weight.detach().double().numpy(),
            model.seasonal.bias.detach().numpy(),
        )
        out.append(Wt @ trend + bt + Ws @ seasonal + bs)
    return np.concatenate(out)  # channel-major: (C * features,)


def test_dlinear_equals_the_decomposition_and_two_linear_maps():
    torch.manual_seed(0)
    model = DLinear(input_size=3, max_len=24, features=5, kernel=7).double()
    x = torch.randn(4, 24, 3, dtype=torch.float64).cumsum(1)  # trending windows
    out, state = model(x)
    assert out.shape == (4, 24, 15) and state is None
    for b in range(4):
        assert np.allclose(out[b, -1].detach().numpy(), _reference(x[b].numpy(), model), atol=1e-10)


def test_a_shorter_window_is_padded_with_its_first_value():
    torch.manual_seed(0)
    model = DLinear(input_size=2, max_len=10, features=3, kernel=5)
    x = torch.randn(2, 6, 2)
    padded = torch.cat([x[:, :1].expand(-1, 4, -1), x], dim=1)
    assert torch.allclose(model(x)[0][:, -1], model(padded)[0][:, -1])
    with pytest.raises(ValueError, match="time <= 10"):
        model(torch.randn(2, 11, 2))


@pytest.mark.slow  # a real training run: CI runs it with -m slow
def test_dlinear_forecasts_through_the_cli(tmp_path):
    import json

    from seqlab.cli.train import run
    from tests.conftest import compose_config

    overrides = ["data=sunspots", "model=dlinear", "trainer.max_epochs=3", "logger=csv"]
    overrides += [
        "trainer.accelerator=cpu",
        "extras.print_config=false",
        "callbacks.progress_bar=null",
    ]
    run(compose_config("train", overrides, tmp_path))
    test = json.loads((tmp_path / "summary.json").read_text())["test"]
    assert test["test/mase"] < test["test/baseline_naive_mase"]  # learns the 11-year cycle


def test_nbeats_is_doubly_residual_over_its_blocks():
    from seqlab.nn.linear_forecast import NBeats

    torch.manual_seed(0)
    model = NBeats(
        input_size=2, max_len=6, hidden_size=8, num_layers=2, num_blocks=3, output_size=4
    )
    x = torch.randn(5, 6, 2)
    residual, total = x.reshape(5, 12), torch.zeros(5, 4)
    for block in model.blocks:  # the recursion written out: x_k = x_{k-1} - b_k, z = sum f_k
        h = block.mlp(residual)
        total = total + block.forecast(h)
        if block.backcast is not None:  # every block but the last
            residual = residual - block.backcast(h)
    assert model.blocks[-1].backcast is None and model.blocks[0].backcast is not None
    out, _ = model(x)
    assert out.shape == (5, 6, 4) and torch.allclose(out[:, -1], total, atol=1e-6)
    short = x[:, 2:]  # four steps: the first repeated on the left to six
    padded = torch.cat([short[:, :1].expand(-1, 2, -1), short], dim=1)
    assert torch.allclose(model(short)[0][:, -1], model(padded)[0][:, -1])
