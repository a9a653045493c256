"""A user's own task type (anomaly detection) from their own package, through the CLI.

Two files of the user's (a datamodule, a task module) and the command line: nothing inside
seqlab is edited. README: "Add your own task type" is this module.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from seqlab.errors import SeqlabError
from tests.conftest import compose_config

DATA = textwrap.dedent(
    '''
    """Windows of a noisy sine wave; half of them carry a spike: is this window anomalous?"""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from seqlab.data.spec import DataSpec


    class SpikyWaves(L.LightningDataModule):
        def __init__(self, *, window: int = 32, count: int = 600, batch_size: int = 32):
            super().__init__()
            self.window, self.count, self.batch_size = window, count, batch_size

        def setup(self, stage=None):
            g = torch.Generator().manual_seed(0)
            t = torch.arange(self.window) / 5.0
            phase = torch.rand(self.count, 1, generator=g) * 6.28
            x = torch.sin(t + phase) + 0.1 * torch.randn(self.count, self.window, generator=g)
            y = (torch.arange(self.count) % 2).float()
            where = torch.randint(0, self.window, (self.count,), generator=g)
            x[y.bool(), where[y.bool()]] += 3.0  # the anomaly: one spike
            x = x[..., None]  # (N, T, 1)
            cut = [int(self.count * 0.7), int(self.count * 0.85)]
            self.parts = dict(zip(("train", "val", "test"), zip(x.tensor_split(cut), y.tensor_split(cut))))

        @property
        def spec(self):
            return DataSpec(task="anomaly", num_features=1, num_targets=1, seq_len=self.window)

        def _loader(self, split, shuffle=False):
            return DataLoader(TensorDataset(*self.parts[split]), batch_size=self.batch_size, shuffle=shuffle)

        def train_dataloader(self):
            return self._loader("train", shuffle=True)

        def val_dataloader(self):
            return self._loader("val")

        def test_dataloader(self):
            return self._loader("test")
    '''
)

TASK = textwrap.dedent(
    '''
    """Anomaly detection: a window -> the probability that it holds an anomaly."""
    import torch
    from torch import nn

    from seqlab.tasks.base import SeqlabTask


    class AnomalyTask(SeqlabTask):
        serves = (("anomaly", "sequence"),)

        def __init__(self, *, model, spec, data=None):
            super().__init__(model=model, spec=spec, data=data)
            self.input_proj = nn.Linear(self.spec.num_features, self.backbone.input_size)
            self.head = nn.Linear(self.backbone.output_size, 1)

        def forward(self, x):  # (B, T, F) -> (B,) logits
            hidden, _ = self.backbone(self.input_proj(x))
            return self.head(hidden[:, -1]).squeeze(-1)

        def _step(self, batch, stage):
            x, y = batch
            logits = self(x)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
            self.log(f"{stage}/loss", loss, batch_size=len(y))
            self.log(f"{stage}/acc", ((logits > 0).float() == y).float().mean(), batch_size=len(y))
            self.log(f"{stage}/baseline_majority_acc", torch.tensor(0.5), batch_size=len(y))
            return loss

        def training_step(self, batch, batch_idx):
            return self._step(batch, "train")

        def validation_step(self, batch, batch_idx):
            self._step(batch, "val")

        def test_step(self, batch, batch_idx):
            self._step(batch, "test")
    '''
)

RUN = [
    "data=custom",
    "data._target_=anomaly_data.SpikyWaves",
    "model=gru",
    "model.task_module=anomaly_task.AnomalyTask",
    "model.backbone.hidden_size=16",
    "model.backbone.num_layers=1",
    "trainer.max_epochs=12",
    "trainer.accelerator=cpu",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
    "logger=csv",
]


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    folder = tmp_path / "userpkg"
    folder.mkdir()
    (folder / "anomaly_data.py").write_text(DATA)
    (folder / "anomaly_task.py").write_text(TASK)
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_a_users_task_type_trains_tests_and_evaluates_through_the_cli(tmp_path, user_files):
    from seqlab.cli.evaluate import run as evaluate
    from seqlab.cli.train import run as train

    train(compose_config("train", RUN, tmp_path / "run"))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["task"] == "anomaly"
    assert summary["test"]["test/acc"] > 0.8  # a spike of 3 in noise of 0.1 is found (chance: 0.5)
    ckpt = summary["best_checkpoint"]
    trusted = "trusted_targets=[anomaly_task,anomaly_data]"
    metrics = evaluate(compose_config("eval", [f"ckpt_path={ckpt}", trusted], tmp_path / "e"))
    assert metrics["test/acc"] == pytest.approx(summary["test"]["test/acc"])


def test_a_task_type_without_a_module_says_how_to_add_one(tmp_path, user_files):
    from seqlab.cli.train import run as train

    cfg = compose_config("train", [r for r in RUN if "task_module" not in r], tmp_path / "run")
    with pytest.raises(
        SeqlabError, match=r"task type 'anomaly' is none of seqlab's.*model.task_module="
    ):
        train(cfg)
