"""Shared machinery of every task: build the backbone from config, optimisers, checkpoints.

A task module is constructed from plain dicts (the ``model`` config, the data's spec and
the data config) and saves them as hyper-parameters, so a checkpoint rebuilds the task,
its backbone and its datamodule with no Hydra config at hand.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from seqlab.data.spec import DataSpec


def to_plain(value: Any) -> Any:
    """OmegaConf containers -> plain dicts/lists (checkpoints stay loadable with weights_only)."""
    if isinstance(value, DictConfig) or OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


class SeqlabTask(L.LightningModule):
    """Base LightningModule: ``model`` = {backbone, optimizer, scheduler, compile}."""

    task_name: str = ""

    def __init__(self, *, model: dict, spec: dict, data: dict | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(
            {"model": to_plain(model), "spec": to_plain(spec), "data": to_plain(data)}
        )
        self.spec = DataSpec.from_dict(self.hparams.spec)
        self.backbone: nn.Module = instantiate(self.hparams.model["backbone"])
        if self.hparams.model.get("compile"):
            self.backbone = torch.compile(self.backbone)

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> Any:
        cfg = self.hparams.model
        optimizer = instantiate(cfg["optimizer"])(params=self.parameters())
        if not cfg.get("scheduler"):
            return optimizer
        scheduler = instantiate(cfg["scheduler"])(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "monitor": cfg.get("scheduler_monitor", "val/loss"),
                "interval": cfg.get("scheduler_interval", "epoch"),
                "frequency": 1,
            },
        }

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Records which class to rebuild, so eval/generate need only the checkpoint path.
        checkpoint["seqlab_task"] = f"{type(self).__module__}.{type(self).__qualname__}"
