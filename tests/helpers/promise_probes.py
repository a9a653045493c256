"""Callbacks and readers for the README-promise tests (tests/test_promises.py, test_sweeps.py).

Added to real runs with ``+callbacks.<name>._target_=tests.helpers.promise_probes.X``; importable
from a subprocess started with ``python <repo>/train.py`` (nothing here imports tests.conftest).
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import torch

from tests.helpers.wandb_reader import _payloads


class ThreadsProbe(L.Callback):
    """Writes ``threads.json``: torch's intra-op thread count seen inside a training step."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0:
            path = Path(trainer.default_root_dir) / "threads.json"
            path.write_text(json.dumps({"threads": torch.get_num_threads()}))


class LastCheckpointProbe(L.Callback):
    """Appends to ``last_steps.json`` the global step stored in ``checkpoints/last.ckpt`` at
    the start of every training epoch after the first and at the end of fit: what a run
    killed at that moment would resume from."""

    def _record(self, trainer, when: str) -> None:
        path = Path(trainer.default_root_dir)
        last = path / "checkpoints" / "last.ckpt"
        step = torch.load(last, weights_only=False)["global_step"] if last.is_file() else None
        records = path / "last_steps.json"
        seen = json.loads(records.read_text()) if records.is_file() else []
        seen.append({"when": when, "trainer_step": trainer.global_step, "last_ckpt_step": step})
        records.write_text(json.dumps(seen))

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch > 0:
            self._record(trainer, f"start of epoch {trainer.current_epoch}")

    def on_fit_end(self, trainer, pl_module) -> None:
        self._record(trainer, "end of fit")


class FailInTraining(L.Callback):
    """Raises in the second training step when the backbone's class name is ``backbone``
    (a multirun job that fails after its loggers, W&B included, have started)."""

    def __init__(self, backbone: str) -> None:
        self.backbone = backbone

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == 1 and type(pl_module.backbone).__name__ == self.backbone:
            raise RuntimeError(f"deliberate failure of the {self.backbone} job")


class FailJob(L.Callback):
    """Raises at the start of training in the multirun job whose number is ``num``."""

    def __init__(self, num: int) -> None:
        self.num = int(num)

    def on_train_start(self, trainer, pl_module) -> None:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.get().job.num == self.num:
            raise RuntimeError(f"deliberate failure of job {self.num}")


def read_wandb_run(path: Path) -> dict:
    """The run record (id, group, job_type, name, resumed) and the exit code of an offline
    W&B run file (``run-<id>.wandb``); ``exit_code`` is None when no exit was recorded."""
    from wandb.proto import wandb_internal_pb2 as pb

    found: dict = {"exit_code": None}
    for payload in _payloads(path):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run" and "id" not in found:
            run = record.run
            found.update(
                id=run.run_id,
                group=run.run_group,
                job_type=run.job_type,
                name=run.display_name,
                resumed=run.resumed,
                starting_step=run.starting_step,
            )
        elif kind == "exit":
            found["exit_code"] = record.exit.exit_code
    return found
