"""Language modelling: predict token t+1 from tokens ≤ t, with any sequence backbone.

The task owns the token embedding and the output head (tied when the widths match), so
``model=lstm``, ``gru``, ``rnn``, ``ar`` and ``gpt`` all train on the same data. Metrics are
nats/token (``loss``), bits per character (``bpc``) and perplexity; the unigram, bigram and
interpolated n-gram baselines of the data are logged beside them on the same split.

Truncated BPTT (``model.tbptt_steps=k``) uses manual optimisation: each sequence is cut into
chunks of k steps (``split(k, dim=1)``), the state is carried across chunks detached, and the
optimiser steps once per chunk. With stateful data (contiguous batches) the state is also
carried from batch to batch, and across the whole split in evaluation.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.data.text.tokenizers import tokenizer_from_state
from seqlab.errors import SeqlabError
from seqlab.nn.sampling import sample_next
from seqlab.tasks.base import SeqlabTask
from seqlab.tasks.state import detach_state

BASELINES = ("unigram", "bigram", "ngram")


class LanguageModelingTask(SeqlabTask):
    serves = (("language_modeling", "sequence"),)

    def __init__(self, *, model: dict, spec: dict, data: dict | None = None) -> None:
        super().__init__(model=model, spec=spec, data=data)  # refuses non-causal backbones
        vocab = self.spec.vocab_size
        self.embedding = nn.Embedding(vocab, self.backbone.input_size)  # (B, T) -> (B, T, C)
        self.head = nn.Linear(self.backbone.output_size, vocab, bias=False)
        tie = self.hparams.model.get("tie_weights", True)
        if tie and self.backbone.input_size == self.backbone.output_size:
            # nanoGPT's init: with N(0, 1) embeddings a tied head starts with huge logits
            nn.init.normal_(self.embedding.weight, mean=0.0, std=0.02)
            self.head.weight = self.embedding.weight
        self.tbptt_steps = self.hparams.model.get("tbptt_steps")
        if self.tbptt_steps is not None and int(self.tbptt_steps) < 1:
            raise SeqlabError(
                "model.tbptt_steps must be a positive number of steps, or null for full BPTT."
            )
        self.automatic_optimization = self.tbptt_steps is None
        self.grad_clip = self.hparams.model.get("grad_clip")
        self.stateful = bool(self.spec.extra.get("stateful", False))
        self._state: Any = None
        self._tokenizer = None

    # ------------------------------------------------------------------ model
    def forward(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """idx: (B, T) token ids -> logits (B, T, V), next state."""
        hidden, state = self.backbone(self.embedding(idx), state)  # (B, T, H)
        return self.head(hidden), state

    def embed_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x)

    def last_step_loss(self, hidden: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.head(hidden[:, -1]).float(), y[:, -1])

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = tokenizer_from_state(self.spec.extra["tokenizer"])
        return self._tokenizer

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def _carry(self, batch_size: int) -> Any:
        """State to start a batch with: carried only for stateful (contiguous) data, whose
        loaders yield equal-sized batches of parallel streams."""
        return self._state if self.stateful else None

    def setup(self, stage: str) -> None:
        if self.stateful and self.trainer.world_size > 1:
            raise SeqlabError(
                f"data.stateful=true with {self.trainer.world_size} processes: the distributed "
                "sampler would hand each rank every other batch, so the carried state would not "
                "continue its stream. Fix: data.stateful=false, or train on one device."
            )

    # ------------------------------------------------------------------ training
    def on_train_epoch_start(self) -> None:
        self._state = None

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor | None:
        x, y = batch
        if self.automatic_optimization:
            logits, state = self(x, self._carry(x.shape[0]))
            self._state = detach_state(state)
            loss = self._loss(logits, y)
            self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
            return loss
        return self._tbptt_step(x, y)

    def tbptt_chunks(self, x: torch.Tensor, y: torch.Tensor, state: Any = None):
        """Yield (loss, tokens, state) per chunk of ``tbptt_steps`` steps, in order.

        ``split(k, dim=1)`` makes chunks of k steps (``tensor_split(k)`` would make k chunks).
        The state entering each chunk is detached, so no gradient reaches an earlier chunk.
        """
        for x_chunk, y_chunk in zip(
            x.split(self.tbptt_steps, dim=1), y.split(self.tbptt_steps, dim=1), strict=True
        ):
            logits, state = self(x_chunk, detach_state(state))
            yield self._loss(logits, y_chunk), y_chunk.numel(), state

    def _tbptt_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer = self.optimizers()
        total, count, last_state = 0.0, 0, None
        for loss, tokens, state in self.tbptt_chunks(x, y, self._carry(x.shape[0])):
            last_state = state
            optimizer.zero_grad()
            self.manual_backward(loss)
            if self.grad_clip:
                self.clip_gradients(
                    optimizer, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm"
                )
            optimizer.step()
            total += float(loss.detach()) * tokens
            count += tokens
        self._state = detach_state(last_state)
        self.log("train/loss", total / count, prog_bar=True, batch_size=x.shape[0])

    def on_train_epoch_end(self) -> None:
        if self.automatic_optimization:
            return
        scheduler = self.lr_schedulers()
        if scheduler is None:
            return
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            monitor = self.hparams.model.get("scheduler_monitor", "val/loss")
            value = self.trainer.callback_metrics.get(monitor)
            if value is not None:
                scheduler.step(value)
        else:
            scheduler.step()

    # ------------------------------------------------------------------ evaluation
    def _eval_start(self) -> None:
        self._state = None
        self._nll_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._tokens = torch.zeros((), dtype=torch.float64, device=self.device)

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        x, y = batch
        logits, state = self(x, self._carry(x.shape[0]))
        self._state = state
        loss = self._loss(logits, y)
        self._nll_sum += loss.double() * y.numel()
        self._tokens += y.numel()
        self.log(
            f"{stage}/loss", loss, batch_size=y.numel(), sync_dist=True, prog_bar=stage == "val"
        )

    def _eval_end(self, stage: str) -> None:
        nll_sum = self.all_gather(self._nll_sum).sum()
        tokens = self.all_gather(self._tokens).sum()
        nats = float(nll_sum / tokens.clamp_min(1))
        chars_per_token = float(self.spec.extra.get(f"chars_per_token_{stage}", 1.0))
        values = {"ppl": math.exp(min(nats, 50.0)), "bpc": nats / math.log(2) / chars_per_token}
        for name in BASELINES:
            base = self.spec.baselines.get(stage, {}).get(f"{name}_nll")
            if base is not None:
                values[f"baseline_{name}"] = float(base)
                values[f"baseline_{name}_bpc"] = float(base) / math.log(2) / chars_per_token
        self.log_dict({f"{stage}/{k}": v for k, v in values.items()}, sync_dist=False)
        self._state = None

    def on_validation_epoch_start(self) -> None:
        self._train_state, self._state = self._state, None
        self._eval_start()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")
        self._state = getattr(self, "_train_state", None)  # resume the training stream

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        on_token=None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Sample continuations of idx (B, T0) -> (B, T0 + max_new_tokens).

        Recurrent backbones carry their state (one step per token). Backbones with a context
        limit (``max_len``) and a KV cache (``new_cache``) feed one token per step through the
        cache while the context fits; past the limit (or with ``use_cache=False``) every step
        recomputes over the last ``max_len`` tokens. Cached and uncached give the same tokens.
        """
        was_training = self.training
        self.eval()
        block = getattr(self.backbone, "max_len", None)
        new_cache = getattr(self.backbone, "new_cache", None) if use_cache else None
        context = idx if block is None else idx[:, -block:]
        logits, state = self(context, new_cache() if new_cache else None)
        for _ in range(max_new_tokens):
            next_id = sample_next(
                logits[:, -1], temperature=temperature, top_k=top_k, generator=generator
            )
            idx = torch.cat([idx, next_id], dim=1)
            if on_token is not None:
                on_token(next_id)
            if block is None or (new_cache is not None and idx.shape[1] <= block):
                logits, state = self(next_id, state)  # one step: (B, 1) -> (B, 1, V)
            else:  # past the context limit, or no cache: recompute over the last max_len
                logits, state = self(idx[:, -block:], new_cache() if new_cache else None)
        self.train(was_training)
        return idx
