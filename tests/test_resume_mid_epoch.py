"""Pre-empted in the middle of an epoch, a resumed run continues exactly where it stopped."""

from __future__ import annotations

import os
import signal
import warnings

import lightning as L
import pytest
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from seqlab.cli.train import run
from tests.conftest import compose_config
from tests.test_faults import DETERMINISTIC as FAULTS_RUN

# test_faults' deterministic short run, over two epochs of eight batches
DETERMINISTIC = [
    *(o for o in FAULTS_RUN if not o.startswith(("trainer.max_epochs", "trainer.limit_train"))),
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=8",
]


class SigtermAtStep(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.parametrize("step", [5, pytest.param(11, marks=pytest.mark.slow)])  # epoch 0, 1
def test_sigterm_mid_epoch_then_resume_ends_with_the_weights_of_a_straight_run(tmp_path, step):
    run(compose_config("train", DETERMINISTIC, tmp_path / "straight"))

    stopped = tmp_path / "stopped"
    interrupted = compose_config(
        "train",
        [
            *DETERMINISTIC,
            "+callbacks.preempt._target_=tests.test_resume_mid_epoch.SigtermAtStep",
            f"+callbacks.preempt.step={step}",
        ],
        stopped,
    )
    with pytest.raises(SIGTERMException):
        run(interrupted)
    saved = torch.load(stopped / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == step
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"batches_done": step % 8}
    ]

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*dataloader is not resumable.*")
        run(compose_config("train", [*DETERMINISTIC, f"resume={stopped}"], stopped))
    resumed = _weights(stopped / "checkpoints" / "last.ckpt")
    straight = _weights(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    assert torch.load(stopped / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 16
    for key, value in straight.items():
        assert torch.equal(value, resumed[key]), key
