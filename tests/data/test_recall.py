"""Recall at a distance (`data=recall`): the sequences are what the docstring says, and
attention reads the key back across the fillers."""

from __future__ import annotations

import json

import pytest
import torch

from seqlab.data.series.recall import RecallDataModule, recall_tokens
from seqlab.errors import SeqlabError
from tests.conftest import compose_config


@pytest.mark.parametrize("distance", [0, 1, 7, 200])
def test_the_label_is_the_first_token_and_the_distance_is_exact(distance):
    dm = RecallDataModule(
        distance=distance, num_symbols=5, num_fillers=3, train_size=64, val_size=8, test_size=8
    )
    dm.setup()
    vocab = 5 + 3 + 1
    query = vocab - 1
    for split in ("train", "val", "test"):
        x, y = next(iter(dm._loader(split, shuffle=split == "train")))
        assert x.shape == (len(y), distance + 2, vocab) and x.dtype == torch.float32
        assert torch.all(x.sum(-1) == 1)  # one-hot at every step
        tokens = x.argmax(-1)  # (B, T)
        assert torch.equal(tokens[:, 0], y)  # the label is the first token, a key
        assert torch.all(y < 5)
        fillers = tokens[:, 1 : distance + 1]
        assert torch.all((fillers >= 5) & (fillers < 5 + 3))  # exactly `distance` fillers
        assert torch.all(tokens[:, distance + 1] == query)  # then the query, last
        # the key is the only key in the sequence and sits distance + 1 steps before the query
        is_key = tokens < 5
        assert torch.all(is_key.sum(1) == 1)
        gap = (tokens == query).float().argmax(1) - is_key.float().argmax(1)
        assert torch.all(gap == distance + 1)
    spec = dm.spec
    assert spec.task == "classification" and spec.num_features == vocab
    assert spec.num_targets == 5 and spec.seq_len == distance + 2
    assert spec.extra["distance"] == distance


def test_splits_are_seeded_and_differ():
    a = recall_tokens(256, distance=10, num_symbols=8, num_fillers=8, seed=0)
    b = recall_tokens(256, distance=10, num_symbols=8, num_fillers=8, seed=0)
    c = recall_tokens(256, distance=10, num_symbols=8, num_fillers=8, seed=1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    dm = RecallDataModule(distance=10, train_size=512, val_size=512, test_size=512)
    dm.setup()
    assert not torch.equal(dm.splits["train"].tokens, dm.splits["val"].tokens)
    counts = torch.bincount(dm.splits["train"].labels, minlength=8)
    assert counts.min() > 32  # keys are drawn uniformly: chance is 1 / num_symbols
    assert dm.spec.baselines["val"]["majority_acc"] == pytest.approx(1 / 8, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"distance": -1}, "data.distance"), ({"num_symbols": 1}, "data.num_symbols")],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(SeqlabError, match=field):
        RecallDataModule(**kwargs)


def test_attention_recalls_the_key_across_a_short_distance(tmp_path):
    """experiment=recall with a one-block GPT: 128 steps (2.2 s here) reach the key."""
    from seqlab.cli.train import run

    out = tmp_path / "run"
    run(
        compose_config(
            "train",
            [
                "experiment=recall",
                "model=gpt",
                "data.distance=10",
                "data.train_size=2048",
                "data.val_size=256",
                "data.test_size=256",
                "model.backbone.hidden_size=32",
                "trainer.max_epochs=4",
                "trainer.max_time=null",
                "trainer.accelerator=cpu",
                "logger=csv",
                "extras.print_config=false",
                "callbacks.progress_bar=null",
                "callbacks.model_summary=null",
                "callbacks.gradient_flow=null",
                "callbacks.sequence_attention=null",
            ],
            out,
        )
    )
    test = json.loads((out / "summary.json").read_text())["test"]
    assert test["test/baseline_majority_acc"] < 0.2
    assert test["test/acc"] > 0.95
