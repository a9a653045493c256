"""Truncated BPTT cuts where the README says: the gradient reaches exactly the last k steps."""

from __future__ import annotations

import pytest
import torch

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.tasks.forecasting import ForecastingTask, end_aligned_sizes
from seqlab.tasks.language_modeling import LanguageModelingTask

RECURRENT = {
    "rnn": {"_target_": "seqlab.nn.recurrent.RNN"},
    "lstm": {"_target_": "seqlab.nn.recurrent.LSTM"},
    "gru": {"_target_": "seqlab.nn.recurrent.GRU"},
    "gru_classic": {"_target_": "seqlab.nn.recurrent.GRU", "impl": "scratch", "variant": "classic"},
    "lstm_scratch": {"_target_": "seqlab.nn.recurrent.LSTM", "impl": "scratch"},
}
SIZES = {"input_size": 6, "hidden_size": 6}
SPEC = DataSpec(
    task="forecasting",
    num_features=3,
    num_targets=1,
    seq_len=12,
    extra={"target_mean": 0.0, "target_std": 1.0},
)
SGD = {"_target_": "torch.optim.SGD", "_partial_": True}


@pytest.mark.parametrize(
    ("length", "k", "sizes"),
    [(12, 5, [2, 5, 5]), (12, 4, [4, 4, 4]), (30, 25, [5, 25]), (7, 1, [1] * 7)],
)
def test_chunks_are_aligned_to_the_end_of_the_window(length, k, sizes):
    assert end_aligned_sizes(length, k) == sizes


@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("k", [5, 7])  # 12 is divisible by neither
def test_the_gradient_reaches_exactly_the_last_k_steps(name, k):
    model = {"backbone": {**RECURRENT[name], **SIZES}, "optimizer": SGD}
    torch.manual_seed(0)
    full = ForecastingTask(model=model, spec=SPEC.to_dict())
    truncated = ForecastingTask(model={**model, "tbptt_steps": k}, spec=SPEC.to_dict())
    truncated.load_state_dict(full.state_dict())
    x = torch.randn(2, 12, 3, requires_grad=True)
    truncated(x).sum().backward()
    reached = x.grad.abs().sum(dim=(0, 2)) > 0  # (T,)
    assert reached.tolist() == [False] * (12 - k) + [True] * k
    assert torch.allclose(full(x), truncated(x), atol=1e-6)  # same forecast, shorter gradient


def test_ar_carries_its_last_inputs_across_chunks():
    model = {
        "backbone": {"_target_": "seqlab.nn.ar.AR", "input_size": 6, "order": 3},
        "optimizer": SGD,
    }
    torch.manual_seed(0)
    full = ForecastingTask(model=model, spec=SPEC.to_dict())
    truncated = ForecastingTask(model={**model, "tbptt_steps": 5}, spec=SPEC.to_dict())
    truncated.load_state_dict(full.state_dict())
    x = torch.randn(2, 12, 3)
    assert torch.allclose(full(x), truncated(x), atol=1e-6)


@pytest.mark.parametrize(
    "backbone",
    [
        {
            "_target_": "seqlab.nn.transformer.GPTBackbone",
            "hidden_size": 8,
            "num_layers": 1,
            "num_heads": 2,
            "max_len": 16,
        },
        {"_target_": "seqlab.nn.recurrent.LSTM", **SIZES, "bidirectional": True},
    ],
)
@pytest.mark.parametrize("task", ["forecasting", "language_modeling"])
def test_backbones_that_carry_no_state_refuse_truncated_bptt(backbone, task):
    if task == "language_modeling" and backbone.get("bidirectional"):
        pytest.skip("a bidirectional model is no language model")
    spec = SPEC if task == "forecasting" else DataSpec(task=task, vocab_size=10, seq_len=12)
    cls = ForecastingTask if task == "forecasting" else LanguageModelingTask
    with pytest.raises(
        SeqlabError, match=r"model.tbptt_steps=4: .* carries none.*model.tbptt_steps=null"
    ):
        cls(model={"backbone": backbone, "optimizer": SGD, "tbptt_steps": 4}, spec=spec.to_dict())
