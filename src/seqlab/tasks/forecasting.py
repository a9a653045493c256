"""Forecasting: a window of features -> the next ``horizon`` values of the target.

Loss is MSE on the normalised target. With ``model.normalize=window`` (RevIN-style, Kim et al.
2022; the default for ``data=series``) each input window is first normalised by its own mean
and standard deviation per feature, the loss is taken in those units, and the forecast is
mapped back after the head: levels no training window ever had are forecast as easily as the
ones it had.

What is scored depends on the data (``spec.extra["metrics"]``):

- ``returns`` (price series): MSE/MAE in real units (log returns), direction accuracy and the
  skill over the persistence forecast (random walk), logged every validation and test;
- ``series`` (any series, `seqlab.data.series`): the test forecasts are put back in the data's
  units and scored per series beside the classical references by
  `seqlab.evaluation.forecasting`, which also writes ``forecasts.csv`` into the run folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError, MetricCollection
from torchmetrics.classification import BinaryAccuracy

from seqlab.errors import SeqlabError
from seqlab.tasks.base import SeqlabTask
from seqlab.tasks.state import detach_state

log = logging.getLogger(__name__)
NORMALIZE = ("auto", "none", "window")
WINDOW_EPS = 1e-5  # a constant window has scale 0: its normalised values are 0


def _forecast_metrics() -> MetricCollection:
    return MetricCollection(
        {
            "mse": MeanSquaredError(),
            "mae": MeanAbsoluteError(),
            "mse_norm": MeanSquaredError(),
            "diracc": BinaryAccuracy(),
            "baseline_mse": MeanSquaredError(),
            "baseline_mae": MeanAbsoluteError(),
            "baseline_diracc": BinaryAccuracy(),
        },
        compute_groups=False,
    )


def gaussian_nll(mean: torch.Tensor, log_scale: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of y under N(mean, σ²), σ = exp(log_scale), less log √2π."""
    return (log_scale + 0.5 * ((y - mean) / log_scale.exp()) ** 2).mean()


def _as_list(value: Any) -> list:
    if value is None:
        return [None]
    return list(value) if isinstance(value, list | tuple) else [value]


def _as_tensor(value: Any) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float32)


