"""seqlab.optim.build_optimizer: torch's fused Adam/AdamW kernel unless the config chose."""

from __future__ import annotations

import functools

import pytest
import torch
from hydra.utils import instantiate

from seqlab.optim import build_optimizer


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    model[0].bias.requires_grad_(False)  # a frozen parameter is still in the optimiser
    return model


def _train(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        x, y = torch.randn(16, 6, generator=g), torch.randn(16, 3, generator=g)
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _config(**chosen) -> dict:
    return {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-2, **chosen}


@pytest.mark.parametrize("cls", ["torch.optim.Adam", "torch.optim.AdamW"])
def test_adam_gets_the_fused_kernel_and_the_same_steps(cls):
    fused_model, default_model = _model(), _model()
    cfg = {**_config(), "_target_": cls}
    fused = build_optimizer(instantiate(cfg), fused_model.parameters())
    assert fused.defaults["fused"] is True
    assert len(fused.param_groups[0]["params"]) == 4  # the frozen bias too, as before
    reference = instantiate(cfg)(params=default_model.parameters())  # torch's default
    assert not reference.defaults.get("fused")
    torch.testing.assert_close(_train(fused_model, fused), _train(default_model, reference))


@pytest.mark.parametrize(
    ("cfg", "params"),
    [
        (_config(fused=False), "float"),  # the config chose
        (_config(foreach=True), "float"),
        ({"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}, "float"),
        (_config(), "mixed"),  # an integer buffer registered as a parameter
    ],
    ids=["fused=false", "foreach=true", "sgd", "non-float-parameter"],
)
def test_the_default_kernel_stays_when_the_config_or_the_parameters_say_so(cfg, params):
    model = _model()
    parameters = list(model.parameters())
    if params == "mixed":
        parameters.append(torch.nn.Parameter(torch.zeros(2, dtype=torch.long), requires_grad=False))
    optimizer = build_optimizer(instantiate(cfg), parameters)
    assert not optimizer.defaults.get("fused")


def test_a_plain_optimizer_class_is_left_as_it_is():
    optimizer = build_optimizer(functools.partial(torch.optim.SGD, lr=0.1), _model().parameters())
    assert isinstance(optimizer, torch.optim.SGD) and not optimizer.defaults.get("fused")


def test_not_fused_when_mixed_precision_clips_the_gradients():
    optimizer = build_optimizer(instantiate(_config()), _model().parameters(), allow_fused=False)
    assert not optimizer.defaults.get("fused")
