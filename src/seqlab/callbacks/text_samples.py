"""Generated text every validation epoch: a W&B table and ``samples.txt`` in the run folder."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from seqlab.tracking import wandb_loggers


class TextSamples(L.Callback):
    def __init__(
        self,
        prompts: list[str] = ("ROMEO:", "\n"),
        max_new_tokens: int = 200,
        temperature: float = 0.8,
        top_k: int | None = 40,
        seed: int = 0,
    ) -> None:
        self.prompts = list(prompts)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_k = top_k
        self.seed = seed
        self.rows: list[list] = []

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if (
            trainer.sanity_checking
            or not trainer.is_global_zero
            or not hasattr(pl_module, "generate")
        ):
            return
        tokenizer = pl_module.tokenizer
        generator = torch.Generator(device=pl_module.device).manual_seed(self.seed)
        samples = []
        for prompt in self.prompts:
            ids = torch.tensor([tokenizer.encode(prompt)], device=pl_module.device)
            out = pl_module.generate(
                ids,
                self.max_new_tokens,
                temperature=self.temperature,
                top_k=self.top_k,
                generator=generator,
            )
            text = tokenizer.decode(out[0, ids.shape[1] :].tolist())
            samples.append((prompt, text))
            self.rows.append([trainer.current_epoch, prompt, text])
        path = Path(trainer.default_root_dir) / "samples.txt"
        with path.open("a") as file:
            for prompt, text in samples:
                file.write(
                    f"=== epoch {trainer.current_epoch} | prompt {prompt!r}\n{prompt}{text}\n\n"
                )
        for logger in wandb_loggers(trainer):
            logger.log_text(key="samples", columns=["epoch", "prompt", "sample"], data=self.rows)