def end_aligned_sizes(length: int, k: int) -> list[int]:
    """Chunk sizes covering ``length`` steps whose last chunk has exactly ``k`` steps."""
    head = length % k
    return ([head] if head else []) + [k] * (length // k)


class ForecastingTask(SeqlabTask):
    serves = (("forecasting", "sequence"),)

    def __init__(self, *, model: dict, spec: dict, data: dict | None = None) -> None:
        super().__init__(model=model, spec=spec, data=data)
        width = self.backbone.input_size
        self.input_proj = nn.Linear(self.spec.num_features, width)  # (B, T, F) -> (B, T, width)
        self.head = nn.Linear(self.backbone.output_size, self.spec.num_targets)
        # prediction intervals: a Gaussian per target, its log σ from a second head, trained by
        # the Gaussian negative log-likelihood; coverage and width reported on test
        self.interval = self.hparams.model.get("interval")
        if self.interval not in (None, "gaussian"):
            raise SeqlabError(
                f"model.interval={self.interval!r} is not known. Fix: null or gaussian."
            )
        if self.interval:
            self.scale_head = nn.Linear(self.backbone.output_size, self.spec.num_targets)
            self.coverage = nn.ModuleDict(
                {name: MeanMetric() for name in ("coverage_80", "coverage_95", "width_95")}
            )
        # targets in the data's own units = normalised * std + mean (identity when not given);
        # one value for all targets, or one per target (horizon * series columns)
        self.register_buffer(
            "target_mean", _as_tensor(self.spec.extra.get("target_mean", 0.0)), persistent=False
        )
        self.register_buffer(
            "target_std", _as_tensor(self.spec.extra.get("target_std", 1.0)), persistent=False
        )
        # the random-walk forecast: zero change (returns, differences) or the last value (levels)
        self.persistence = self.spec.extra.get("persistence", "zero")
        normalize = self.hparams.model.get("normalize", "auto")
        if normalize not in NORMALIZE:
            raise SeqlabError(
                f"model.normalize={normalize!r} is not known. Fix: one of {list(NORMALIZE)} "
                "(auto: what the data suggests)."
            )
        if normalize == "auto":
            normalize = self.spec.extra.get("normalize")
            if self.solves_least_squares and self.spec.extra.get("num_series", 1) <= 1:
                # the course's exact AR(τ) of one series, in that series' (scaled) units; a
                # global AR over many series of different scales needs each window's units
                normalize = "none"
        self.normalize = normalize or "none"
        self.scores_per_series = self.spec.extra.get("metrics") == "series"
        self.num_series_targets = len(_as_list(self.spec.extra.get("target")))
        self.val_metrics = _forecast_metrics()
        self.test_metrics = _forecast_metrics()
        self.test_predictions: dict[str, torch.Tensor] = {}
        self.test_evaluation: Any = None
        self._test_chunks: list[tuple[torch.Tensor, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, F) normalised features -> (B, horizon) normalised forecast (the mean)."""
        if self.normalize == "window":
            x, level, scale = self.window_stats(x)
            return self.from_window_units(self.head(self.summary(x)), level, scale)
        return self.head(self.summary(x))

    def window_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, F) -> (x normalised per window and feature, level (B, 1, F), scale (B, 1, F))."""
        level = x.mean(dim=1, keepdim=True)
        scale = x.std(dim=1, keepdim=True, unbiased=False) + WINDOW_EPS
        return (x - level) / scale, level, scale

    def _target_stats(self, stat: torch.Tensor, width: int) -> torch.Tensor:
        """(B, 1, F) -> (B, width): the targets' statistic per output, step-major."""
        n = self.num_series_targets
        return stat[:, 0, :n].repeat(1, width // n)

    def from_window_units(self, v: torch.Tensor, level: torch.Tensor, scale: torch.Tensor):
        return v * self._target_stats(scale, v.shape[1]) + self._target_stats(level, v.shape[1])

    def to_window_units(self, y: torch.Tensor, level: torch.Tensor, scale: torch.Tensor):
        width = y.shape[1]
        return (y - self._target_stats(level, width)) / self._target_stats(scale, width)

    def summary(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, F) -> the backbone's output at the last step (B, output_size).

        With ``model.tbptt_steps=k`` (state-carrying backbones) the window is read in chunks
        aligned to its **end**: the last chunk is exactly the last k steps (T=12, k=5 gives
        2, 5, 5). The state is carried forward detached, so the loss at the end of the window
        back-propagates through the last k steps only (truncated BPTT; one optimiser step per
        window, since a forecast has one loss)."""
        inputs = self.input_proj(x)  # (B, T, width)
        k = self.hparams.model.get("tbptt_steps")
        if not k or k >= inputs.shape[1]:
            hidden, _ = self.backbone(inputs)  # (B, T, H)
            return hidden[:, -1]
        chunks = inputs.split(end_aligned_sizes(inputs.shape[1], int(k)), dim=1)
        state = None
        for chunk in chunks[:-1]:
            _, state = self.backbone(chunk, state)
            state = detach_state(state)
        hidden, _ = self.backbone(chunks[-1], state)
        return hidden[:, -1]

    def mean_and_log_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``model.interval=gaussian``: (mean, log σ), each (B, horizon), normalised units."""
        if self.normalize == "window":
            x, level, scale = self.window_stats(x)
            h = self.summary(x)
            mean = self.from_window_units(self.head(h), level, scale)
            log_scale = self.scale_head(h).clamp(-10.0, 5.0)
            return mean, log_scale + self._target_stats(scale, mean.shape[1]).log()
        h = self.summary(x)
        return self.head(h), self.scale_head(h).clamp(-10.0, 5.0)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training objective: MSE (or Gaussian NLL), in per-window units when the window
        is normalised (so that every series weighs the same, whatever its level)."""
        if self.normalize == "window":
            xn, level, scale = self.window_stats(x)
            h = self.summary(xn)
            target = self.to_window_units(y, level, scale)
            if self.interval:
                return gaussian_nll(self.head(h), self.scale_head(h).clamp(-10.0, 5.0), target)
            return F.mse_loss(self.head(h), target)
        if self.interval:
            mean, log_scale = self.mean_and_log_scale(x)
            return gaussian_nll(mean, log_scale, y)
        return F.mse_loss(self(x), y)

    def embed_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.input_proj(x)

    # ------------------------------------------------------------------ exact AR(τ)
    @property
    def solves_least_squares(self) -> bool:
        return self.hparams.model.get("fit", "gradient") == "least_squares"

    def on_fit_start(self) -> None:
        if self.solves_least_squares:  # model=ar model.fit=least_squares: no gradient steps
            from seqlab.tasks.least_squares import solve_ar_least_squares

            self.ar_coefficients = solve_ar_least_squares(
                self, self.trainer.datamodule.train_dataloader()
            )

    def configure_optimizers(self) -> Any:
        if self.solves_least_squares:
            # the OLS solution is installed before training: steps of size 0 keep it (and keep
            # every callback that expects an optimiser working)
            return torch.optim.SGD(self.parameters(), lr=0.0)
        return super().configure_optimizers()

    def last_step_loss(self, hidden: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.head(hidden[:, -1]), y)

    def denormalise(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.target_std + self.target_mean

    def persistence_forecast(self, x: torch.Tensor, y_real: torch.Tensor) -> torch.Tensor:
        """The random walk in target units: no change, or every step = the last input value
        of each target (the data puts the targets first among the features, scaled alike)."""
        if self.persistence != "last":
            return torch.zeros_like(y_real)
        target = self.spec.extra.get("target")
        n = len(target) if isinstance(target, list | tuple) else 1
        last = x[:, -1, :n].repeat(1, y_real.shape[1] // n)  # (B, horizon * n), step-major
        return self.denormalise(last.to(y_real.dtype))

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y = batch[0], batch[1]
        loss = self.loss(x, y)
        self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
        return loss

    def _evaluate(self, batch: tuple[torch.Tensor, ...], stage: str, metrics: MetricCollection):
        x, y = batch[0], batch[1]
        log_scale = None
        if self.interval:
            pred, log_scale = (t.float() for t in self.mean_and_log_scale(x))
            self.log(f"{stage}/nll", gaussian_nll(pred, log_scale, y), batch_size=x.shape[0])
            if stage == "test":
                self._update_coverage(pred, log_scale, y)
        else:
            pred = self(x).float()
        loss = self.loss(x, y) if self.normalize == "window" else F.mse_loss(pred, y)
        self.log(
            f"{stage}/loss", loss, prog_bar=stage == "val", batch_size=x.shape[0], sync_dist=True
        )
        pred_real, y_real = self.denormalise(pred), self.denormalise(y)
        if stage == "test" and len(batch) > 2:  # the window rows: scored per series later
            sigma = None if log_scale is None else log_scale.exp()
            self._test_chunks.append((batch[2].detach(), pred.detach(), sigma))
        if self.scores_per_series:
            metrics["mse_norm"].update(pred, y)
            return pred_real, y_real
        persistence = self.persistence_forecast(x, y_real)
        metrics["mse"].update(pred_real, y_real)
        metrics["mae"].update(pred_real, y_real)
        metrics["mse_norm"].update(pred, y)
        # direction of the change from what persistence says, e.g. up or down from today
        up_pred = pred_real[:, 0] > persistence[:, 0]
        metrics["diracc"].update(up_pred.long(), (y_real[:, 0] > persistence[:, 0]).long())
        metrics["baseline_mse"].update(persistence, y_real)
        metrics["baseline_mae"].update(persistence, y_real)
        metrics["baseline_diracc"].update(
            torch.ones_like(y_real[:, 0]).long(), (y_real[:, 0] > 0).long()
        )
        return pred_real, y_real

    def _log_epoch(self, stage: str, metrics: MetricCollection) -> None:
        if self.scores_per_series:  # scored per series at test end, in the data's units
            self.log(f"{stage}/mse_norm", metrics["mse_norm"].compute(), sync_dist=True)
            metrics.reset()
            return
        values = metrics.compute()
        # Skill > 0 means the model beats the random walk on this split.
        values["skill"] = 1.0 - values["mse"] / values["baseline_mse"]
        self.log_dict({f"{stage}/{k}": v for k, v in values.items()}, sync_dist=True)
        metrics.reset()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val", self.val_metrics)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        pred_real, y_real = self._evaluate(batch, "test", self.test_metrics)
        if len(batch) == 2:
            self._test_chunks.append((pred_real.detach().cpu(), y_real.detach().cpu()))

    def on_test_epoch_start(self) -> None:
        self._test_chunks = []

    def _update_coverage(self, mean, log_scale, y) -> None:
        """Share of test targets inside the central 80% / 95% intervals, and the 95% width
        in target units."""
        sigma = log_scale.exp()
        error = (y - mean).abs()
        # every target once: a smaller last batch weighs by its size, not as a whole batch
        self.coverage["coverage_80"].update((error <= 1.2816 * sigma).float())
        self.coverage["coverage_95"].update((error <= 1.96 * sigma).float())
        self.coverage["width_95"].update(2 * 1.96 * sigma * self.target_std)

    def on_test_epoch_end(self) -> None:
        if self.interval:
            for name, metric in self.coverage.items():
                self.log(f"test/{name}", metric.compute().to(self.device))
                metric.reset()
        self._log_epoch("test", self.test_metrics)
        chunks, self._test_chunks = self._test_chunks, []
        if not chunks:
            return
        if len(chunks[0]) == 2:  # windows without rows (price series): kept for the plots
            preds, targets = zip(*chunks, strict=True)
            self.test_predictions = {"pred": torch.cat(preds), "target": torch.cat(targets)}
            return
        self._score_per_series(chunks)

    def _score_per_series(self, chunks: list[tuple[torch.Tensor, ...]]) -> None:
        """Every process's test forecasts, met again with their windows by row, scored per
        series in the data's units (the same on one process and under DDP)."""
        from seqlab.evaluation.forecasting import evaluate

        rows = torch.cat([c[0] for c in chunks])
        pred = torch.cat([c[1] for c in chunks])
        sigma = torch.cat([c[2] for c in chunks]) if chunks[0][2] is not None else None
        if self.trainer.world_size > 1:
            rows, pred = (self.all_gather(t).flatten(0, 1) for t in (rows, pred))
            sigma = None if sigma is None else self.all_gather(sigma).flatten(0, 1)
        rows_np, first = np.unique(rows.cpu().numpy(), return_index=True)  # DDP pads: repeats
        pred_np = pred.float().cpu().numpy()[first]
        datamodule = getattr(self.trainer, "datamodule", None)
        windows = getattr(datamodule, "forecast_windows", None)
        if windows is None:
            return
        settings = getattr(datamodule, "reference_settings", {"enabled": True, "ar_order": 1})
        model = windows.to_levels(pred_np, rows_np)
        bounds = None
        if sigma is not None and windows.transform != "diff":
            spread = 1.96 * sigma.float().cpu().numpy()[first]
            lo = windows.to_levels(pred_np - spread, rows_np)
            bounds = (lo, windows.to_levels(pred_np + spread, rows_np))
        evaluation = evaluate(
            windows,
            model,
            rows_np,
            references=settings["enabled"],
            ar_order=settings["ar_order"],
            bounds=bounds,
        )
        for line in evaluation.failure_lines():
            log.warning("%s", line)
        self.test_evaluation = evaluation
        self.log_dict({f"test/{k}": float(v) for k, v in evaluation.metrics.items()})
        if self.trainer.is_global_zero and self.trainer.default_root_dir:
            from seqlab.utils.files import atomic_write_text

            out = Path(self.trainer.default_root_dir) / "forecasts.csv"
            atomic_write_text(out, evaluation.frame.to_csv(index=False))
            log.info("forecasts written: %s (%d rows)", out, len(evaluation.frame))
