"""A task's inference graph: input layer + backbone + head as one module, ready to export.

``inference_graph(task)`` wraps a trained task in a plain ``nn.Module`` whose inputs are what a
user has (raw series values, raw pixels, token ids) and whose outputs are what predict.py
reports. The training's pre-processing goes into the graph where it is a fixed map
(classification: the per-channel standardisation); everything else is described in the
``preprocessing`` dict written as JSON beside the exported file.

What cannot become one static graph is refused with the reason: recurrent ``impl=scratch``
(a Python loop over time), encoder-decoder forecasting (generation step by step), the
VQ-VAE and DALL·E (sampling loops).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from seqlab.errors import SeqlabError

NOT_EXPORTABLE = {
    "encoder_decoder": "it forecasts by generating one step after another (a Python loop)",
    "image_tokenizer": "a VQ-VAE is a training stage of DALL·E, not a predictor",
    "text_to_image": "DALL·E draws by sampling tokens one at a time (a Python loop)",
    "contrastive": "a CLIP scores DALL·E's drawings (generate.py/eval.py rerank_ckpt=...); it "
    "has two inputs and no head to export",
}


@dataclass
class InferenceGraph:
    """The module to export and how to call it."""

    module: nn.Module
    inputs: list[str]  # names, in forward's argument order
    outputs: list[str]
    # per input: {axis: name} of the axes that may vary ("batch", "time")
    dynamic: dict[str, dict[int, str]]
    max_len: int | None  # longest "time" axis the model reads (learned positions), else None
    description: dict[str, str]  # name -> shape and meaning (README)
    preprocessing: dict[str, Any] = field(default_factory=dict)


class SeriesClassifier(nn.Module):
    """raw series (B, T, C) -> (logits (B, K), probabilities (B, K)); standardises inside."""

    def __init__(self, task: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.task = task
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, series: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.task((series - self.mean) / self.std)  # (B, T, C) -> (B, K)
        return logits, torch.softmax(logits, dim=-1)


class ImageClassifier(nn.Module):
    """raw pixels (B, C, H, W) -> (logits (B, K), probabilities (B, K)); normalises inside."""

    def __init__(self, task: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.task = task
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32)[:, None, None])
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32)[:, None, None])

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.task((pixels - self.mean) / self.std)  # (B, C, H, W) -> (B, K)
        return logits, torch.softmax(logits, dim=-1)


class LanguageModel(nn.Module):
    """token ids (B, T) int64 -> next-token logits (B, T, V), from an empty state."""

    def __init__(self, task: nn.Module) -> None:
        super().__init__()
        self.task = task

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        logits, _ = self.task(tokens)
        return logits


class Forecaster(nn.Module):
    """normalised window (B, T, F) -> normalised forecast (B, horizon) [, log σ (B, horizon)]."""

    def __init__(self, task: nn.Module, interval: bool) -> None:
        super().__init__()
        self.task, self.interval = task, interval

    def forward(self, window: torch.Tensor):
        if self.interval:
            return self.task.mean_and_log_scale(window)
        return self.task(window)


def _backbone(task: nn.Module) -> nn.Module:
    return getattr(task.backbone, "_orig_mod", task.backbone)  # torch.compile


def refuse_unexportable(task: nn.Module) -> None:
    """One line naming why this model cannot be one exported graph, if it cannot."""
    from seqlab.nn.contract import kind_of

    backbone = _backbone(task)
    kind = kind_of(type(backbone))
    name = type(backbone).__name__
    if kind in NOT_EXPORTABLE:
        raise SeqlabError(f"ckpt_path: {name} cannot be exported: {NOT_EXPORTABLE[kind]}.")
    if getattr(backbone, "impl", None) == "scratch":
        raise SeqlabError(
            f"ckpt_path: {name} with impl=scratch cannot be exported: its cells loop over time "
            "in Python, so a graph would hold one fixed length. Fix: train with "
            "model.backbone.impl=fused (same weights and results, torch's kernels)."
        )
    if task.hparams.model.get("tbptt_steps") and task.spec.task == "forecasting":
        raise SeqlabError(
            f"ckpt_path: {name} reads its window in truncated-BPTT chunks of Python-computed "
            "sizes. Fix: train with model.tbptt_steps=null to export it."
        )


def inference_graph(task: nn.Module) -> InferenceGraph:
    """The task as one exportable module, or a one-line refusal."""
    refuse_unexportable(task)
    spec = task.spec
    backbone = _backbone(task)
    max_len = getattr(backbone, "max_len", None)
    common = {"task": spec.task, "model": type(backbone).__qualname__, "spec": spec.to_dict()}
    if spec.task == "classification" and spec.image_shape:
        C, H, W = spec.image_shape
        return InferenceGraph(
            module=ImageClassifier(task, spec.extra["mean"], spec.extra["std"]),
            inputs=["pixels"],
            outputs=["logits", "probabilities"],
            dynamic={"pixels": {0: "batch"}},
            max_len=None,
            description={
                "pixels": f"(batch, {C}, {H}, {W}) float32 raw pixel values in "
                f"0..{spec.extra.get('pixel_max', 255):g} (normalised inside the graph)",
                "logits": f"(batch, {len(spec.class_names)}) float32",
                "probabilities": "(batch, classes) float32, softmax of the logits; class i is "
                "class_names[i]",
            },
            preprocessing={
                **common,
                "class_names": list(spec.class_names),
                "pixel_max": spec.extra.get("pixel_max", 255.0),
                "normalisation_in_graph": {"mean": spec.extra["mean"], "std": spec.extra["std"]},
            },
        )
    if spec.task == "classification":
        mean, std = spec.extra.get("channel_mean"), spec.extra.get("channel_std")
        if mean is None or std is None:
            raise SeqlabError(
                "ckpt_path: the checkpoint stores no channel statistics (trained before seqlab "
                "recorded them, or on token data). Fix: train it again with this seqlab."
            )
        return InferenceGraph(
            module=SeriesClassifier(task, mean, std),
            inputs=["series"],
            outputs=["logits", "probabilities"],
            dynamic={"series": {0: "batch", 1: "time"}},
            max_len=max_len,
            description={
                "series": f"(batch, time, {spec.num_features}) float32 raw values, the series of "
                "a batch of one length (standardised inside the graph)",
                "logits": f"(batch, {len(spec.class_names)}) float32",
                "probabilities": "(batch, classes) float32; class i is class_names[i]",
            },
            preprocessing={
                **common,
                "class_names": list(spec.class_names),
                "normalisation_in_graph": {"mean": mean, "std": std},
                "train_min_length": spec.extra.get("train_min_length"),
            },
        )
    if spec.task == "language_modeling":
        return InferenceGraph(
            module=LanguageModel(task),
            inputs=["tokens"],
            outputs=["logits"],
            dynamic={"tokens": {0: "batch", 1: "time"}},
            max_len=max_len,
            description={
                "tokens": "(batch, time) int64 token ids (the tokenizer in the JSON beside)",
                "logits": f"(batch, time, {spec.vocab_size}) float32 next-token logits",
            },
            preprocessing={**common, "tokenizer": spec.extra.get("tokenizer")},
        )
    if spec.task == "forecasting":
        from seqlab.prediction import MODULES

        try:  # the forecasting room may describe its own graph (per-series scaling, ...)
            import importlib

            own = getattr(importlib.import_module(MODULES["forecasting"]), "export_graph", None)
        except ModuleNotFoundError:
            own = None
        graph = own(task) if own is not None else None
        if graph is not None:
            return graph
        interval = bool(getattr(task, "interval", None))
        outputs = ["forecast", "log_scale"] if interval else ["forecast"]
        return InferenceGraph(
            module=Forecaster(task, interval),
            inputs=["window"],
            outputs=outputs,
            dynamic={"window": {0: "batch", 1: "time"}},
            max_len=max_len,
            description={
                "window": f"(batch, time, {spec.num_features}) float32 normalised features",
                "forecast": f"(batch, {spec.num_targets}) float32, normalised: times target_std "
                "plus target_mean (spec.extra) gives the data's units",
                **({"log_scale": "(batch, horizon) float32 log σ, normalised"} if interval else {}),
            },
            preprocessing=common,
        )
    raise SeqlabError(f"ckpt_path: a {spec.task} checkpoint has no inference graph to export.")
