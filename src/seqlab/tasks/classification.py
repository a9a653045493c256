"""Image classification with any backbone: image models read images, sequence models rows.

Two kinds of backbone, told apart by their interface (no special case per model):

- image backbones (constructor takes ``image_size`` and ``channels``; e.g. `seqlab.nn.vit.ViT`):
  ``forward(images (B, C, H, W)) -> features (B, output_size)``. Missing ``image_size`` /
  ``channels`` in ``model.backbone`` are filled in from the data, so ``model=vit data=mnist``
  needs no override; a value that disagrees with the data is an error.
- sequence backbones (``input_size``, ``forward(x (B, T, C), state) -> (out, state)``: AR,
  RNN, LSTM, GRU, GPT): the image is read row by row, T = H steps of C·W pixels, through a
  linear input projection to ``input_size``; the class comes from the last step's output.

Loss: cross-entropy (``model.label_smoothing`` in training only; val/test losses are plain
cross-entropy, so ``val/loss`` compares across settings). Metrics on val and test: accuracy (``acc``), macro F1 (``f1``), the
confusion matrix (plotted by `seqlab.callbacks.confusion.ConfusionMatrixPlot`) and, beside
them, the accuracy of always predicting the training split's majority class
(``baseline_majority_acc``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.nn.contract import kind_of
from seqlab.tasks.base import SeqlabTask, to_plain


def _metrics(num_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
        },
        compute_groups=False,
    )


class ClassificationTask(SeqlabTask):
    task_name = "classification"
    serves = (("classification", "sequence"), ("classification", "image"))

    def __init__(self, *, model: dict, spec: dict, data: dict | None = None) -> None:
        data_spec = DataSpec.from_dict(to_plain(spec))
        if not data_spec.image_shape or data_spec.num_targets < 2:
            raise SeqlabError(
                "data: classification needs images and at least 2 classes in the data spec "
                f"(image_shape={data_spec.image_shape}, num_targets={data_spec.num_targets})."
            )
        super().__init__(model=model, spec=spec, data=data)
        backbone = getattr(self.backbone, "_orig_mod", self.backbone)  # torch.compile
        self.reads_images = kind_of(type(backbone)) != "sequence"
        k = self.spec.num_targets
        if self.reads_images:
            self.input_proj = None
        else:
            # rows as a sequence: (B, H, C*W) -> (B, H, input_size)
            self.input_proj = nn.Linear(self.spec.num_features, backbone.input_size)
        self.head = nn.Linear(backbone.output_size, k)
        self.label_smoothing = float(self.hparams.model.get("label_smoothing", 0.0) or 0.0)
        self.train_acc = MulticlassAccuracy(k, average="micro")
        self.val_metrics = _metrics(k)
        self.test_metrics = _metrics(k)
        self.val_confusion = MulticlassConfusionMatrix(k)
        self.test_confusion = MulticlassConfusionMatrix(k)
        # last computed confusion matrices (counts, rows = true class), for the plot callback
        self.confusion: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ model
    def rows(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, H, C*W): the image read top to bottom, one row per step."""
        return rearrange(images, "b c h w -> b h (c w)")

    def embed_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """What the backbone reads: the images themselves (image backbones), or the rows
        projected to (B, H, input_size) (sequence backbones)."""
        return x if self.input_proj is None else self.input_proj(self.rows(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, output_size) pooled features (last step for sequences)."""
        if self.input_proj is None:
            return self.backbone(x)
        hidden, _ = self.backbone(self.embed_inputs(x))  # (B, H, output_size)
        return hidden[:, -1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised images -> logits (B, num_classes)."""
        return self.head(self.features(x))

    def last_step_loss(self, hidden: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy from the backbone output: (B, T, H) sequences use the last step."""
        last = hidden[:, -1] if hidden.dim() == 3 else hidden
        return F.cross_entropy(self.head(last).float(), y)

    def input_gradient_norms(self, batch: Any) -> torch.Tensor:
        if self.input_proj is None:
            raise NotImplementedError("image backbones read no sequence of steps")
        return super().input_gradient_norms(batch)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x, y = batch
        logits = self(x).float()
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.train_acc(logits.argmax(-1), y)
        self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=x.shape[0])
        return loss

    def _evaluate(self, batch: Any, stage: str) -> None:
        x, y = batch
        logits = self(x).float()
        loss = F.cross_entropy(logits, y)
        pred = logits.argmax(-1)
        getattr(self, f"{stage}_metrics").update(pred, y)
        getattr(self, f"{stage}_confusion").update(pred, y)
        self.log(
            f"{stage}/loss", loss, prog_bar=stage == "val", batch_size=x.shape[0], sync_dist=True
        )

    def _log_epoch(self, stage: str) -> None:
        metrics: MetricCollection = getattr(self, f"{stage}_metrics")
        confusion: MulticlassConfusionMatrix = getattr(self, f"{stage}_confusion")
        values = {k: v for k, v in metrics.compute().items()}
        base = self.spec.extra.get(f"baseline_majority_acc_{stage}")
        if base is not None:
            values["baseline_majority_acc"] = torch.tensor(float(base))
        self.log_dict({f"{stage}/{k}": v for k, v in values.items()}, sync_dist=True)
        self.confusion[stage] = confusion.compute().detach().cpu()
        metrics.reset()
        confusion.reset()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")
