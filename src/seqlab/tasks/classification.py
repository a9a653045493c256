"""Image classification with any backbone: image models read images, sequence models rows.

Two kinds of backbone, told apart by their interface (no special case per model):

- image backbones (constructor takes ``image_size`` and ``channels``; e.g. `seqlab.nn.vit.ViT`):
  ``forward(images (B, C, H, W)) -> features (B, output_size)``. Missing ``image_size`` /
  ``channels`` in ``model.backbone`` are filled in from the data, so ``model=vit data=mnist``
  needs no override; a value that disagrees with the data is an error.
- sequence backbones (``input_size``, ``forward(x (B, T, C), state) -> (out, state)``: AR,
  RNN, LSTM, GRU, GPT): the image is read row by row, T = H steps of C·W pixels, through a
  linear input projection to ``input_size``; the class comes from the last step's output.
- pooled sequence backbones of fixed features (``pooled``, ``reads_raw_inputs``, ``fit``:
  `seqlab.nn.minirocket.MiniRocketFeatures`): the raw channels go in unprojected, the output
  is already one vector per series, and the backbone is fitted once on the training split
  before training (``on_fit_start``; a resumed run, whose checkpoint holds the fitted
  buffers, is not refitted). With ``model.head=ridge`` the head is then solved in closed
  form (the reference's RidgeClassifierCV, `seqlab.baselines.minirocket.ridge_head`; its
  logits scaled by a leave-one-out temperature, which moves no prediction) and nothing is
  left to train: an epoch only logs the training split's scores (computed once,
  from the features the fit returned; a resumed run computes them batch by batch).

Loss: cross-entropy (``model.label_smoothing`` in training only; val/test losses are plain
cross-entropy, so ``val/loss`` compares across settings). Metrics on val and test: accuracy (``acc``), macro F1 (``f1``), the
confusion matrix (plotted by `seqlab.callbacks.confusion.ConfusionMatrixPlot`) and, beside
them, the accuracy of always predicting the training split's majority class
(``baseline_majority_acc``).
"""

from __future__ import annotations

import logging
import time
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
from seqlab.nn.contract import accepts_lengths, fits_on_data, kind_of
from seqlab.tasks.base import SeqlabTask, to_plain

log = logging.getLogger(__name__)


def _metrics(num_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
        },
        compute_groups=False,
    )


