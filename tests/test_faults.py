"""Faults lose nothing: resume, SIGTERM, atomic checkpoints, NaN losses, failing sweep jobs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from seqlab.callbacks.fault_tolerance import NonFiniteLossError
from seqlab.cli.train import run
from seqlab.utils.checkpoint_io import atomic_torch_save
from tests.conftest import ROOT, compose_config

DETERMINISTIC = [
    "trainer.max_epochs=3",
    "trainer.accelerator=cpu",
    "trainer.deterministic=true",
    "trainer.limit_train_batches=8",
    "trainer.limit_val_batches=2",
    "model.backbone.hidden_size=8",
    "model.backbone.num_layers=2",
    "model.backbone.dropout=0.2",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
    "callbacks.early_stopping=null",
    "logger=csv",
    "test=false",
]


class SigtermAfterEpoch(L.Callback):
    """Pre-emption at an epoch boundary, the way SLURM sends it: SIGTERM to ourselves."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGTERM)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path):
    straight = compose_config("train", DETERMINISTIC, tmp_path / "straight")
    run(straight)

    interrupted = compose_config(
        "train",
        [
            *DETERMINISTIC,
            "+callbacks.preempt._target_=tests.test_faults.SigtermAfterEpoch",
            "+callbacks.preempt.epoch=0",
        ],
        tmp_path / "interrupted",
    )
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    with pytest.raises(SIGTERMException):
        run(interrupted)
    last = tmp_path / "interrupted" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 8  # saved on the way out

    resumed = compose_config(
        "train", [*DETERMINISTIC, f"resume={tmp_path / 'interrupted'}"], tmp_path / "interrupted"
    )
    run(resumed)
    a = _weights(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    b = _weights(last)
    assert torch.load(last, weights_only=False)["global_step"] == 24
    metrics = (tmp_path / "interrupted" / "csv" / "metrics.csv").read_text().splitlines()
    val_rows = [row for row in metrics[1:] if row.split(",")[0] in {"0", "1", "2"}]
    assert {row.split(",")[0] for row in val_rows} == {"0", "1", "2"}  # history kept on resume
    for key in a:
        assert torch.equal(a[key], b[key]), key


class DivergeAtEpoch(L.Callback):
    """After ``epoch`` good epochs: note last.ckpt's hash, then blow the learning rate up."""

    last_hash: str | None = None

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            last = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
            DivergeAtEpoch.last_hash = hashlib.sha256(last.read_bytes()).hexdigest()
            for group in trainer.optimizers[0].param_groups:
                group["lr"] = 1e30


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = compose_config(
        "train",
        [
            *DETERMINISTIC,
            "trainer.gradient_clip_val=null",
            "trainer.max_epochs=50",
            "+callbacks.diverge._target_=tests.test_faults.DivergeAtEpoch",
            "+callbacks.diverge.epoch=1",
        ],
        tmp_path,
    )
    last = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(NonFiniteLossError) as error:
        run(cfg)
    message = str(error.value)
    step = int(re.search(r"train/loss is (?:nan|inf) at global step (\d+)", message).group(1))
    assert step > 8  # after the first, good epoch (8 batches)
    assert str(last) in message  # the file resume= continues from
    # the last good checkpoint is the one epoch 0 wrote, byte for byte, and holds finite weights
    assert hashlib.sha256(last.read_bytes()).hexdigest() == DivergeAtEpoch.last_hash
    ckpt = torch.load(last, weights_only=False)
    assert ckpt["global_step"] == 8
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


@pytest.mark.slow  # subprocess or several trainings: CI runs it with -m slow
def test_checkpoint_writes_are_atomic(tmp_path):
    """Kill a process while it writes a big checkpoint: the old file stays intact."""
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"good": torch.ones(3)}, target)
    script = (
        f"import sys, torch; sys.path.insert(0, {str(ROOT / 'src')!r})\n"
        "from seqlab.utils.checkpoint_io import atomic_torch_save\n"
        "print('writing', flush=True)\n"
        f"atomic_torch_save({{'big': torch.randn(25_000_000)}}, {str(target)!r})\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".last.ckpt.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.kill()
    writer.wait()
    assert torch.equal(torch.load(target, weights_only=True)["good"], torch.ones(3))


@pytest.mark.slow  # subprocess or several trainings: CI runs it with -m slow
def test_multirun_with_a_failing_job_finishes_the_others_and_writes_a_table(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "-m",
            "data.csv_path=/no/such.csv,null",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=3",
            "trainer.limit_val_batches=2",
            "model.backbone.hidden_size=8",
            "extras.print_config=false",
            "logger=csv",
            f"hydra.sweep.dir={tmp_path}",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # every job ran and the table is written, then the exit status reports the failure
    assert result.returncode == 1, result.stderr[-2000:]
    assert "1 of 2 multirun job(s) failed" in result.stderr.strip().splitlines()[-1]
    table = (tmp_path / "summary.md").read_text()
    assert "| 0 | data.csv_path=/no/such.csv" in table and "failed" in table
    assert "SeqlabError: data.csv_path" in table
    ok = json.loads((tmp_path / "1" / "summary.json").read_text())
    assert ok["status"] == "ok" and "test/loss" in ok["test"]


@pytest.mark.slow
def test_optuna_sweep_of_three_trials(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "-m",
            "hparams_search=lstm_stocks_optuna",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.n_startup_trials=2",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=3",
            "trainer.limit_val_batches=2",
            "extras.print_config=false",
            "logger=csv",
            f"hydra.sweep.dir={tmp_path}",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    best = (tmp_path / "optimization_results.yaml").read_text()
    assert "best_params" in best and "best_value" in best
    assert len([p for p in tmp_path.iterdir() if p.name.isdigit()]) == 3


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_loading_a_checkpoint_runs_no_code_from_it(tmp_path):
    from seqlab.errors import SeqlabError
    from seqlab.tasks.registry import load_task

    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.ckpt"
    torch.save({"seqlab_task": "x", "payload": _Exploit(marker)}, bad)
    with pytest.raises(SeqlabError, match="is not a PyTorch/Lightning checkpoint"):
        load_task(str(bad))
    assert not marker.exists()


def test_epoch_seeded_sampler_depends_only_on_seed_and_epoch():
    from seqlab.data.samplers import EpochSeededSampler

    a, b = EpochSeededSampler(50, seed=3), EpochSeededSampler(50, seed=3)
    a.set_epoch(2)
    list(b)  # an earlier pass (as before an interruption) changes nothing
    b.set_epoch(2)
    assert list(a) == list(b) and sorted(a) == list(range(50))
    b.set_epoch(3)
    assert list(a) != list(b)
    draws = EpochSeededSampler(10, num_samples=25, replacement=True, seed=1)
    assert len(list(draws)) == 25
