"""Shared machinery of every task: build the backbone from config, optimisers, checkpoints.

A task module is constructed from plain dicts (the ``model`` config, the data's spec and
the data config) and saves them as hyper-parameters, so a checkpoint rebuilds the task,
its backbone and its datamodule with no Hydra config at hand.
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.nn.contract import check_backbone
from seqlab.optim import build_optimizer


def _rng_states() -> dict[str, Any]:
    import random

    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    # tensors and plain Python values only, so checkpoints load with weights_only=True
    numpy_state = [
        kind,
        torch.from_numpy(keys.astype(np.int64)),
        int(pos),
        int(has_gauss),
        float(cached),
    ]
    return {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}


def _set_rng_states(states: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])


def to_plain(value: Any) -> Any:
    """OmegaConf containers -> plain dicts/lists (checkpoints stay loadable with weights_only)."""
    if isinstance(value, DictConfig) or OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


class SeqlabTask(L.LightningModule):
    """Base LightningModule: ``model`` = {backbone, optimizer, scheduler, compile}."""

    # (data task, backbone kind) pairs this module serves; the registry is read from these
    serves: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self, *, model: dict, spec: dict, data: dict | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(
            {"model": to_plain(model), "spec": to_plain(spec), "data": to_plain(data)}
        )
        self.spec = DataSpec.from_dict(self.hparams.spec)
        self.backbone: nn.Module = instantiate(self.hparams.model["backbone"])
        check_backbone(self.backbone, self.spec.task)  # the attributes tasks read are there
        if self.hparams.model.get("tbptt_steps") and not getattr(
            self.backbone, "carries_state", False
        ):
            # an attention backbone returns no state: each chunk would silently lose the
            # context of the chunks before it
            raise SeqlabError(
                f"model.tbptt_steps={self.hparams.model['tbptt_steps']}: truncated BPTT carries "
                f"a recurrent state from chunk to chunk, and {type(self.backbone).__name__} "
                "carries none (attention sees its whole context at once). Fix: "
                "model.tbptt_steps=null, or a recurrent model (model=rnn|lstm|gru|ar)."
            )
        if self.hparams.model.get("compile"):
            # its cache folder is set by the entry points (seqlab.utils.runtime)
            self.backbone = torch.compile(self.backbone)

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> Any:
        cfg = self.hparams.model
        optimizer = build_optimizer(
            instantiate(cfg["optimizer"]),
            self.parameters(),
            allow_fused=not self._clips_under_mixed_precision(),
        )
        if not cfg.get("scheduler"):
            return optimizer
        scheduler = instantiate(cfg["scheduler"])(optimizer=optimizer)
        interval = cfg.get("scheduler_interval", "epoch")
        frequency = 1
        plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        if plateau and interval == "epoch" and self._trainer is not None:
            # a plateau schedule reads val/loss: step it on the epochs that validate
            # (trainer.check_val_every_n_epoch), never on a stale or missing value
            frequency = self.trainer.check_val_every_n_epoch or 1
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "monitor": cfg.get("scheduler_monitor", "val/loss"),
                "interval": interval,
                "frequency": frequency,
            },
        }

    def _clips_under_mixed_precision(self) -> bool:
        """Whether gradients are clipped, by the trainer or per chunk by the task (truncated
        BPTT), under a mixed-precision plugin: Lightning refuses a fused optimiser there."""
        trainer = self._trainer
        if trainer is None or not str(trainer.precision).endswith("-mixed"):
            return False
        return bool(trainer.gradient_clip_val or getattr(self, "grad_clip", None))

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # how far into the epoch a checkpoint taken now is (seqlab.data.loaders)
        loader = self.trainer.train_dataloader
        if hasattr(loader, "batches_done"):
            done = batch_idx + 1  # an epoch completed: a resume starts the next one afresh
            loader.batches_done = 0 if done >= self.trainer.num_training_batches else done

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Records which class to rebuild, so eval/generate need only the checkpoint path.
        checkpoint["seqlab_task"] = f"{type(self).__module__}.{type(self).__qualname__}"
        # Random number generators too (shuffling, dropout): a resumed run then draws what
        # the uninterrupted run would have drawn.
        checkpoint["rng_states"] = _rng_states()
        # what produced it: git commit, versions, command line (seqlab.provenance)
        if getattr(self, "provenance", None):
            checkpoint["seqlab_provenance"] = self.provenance

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if (
            "rng_states" in checkpoint
            and self._trainer is not None
            and self.trainer.state.fn == "fit"
        ):
            _set_rng_states(checkpoint["rng_states"])

    # ------------------------------------------------------------------ diagnostics
    def embed_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Raw batch inputs -> the (B, T, C) sequence the backbone reads."""
        raise NotImplementedError

    def last_step_loss(self, hidden: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss of the prediction made at the last time step only."""
        raise NotImplementedError

    def input_gradient_norms(self, batch: Any) -> torch.Tensor:
        """‖∂L_T/∂x_t‖ per step t, the mean over the batch's sequences of each sequence's own
        norm: how far back through time the loss at the last step reaches. Vanishing
        gradients show as a fast decay towards t=0.

        Exact by construction: each sequence's gradient is that of its own last-step loss
        (the per-sequence losses are summed, so no 1/B factor); dropout is off (eval mode,
        the previous mode restored after); and the whole computation runs on float64 copies
        of the parameters and buffers (the module itself is not touched), so a tanh RNN's
        1e-40 at 100 steps back is a number, not 0. Assumes the backbone keeps the sequences
        of a batch independent (every seqlab sequence backbone does in eval mode).
        Returns a float64 tensor (T,).
        """
        task = self

        class PerSequenceInputGradient(nn.Module):
            """∂(Σ_b L_T^b)/∂x: row b is ∂L_T^b/∂x^b, its own sequence's gradient."""

            def __init__(self) -> None:
                super().__init__()
                self.task = task  # parameter names = the task's, under "task."

            def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                backbone = getattr(task.backbone, "_orig_mod", task.backbone)  # uncompiled
                inputs = task.embed_inputs(x).detach().requires_grad_(True)  # (B, T, C)
                hidden, _ = backbone(inputs)
                # one sequence at a time through the (cheap) loss: right for any reduction
                loss = sum(
                    task.last_step_loss(hidden[b : b + 1], y[b : b + 1]) for b in range(len(inputs))
                )
                (grad,) = torch.autograd.grad(loss, inputs)
                return grad  # (B, T, C)

        state = {
            f"task.{name}": (t.detach().double() if t.is_floating_point() else t)
            for name, t in [*self.named_parameters(), *self.named_buffers()]
        }
        x, y = (t.double() if t.is_floating_point() else t for t in batch[:2])
        was_training = self.training
        self.eval()
        try:
            with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):
                grad = torch.func.functional_call(PerSequenceInputGradient(), state, (x, y))
        finally:
            self.train(was_training)
        return grad.norm(dim=-1).mean(dim=0)  # (B, T, C) -> (T,)


class OneStepPerStage:
    """For a task whose train, validation and test steps are one ``_step(batch, stage)``
    (the loss returned in training, metrics logged under ``<stage>/``)."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")
