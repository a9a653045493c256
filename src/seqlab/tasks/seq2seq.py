"""Multi-step forecasting with an encoder–decoder Transformer.

The encoder reads the past window in one pass (self-attention over all N steps at once).
The decoder produces the next ``horizon`` values one at a time: step k attends causally to
its own previous outputs and, through cross-attention, to the encoder's output (the
encoder output is the keys and values of every decoder layer's cross-attention). Training
uses teacher forcing (the true previous values are fed in); validation and test generate
autoregressively, feeding each prediction back, exactly as at inference time.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.tasks.forecasting import ForecastingTask


class Seq2SeqForecastingTask(ForecastingTask):
    serves = (("forecasting", "encoder_decoder"),)

    def __init__(self, *, model: dict, spec: dict, data: dict | None = None) -> None:
        super().__init__(model=model, spec=spec, data=data)
        if self.interval:
            raise SeqlabError(
                "model.interval=gaussian is not available for model=seq2seq (it generates one "
                "value per step). Fix: model.interval=null, or another forecasting model."
            )
        dim = self.backbone.hidden_size
        self.value_proj = nn.Linear(1, dim)  # a previous target value -> decoder input
        self.start = nn.Parameter(torch.zeros(1, 1, dim))  # the "start of forecast" input
        self.head = nn.Linear(dim, 1)  # decoder output -> next value

    def embed_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.input_proj(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, F) window; y: (B, horizon) normalised targets for teacher forcing, or
        None to generate. Returns (B, horizon) normalised forecasts."""
        memory = self.backbone.encode(self.input_proj(x))  # (B, T, dim)
        start = self.start.expand(x.shape[0], 1, -1)  # (B, 1, dim)
        if y is not None:
            previous = self.value_proj(y[:, :-1, None])  # (B, horizon-1, dim)
            hidden = self.backbone.decode(torch.cat([start, previous], dim=1), memory)
            return self.head(hidden).squeeze(-1)  # (B, horizon)
        cache = self.backbone.new_cache()
        step, outputs = start, []
        for _ in range(self.spec.num_targets):
            value = self.head(self.backbone.decode(step, memory, cache))  # (B, 1, 1)
            outputs.append(value[:, 0])
            step = self.value_proj(value)  # feed the prediction back
        return torch.cat(outputs, dim=1)  # (B, horizon)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self(x, y), y)
        self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
        return loss

    def input_gradient_norms(self, batch) -> torch.Tensor:
        x, y = batch[0], batch[1]
        with torch.enable_grad():
            inputs = self.input_proj(x).detach().requires_grad_(True)  # (B, T, dim)
            memory = self.backbone.encode(inputs)
            start = self.start.expand(x.shape[0], 1, -1)
            value = self.head(self.backbone.decode(start, memory))[:, 0]
            loss = nn.functional.mse_loss(value, y[:, :1])
            (grad,) = torch.autograd.grad(loss, inputs)
        return grad.norm(dim=-1).mean(dim=0)
