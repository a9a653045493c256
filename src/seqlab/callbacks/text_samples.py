"""Generated text every validation epoch: a W&B table and ``samples.txt`` in the run folder.

Cost: ``max_new_tokens`` forward passes of a batch of the prompts (one pass per new token;
past the model's context each pass reads the whole context). All prompts are sampled
together as one batch (the shorter ones are first brought to the length of the longest):
a GPT of width 128 with two prompts of 200 tokens takes about 0.6 s on a CPU core. By default
every second validation samples (the 1st, 3rd, ...: ``every_n_validations``), and the end of
fit samples the final model when its last validation did not. With a `MediaBudget` among the
callbacks, a scheduled sample that would exceed it waits for the next validation."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from seqlab.callbacks.media_budget import media_allowed, media_time
from seqlab.errors import SeqlabError
from seqlab.tracking import wandb_loggers


class TextSamples(L.Callback):
    def __init__(
        self,
        prompts: list[str] = ("ROMEO:", "\n"),
        max_new_tokens: int = 200,
        temperature: float = 0.8,
        top_k: int | None = 40,
        seed: int = 0,
        every_n_validations: int = 2,
    ) -> None:
        if int(every_n_validations) < 1:
            raise SeqlabError(
                "callbacks.text_samples.every_n_validations must be >= 1, got "
                f"{every_n_validations}. Fix: e.g. 2, or callbacks.text_samples=null."
            )
        self.prompts = list(prompts)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_k = top_k
        self.seed = seed
        self.every_n_validations = int(every_n_validations)
        self.rows: list[list] = []
        self._validations = 0
        self._due = False  # a scheduled sample the media budget deferred
        self._sampled_step: int | None = None

    def _generate(self, pl_module) -> list[str]:
        """One continuation of ``max_new_tokens`` tokens for every prompt, sampled as a batch:
        each shorter prompt first samples alone up to the longest prompt's length, then all
        rows sample ``max_new_tokens`` together (a row that started shorter keeps its first
        ``max_new_tokens``)."""
        tokenizer, device = pl_module.tokenizer, pl_module.device
        generator = torch.Generator(device=device).manual_seed(self.seed)
        encoded = [tokenizer.encode(prompt) for prompt in self.prompts]
        longest = max(len(ids) for ids in encoded)
        if longest - min(len(ids) for ids in encoded) > self.max_new_tokens:  # one at a time
            rows = [
                self._sample(pl_module, torch.tensor([ids], device=device), self.max_new_tokens,
                             generator)[0]
                for ids in encoded
            ]  # fmt: skip
        else:
            rows = []
            for ids in encoded:
                row = torch.tensor([ids], device=device)
                if len(ids) < longest:
                    row = self._sample(pl_module, row, longest - len(ids), generator)
                rows.append(row)
            rows = list(self._sample(pl_module, torch.cat(rows), self.max_new_tokens, generator))
        return [
            tokenizer.decode(row[len(ids) : len(ids) + self.max_new_tokens].tolist())
            for row, ids in zip(rows, encoded, strict=True)
        ]

    def _sample(self, pl_module, ids, steps: int, generator):
        with torch.no_grad():
            return pl_module.generate(
                ids, steps, temperature=self.temperature, top_k=self.top_k, generator=generator
            )

    def _write(self, trainer, pl_module, epoch: int) -> None:
        samples = list(zip(self.prompts, self._generate(pl_module), strict=True))
        self._sampled_step = trainer.global_step
        self.rows.extend([epoch, prompt, text] for prompt, text in samples)
        path = Path(trainer.default_root_dir) / "samples.txt"
        with path.open("a") as file:
            for prompt, text in samples:
                file.write(f"=== epoch {epoch} | prompt {prompt!r}\n{prompt}{text}\n\n")
        for logger in wandb_loggers(trainer, shown=True):
            logger.log_text(key="samples", columns=["epoch", "prompt", "sample"], data=self.rows)

    @staticmethod
    def _applies(trainer, pl_module) -> bool:
        return trainer.is_global_zero and hasattr(pl_module, "generate")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not self._applies(trainer, pl_module):
            return
        self._validations += 1
        if (self._validations - 1) % self.every_n_validations == 0:
            self._due = True
        if self._due and media_allowed(trainer, "text samples"):
            self._due = False
            with media_time(trainer):
                self._write(trainer, pl_module, trainer.current_epoch)

    def on_fit_end(self, trainer, pl_module) -> None:
        if not self._applies(trainer, pl_module) or self._validations == 0:
            return
        if self._sampled_step != trainer.global_step:  # the final model was not sampled yet
            last_epoch = (trainer.max_epochs or trainer.current_epoch + 1) - 1
            with media_time(trainer):
                self._write(trainer, pl_module, max(min(trainer.current_epoch, last_epoch), 0))
