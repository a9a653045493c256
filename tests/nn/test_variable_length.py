"""Padding never changes a result: a sequence alone equals the same sequence padded beside
longer ones, for every sequence backbone (fused and scratch recurrent paths)."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from torch.testing import assert_close

from seqlab.data.collate import pad_collate
from seqlab.data.spec import DataSpec
from seqlab.nn.contract import accepts_lengths
from seqlab.tasks.classification import ClassificationTask
from tests.conftest import EXACT

D = torch.float64
C = 6
BACKBONES = {
    "rnn": {"_target_": "seqlab.nn.recurrent.RNN"},
    "lstm": {"_target_": "seqlab.nn.recurrent.LSTM", "num_layers": 2},
    "gru": {"_target_": "seqlab.nn.recurrent.GRU"},
    "lstm_scratch": {"_target_": "seqlab.nn.recurrent.LSTM", "impl": "scratch", "num_layers": 2},
    "gru_classic": {"_target_": "seqlab.nn.recurrent.GRU", "impl": "scratch", "variant": "classic"},
    "lstm_bidirectional": {"_target_": "seqlab.nn.recurrent.LSTM", "bidirectional": True},
    "rnn_bidirectional_scratch": {
        "_target_": "seqlab.nn.recurrent.RNN",
        "impl": "scratch",
        "bidirectional": True,
        "num_layers": 2,
    },
    "ar": {"_target_": "seqlab.nn.ar.AR", "order": 3, "output_size": 8},
    "gpt": {"_target_": "seqlab.nn.transformer.GPTBackbone", "num_heads": 2, "max_len": 16},
    "transformer": {"_target_": "seqlab.nn.transformer.TransformerEncoder", "num_heads": 2},
    "fcn": {"_target_": "seqlab.nn.conv.FCN"},
}
SIZES = {"input_size": C, "hidden_size": 8}


def _build(name: str):
    config = dict(BACKBONES[name])
    if "transformer" in config["_target_"]:
        config["hidden_size"] = C
    else:
        config |= {k: v for k, v in SIZES.items() if k != "hidden_size" or name != "ar"}
    torch.manual_seed(0)
    return instantiate(config).to(D).eval()


@pytest.mark.parametrize("name", BACKBONES)
def test_a_sequence_alone_equals_it_padded_beside_longer_ones(name):
    model = _build(name)
    short, longer = torch.randn(5, C, dtype=D), torch.randn(11, C, dtype=D)
    x, _, lengths = pad_collate([(short, torch.tensor(0)), (longer, torch.tensor(1))])
    kwargs = {"lengths": lengths} if accepts_lengths(model) else {}
    batched, _ = model(x, **kwargs)
    alone, _ = model(short[None])
    assert_close(batched[0, :5], alone[0], **EXACT)
    assert_close(batched[1, :11], model(longer[None])[0][0], **EXACT)


@pytest.mark.parametrize(
    "name", ["lstm", "gru_classic", "lstm_bidirectional", "transformer", "gpt"]
)
def test_classification_readout_ignores_padding(name):
    spec = DataSpec(
        task="classification",
        num_features=C,
        num_targets=3,
        seq_len=11,
        extra={"variable_length": True},
    )
    model = {
        "backbone": BACKBONES[name]
        | ({"hidden_size": 8} if "transformer" in BACKBONES[name]["_target_"] else SIZES),
        "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True},
    }
    if name == "gpt":
        model["backbone"] = {**BACKBONES[name], "hidden_size": 8}
    torch.manual_seed(0)
    task = ClassificationTask(model=model, spec=spec.to_dict()).to(D).eval()
    short, longer = torch.randn(4, C, dtype=D), torch.randn(11, C, dtype=D)
    x, _, lengths = pad_collate([(short, torch.tensor(0)), (longer, torch.tensor(1))])
    assert_close(task(x, lengths)[0], task(short[None])[0], **EXACT)
