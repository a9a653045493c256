"""Callbacks that tests add to real runs (``+callbacks.<name>._target_=tests.helpers.probes.X``).

Importable from a subprocess started with ``python <repo>/train.py`` (the repository root is
on its path) and free of test-suite side effects: nothing here imports ``tests.conftest``.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L


class RankProbe(L.Callback):
    """Each rank writes ``rank<r>.json`` into the run folder at the start of training: the
    world size it sees and the training-sample indices its sampler hands it in epoch 0."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch != 0:
            return
        loader = trainer.train_dataloader
        record = {
            "global_rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "dataset_size": len(loader.dataset),
            "indices": [int(i) for i in loader.sampler],
        }
        path = Path(trainer.default_root_dir) / f"rank{trainer.global_rank}.json"
        path.write_text(json.dumps(record))
