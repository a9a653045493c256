"""A model and a dataset from the user's own package, outside src/seqlab, through the CLI.

The module below is written to a temporary folder (as a user's ``mypkg`` would be) and named
only on the command line (``model=custom model.backbone._target_=...``,
``data=custom data._target_=...``): nothing inside seqlab is edited. README: "Add your own
model" and "Add your own dataset" are these two classes.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from seqlab.errors import SeqlabError
from seqlab.security import UntrustedTargetError
from tests.conftest import compose_config

USER_MODULE = textwrap.dedent(
    '''
    """A user's own backbone and datamodule (not part of seqlab)."""
    import math

    import lightning as L
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from seqlab.data.spec import DataSpec


    class ConvNet(nn.Module):
        """A causal 1-D convolution stack: reads (B, T, input_size), returns (B, T, hidden)."""

        kind = "sequence"
        causal = True

        def __init__(self, *, input_size: int = 8, hidden_size: int = 16, kernel: int = 3):
            super().__init__()
            self.input_size, self.output_size = input_size, hidden_size
            self.pad = kernel - 1
            self.conv1 = nn.Conv1d(input_size, hidden_size, kernel)
            self.conv2 = nn.Conv1d(hidden_size, hidden_size, kernel)

        def forward(self, x, state=None):
            h = x.transpose(1, 2)  # (B, C, T)
            h = torch.relu(self.conv1(nn.functional.pad(h, (self.pad, 0))))
            h = self.conv2(nn.functional.pad(h, (self.pad, 0)))
            return h.transpose(1, 2), state  # (B, T, hidden), no state carried


    class NoKind(nn.Module):
        def __init__(self, *, input_size: int = 8):
            super().__init__()
            self.lin = nn.Linear(input_size, input_size)

        def forward(self, x, state=None):
            return self.lin(x), state


    class NoSizes(NoKind):
        kind = "sequence"


    class SineWaves(L.LightningDataModule):
        """Noisy sine waves of random frequency; predict the next value from a window."""

        def __init__(self, *, window: int = 24, count: int = 480, batch_size: int = 32, seed: int = 0):
            super().__init__()
            self.window, self.count, self.batch_size, self.seed = window, count, batch_size, seed
            self.splits = {}

        def setup(self, stage=None):
            g = torch.Generator().manual_seed(self.seed)
            freq = 0.2 + 0.3 * torch.rand(self.count, 1, generator=g)
            t = torch.arange(self.window + 1, dtype=torch.float32)
            waves = torch.sin(freq * t) + 0.05 * torch.randn(self.count, self.window + 1, generator=g)
            x, y = waves[:, :-1, None], waves[:, -1:]
            n_train, n_val = int(0.7 * self.count), int(0.15 * self.count)
            cuts = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_val),
                    "test": slice(n_train + n_val, None)}
            self.splits = {k: TensorDataset(x[s], y[s]) for k, s in cuts.items()}

        @property
        def spec(self):
            return DataSpec(task="forecasting", num_features=1, num_targets=1, seq_len=self.window)

        def train_dataloader(self):
            return DataLoader(self.splits["train"], batch_size=self.batch_size, shuffle=True)

        def val_dataloader(self):
            return DataLoader(self.splits["val"], batch_size=self.batch_size)

        def test_dataloader(self):
            return DataLoader(self.splits["test"], batch_size=self.batch_size)
    '''
)

RUN = [
    "model=custom",
    "data=custom",
    "data._target_=my_seqlab_ext.SineWaves",
    "trainer.max_epochs=4",
    "trainer.accelerator=cpu",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
    "logger=csv",
]


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    folder = tmp_path / "userpkg"
    folder.mkdir()
    (folder / "my_seqlab_ext.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    yield folder


def test_a_users_model_and_data_train_test_and_evaluate_through_the_cli(tmp_path, user_package):
    from seqlab.cli.evaluate import run as evaluate
    from seqlab.cli.train import run as train

    out = tmp_path / "run"
    train(
        compose_config(
            "train",
            [
                *RUN,
                "model.backbone._target_=my_seqlab_ext.ConvNet",
                "+model.backbone.hidden_size=16",
            ],
            out,
        )
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["model"] == "my_seqlab_ext.ConvNet"
    # it learned the waves: far better than predicting "no change" (the persistence baseline)
    assert summary["test"]["test/mse"] < 0.5 * summary["test"]["test/baseline_mse"]

    ckpt = summary["best_checkpoint"]
    with pytest.raises(UntrustedTargetError, match=r"trusted_targets=\[my_seqlab_ext\]"):
        evaluate(compose_config("eval", [f"ckpt_path={ckpt}"], tmp_path / "eval0"))
    metrics = evaluate(
        compose_config(
            "eval", [f"ckpt_path={ckpt}", "trusted_targets=[my_seqlab_ext]"], tmp_path / "eval"
        )
    )
    assert metrics["test/mse"] == pytest.approx(summary["test"]["test/mse"], rel=1e-6)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("my_seqlab_ext.NoKind", r"does not declare its kind. Fix: add a class attribute"),
        (
            "my_seqlab_ext.NoSizes",
            r"lacks the integer attribute\(s\) \['input_size', 'output_size'\]",
        ),
        ("my_seqlab_ext.Missing", r"cannot import it"),
    ],
)
def test_a_backbone_missing_part_of_the_contract_is_refused(
    tmp_path, user_package, target, message
):
    from seqlab.cli.train import run as train

    cfg = compose_config("train", [*RUN, f"model.backbone._target_={target}"], tmp_path / "run")
    with pytest.raises(SeqlabError, match=message):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_custom_templates_say_what_to_set(tmp_path):
    from seqlab.cli.train import run as train

    with pytest.raises(SeqlabError, match=r"model.backbone._target_ is not set. Fix: .*mypkg"):
        train(compose_config("train", ["model=custom"], tmp_path / "a"))
    with pytest.raises(SeqlabError, match=r"data._target_ is not set"):
        train(compose_config("train", ["data=custom"], tmp_path / "b"))


def test_a_users_language_model_must_be_causal(user_package):
    from seqlab.data.spec import DataSpec
    from seqlab.tasks.registry import build_task

    spec = DataSpec(task="language_modeling", vocab_size=12, seq_len=8)
    bidirectional = {
        "_target_": "seqlab.nn.recurrent.LSTM",
        "input_size": 4,
        "hidden_size": 4,
        "bidirectional": True,
    }
    model = {
        "backbone": bidirectional,
        "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True},
    }
    with pytest.raises(SeqlabError, match="bidirectional=true reads the future"):
        build_task(model, spec)
    # a model that does not say it is causal is no language model (absent means not causal)
    plain = {"_target_": "my_seqlab_ext.NoSizes", "input_size": 4}
    with pytest.raises(
        SeqlabError, match=r"my_seqlab_ext.NoSizes cannot do language_modeling; .*gpt"
    ):
        build_task({**model, "backbone": plain}, spec)
    # ConvNet says `causal = True`: it serves language modelling without listing it anywhere
    conv = {"_target_": "my_seqlab_ext.ConvNet", "input_size": 4}
    task = build_task({**model, "backbone": conv}, spec)
    assert type(task).__name__ == "LanguageModelingTask"