class ClassificationTask(SeqlabTask):
    serves = (("classification", "sequence"), ("classification", "image"))

    def __init__(self, *, model: dict, spec: dict, data: dict | None = None) -> None:
        data_spec = DataSpec.from_dict(to_plain(spec))
        if data_spec.num_targets < 2 or not (data_spec.image_shape or data_spec.num_features):
            raise SeqlabError(
                "data: classification needs images or sequences of features and at least 2 "
                f"classes (image_shape={data_spec.image_shape}, num_features="
                f"{data_spec.num_features}, num_targets={data_spec.num_targets})."
            )
        super().__init__(model=model, spec=spec, data=data)
        backbone = getattr(self.backbone, "_orig_mod", self.backbone)  # torch.compile
        self.reads_images = kind_of(type(backbone)) != "sequence"
        # sequences of features (B, T, C) of varying length, or images read row by row
        self.reads_sequences = not self.spec.image_shape
        if self.reads_images and self.reads_sequences:
            raise SeqlabError(
                f"{type(backbone).__name__} reads images; this data is sequences of features. "
                "Fix: a sequence model (model=lstm|gru|rnn|transformer|gpt|ar)."
            )
        self.pass_lengths = accepts_lengths(backbone)
        if self.spec.extra.get("variable_length") and not (
            self.pass_lengths or getattr(backbone, "causal", False)
        ):
            raise SeqlabError(
                f"{type(backbone).__name__} takes no `lengths` and is not causal: the padding of "
                "shorter sequences would change its outputs. Fix: a model that takes lengths "
                "(seqlab.nn.contract) or a causal one."
            )
        # a causal model's summary of a sequence is its last valid step; else the masked mean
        self.last_step_readout = bool(getattr(backbone, "causal", False))
        # a backbone that pools itself returns (B, output_size): no readout over steps
        self.pooled = bool(getattr(backbone, "pooled", False)) and not self.reads_images
        k = self.spec.num_targets
        if self.reads_images or getattr(backbone, "reads_raw_inputs", False):
            self.input_proj = None  # the backbone reads the images / the raw channels
            if not self.reads_images and backbone.input_size != self.spec.num_features:
                raise SeqlabError(
                    f"{type(backbone).__name__} reads the raw channels: input_size="
                    f"{backbone.input_size}, the data has {self.spec.num_features}. Fix: "
                    "model.backbone.input_size=null (taken from the data)."
                )
        else:
            # rows of an image (B, H, C*W) or steps of a sequence (B, T, C) -> (B, T, input_size)
            self.input_proj = nn.Linear(self.spec.num_features, backbone.input_size)
        self.head = nn.Linear(backbone.output_size, k)
        self.head_fit = str(self.hparams.model.get("head") or "trained")
        if self.head_fit not in ("trained", "ridge"):
            raise SeqlabError(
                f"model.head={self.head_fit!r} is not known. Fix: model.head=trained (by the "
                "optimizer) or model.head=ridge (closed form, for fixed features)."
            )
        if self.head_fit == "ridge" and not fits_on_data(backbone):
            raise SeqlabError(
                f"model.head=ridge solves the head once on fixed features, and "
                f"{type(backbone).__name__} is trained (its features change). Fix: "
                "model.head=trained, or a backbone with fixed features (model=minirocket)."
            )
        self.label_smoothing = float(self.hparams.model.get("label_smoothing", 0.0) or 0.0)
        # (loss, accuracy) on the training split of a ridge head fitted in this run
        self._ridge_train_scores: tuple[torch.Tensor, torch.Tensor] | None = None
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
        """What the backbone reads: the images themselves (image backbones), or the rows /
        sequence steps projected to (B, T, input_size) (sequence backbones; raw, unprojected,
        for a backbone that ``reads_raw_inputs``)."""
        if self.reads_images:
            return x
        steps = x if self.reads_sequences else self.rows(x)
        return steps if self.input_proj is None else self.input_proj(steps)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """inputs -> (B, output_size) pooled features: the last valid step (causal models) or
        the mean over valid steps; padding never enters."""
        if self.reads_images:
            return self.backbone(x)
        kwargs = {"lengths": lengths} if self.pass_lengths and lengths is not None else {}
        hidden, _ = self.backbone(self.embed_inputs(x), **kwargs)  # (B, T, output_size)
        if self.pooled:
            return hidden  # (B, output_size): the backbone pooled over each series' steps
        if lengths is None:
            return hidden[:, -1] if self.last_step_readout else hidden.mean(dim=1)
        lengths = lengths.to(hidden.device)
        if self.last_step_readout:
            return hidden[torch.arange(len(hidden), device=hidden.device), lengths - 1]
        valid = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths[:, None]
        summed = (hidden * valid[..., None]).sum(dim=1)
        return summed / lengths[:, None].to(hidden.dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, H, W) images or (B, T, C) sequences (with their lengths) -> logits (B, K)."""
        return self.head(self.features(x, lengths))

    def last_step_loss(self, hidden: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy from the backbone output: (B, T, H) sequences use the last step."""
        last = hidden[:, -1] if hidden.dim() == 3 else hidden
        return F.cross_entropy(self.head(last).float(), y)

    def input_gradient_norms(self, batch: Any) -> torch.Tensor:
        if self.reads_images:
            raise NotImplementedError("image backbones read no sequence of steps")
        if self.pooled:
            raise NotImplementedError("a pooled backbone has no output per step to measure")
        return super().input_gradient_norms(batch)

    # ------------------------------------------------------------------ fitted backbones
    def on_fit_start(self) -> None:
        """A backbone of fixed features is fitted once on the training split (in its stored
        order), before the sanity check; then a ridge head, if asked. A resumed run (the
        fitted buffers restored from its checkpoint) or a second ``fit`` refits nothing."""
        backbone = getattr(self.backbone, "_orig_mod", self.backbone)
        if not fits_on_data(backbone) or bool(backbone.fitted):
            return
        x, y, lengths = self.training_split()
        started = time.perf_counter()
        with torch.no_grad():
            # (N, output_size) features of the raw steps (or an image's rows)
            features = backbone.fit(self.embed_inputs(x.to(self.device)), lengths)
        log.info(
            "%s fitted on %d training series in %.1f s",
            type(backbone).__name__,
            len(x),
            time.perf_counter() - started,
        )
        if self.head_fit == "ridge":
            import warnings

            from seqlab.baselines.minirocket import ridge_head

            # on purpose: each training batch is scored, none is stepped
            warnings.filterwarnings("ignore", message=r"`training_step` returned `None`")

            weight, bias, alpha, scale = ridge_head(
                features.cpu().numpy(), y.cpu().numpy(), self.spec.num_targets
            )
            with torch.no_grad():
                self.head.weight.copy_(weight)
                self.head.bias.copy_(bias)
                # the final head's scores on the training split, from the features at hand:
                # what each epoch logs (forward would compute the same features again)
                logits = self.head(features.to(self.head.weight.dtype)).float()
                y = y.to(logits.device)
                self._ridge_train_scores = (
                    F.cross_entropy(logits, y, label_smoothing=self.label_smoothing),
                    (logits.argmax(-1) == y).float().mean(),
                )
            log.info(
                "ridge head fitted (alpha %.3g chosen by leave-one-out; logits scaled by %.3g, "
                "the leave-one-out temperature)",
                alpha,
                scale,
            )
            if (self.trainer.max_epochs or 0) > 1:
                log.info(
                    "model.head=ridge leaves nothing to train: the %d epochs only re-score the "
                    "training split (trainer.max_epochs=1 is enough)",
                    self.trainer.max_epochs,
                )

    def training_split(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The whole training split, in its stored order, as one batch (x, y, lengths)."""
        datamodule = self.trainer.datamodule
        if datamodule is None:
            raise SeqlabError(
                f"{type(self.backbone).__name__} is fitted on the training split before "
                "training, and this fit has no datamodule to read it from. Fix: "
                "trainer.fit(task, datamodule=...)."
            )
        loader = datamodule.train_dataloader()
        dataset = loader.dataset
        collate = loader.collate_fn or torch.utils.data.default_collate
        x, y, *rest = collate([dataset[i] for i in range(len(dataset))])
        return x, y, (rest[0] if rest else None)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int):
        x, y, *rest = batch  # (inputs, labels) or (padded inputs, labels, lengths)
        scores = self._ridge_train_scores
        if scores is not None:  # a ridge head fitted in this run: its scores are known
            self.log("train/loss", scores[0], prog_bar=True, batch_size=x.shape[0])
            self.log("train/acc", scores[1], on_step=False, on_epoch=True, batch_size=x.shape[0])
            return None
        logits = self(x, *rest).float()
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.train_acc(logits.argmax(-1), y)
        self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=x.shape[0])
        # a closed-form (ridge) head is final (a resumed run): scored, nothing is stepped
        return None if self.head_fit == "ridge" else loss

    def _evaluate(self, batch: Any, stage: str) -> None:
        x, y, *rest = batch
        logits = self(x, *rest).float()
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
        # references the data computed on this split: majority class, 1-NN DTW, MiniROCKET
        for key, value in self.spec.baselines.get(stage, {}).items():
            values[f"baseline_{key}"] = torch.tensor(float(value))
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
