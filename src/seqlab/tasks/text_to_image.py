"""Stage 2 of text-to-image: a decoder-only Transformer over [caption tokens, image tokens].

The frozen stage-1 VQ-VAE turns each image into a grid of discrete codes; the DALL·E
model learns p(code_i | caption, codes_<i). To draw, it samples codes one at a time after
the caption and the VQ-VAE decodes them to pixels. The VQ-VAE is read once from
``model.tokenizer_ckpt`` by `seqlab.tasks.resolve` and then travels inside this task's
checkpoints (its config in the hyper-parameters, its weights in the state dict), so a stage-2
checkpoint is self-contained.
"""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import instantiate

from seqlab.data.images.captions import WordTokenizer
from seqlab.errors import SeqlabError
from seqlab.tasks.base import OneStepPerStage, SeqlabTask


class TextToImageTask(OneStepPerStage, SeqlabTask):
    serves = (("text_to_image", "text_to_image"),)

    def __init__(
        self, *, model: dict, spec: dict, data: dict | None = None, tokenizer: dict | None = None
    ) -> None:
        if tokenizer is None:
            raise SeqlabError(
                "TextToImageTask needs the stage-1 tokenizer config: build it with "
                "seqlab.tasks.registry.build_task (which reads model.tokenizer_ckpt)."
            )
        image_tokenizer = instantiate(tokenizer)  # weights: Resolved.finish or the state dict
        super().__init__(model=model, spec=spec, data=data)
        self.hparams["tokenizer"] = tokenizer
        self.image_tokenizer = image_tokenizer.eval().requires_grad_(False)
        self.words = WordTokenizer.from_state(self.spec.extra["tokenizer"])
        self.mean = torch.tensor(self.spec.extra["mean"]).view(1, -1, 1, 1)
        self.std = torch.tensor(self.spec.extra["std"]).view(1, -1, 1, 1)

    def train(self, mode: bool = True):
        super().train(mode)
        self.image_tokenizer.eval()  # frozen: no codebook updates, no dropout
        return self

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        images, text = batch[0], batch[1]
        codes = self.image_tokenizer.encode(images)  # (B, N) long, no grad
        terms = self.backbone.losses(text, codes)
        size = images.shape[0]
        sync = stage != "train"
        self.log(f"{stage}/loss", terms["loss"], prog_bar=True, batch_size=size, sync_dist=sync)
        self.log(f"{stage}/image_nll", terms["image"], batch_size=size, sync_dist=sync)
        if self.backbone.text_loss_weight > 0:
            self.log(f"{stage}/text_nll", terms["text"], batch_size=size, sync_dist=sync)
        return terms["loss"]

    # ------------------------------------------------------------------ drawing
    def encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        for prompt in prompts:
            self.words.check_prompt(prompt, self.spec.seq_len)
        ids = [self.words.encode(p, self.spec.seq_len) for p in prompts]
        return torch.tensor(ids, dtype=torch.long, device=self.device)

    def to_pixels(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised model space -> pixel values in [0, 1]."""
        pixels = images.float() * self.std.to(images.device) + self.mean.to(images.device)
        return (pixels / 255.0).clamp(0.0, 1.0)

    @property
    def default_guidance(self) -> float:
        """The guidance weight sampling uses when none is asked: 2 for a model trained with
        ``caption_dropout`` > 0 (it knows the empty caption), else 1 (no guidance)."""
        return 2.0 if getattr(self.backbone, "caption_dropout", 0.0) > 0 else 1.0

    @torch.no_grad()
    def generate_images(
        self,
        prompts: list[str],
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        candidates: int = 1,
        scorer: Any = None,
        guidance: float | None = None,
    ) -> torch.Tensor:
        """prompts -> images (len(prompts), C, H, W) in the normalised space of the data.

        Re-ranking (DALL·E's own recipe): with ``candidates`` = N > 1, N drawings of each prompt
        are sampled (in one batch, a prompt's candidates next to each other) and the one with
        the highest ``scorer.score(pixels, prompts)`` is kept, e.g. a CLIP's cosine similarity
        (`seqlab.tasks.contrastive.ContrastiveTask.score`). N = 1 draws exactly what plain
        sampling draws with the same generator.
        """
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise SeqlabError(f"candidates={candidates!r}: a positive integer (1 = no re-ranking)")
        if candidates > 1 and scorer is None:
            raise SeqlabError(
                f"candidates={candidates} needs a model that scores them. Fix: "
                "rerank_ckpt=<a CLIP run (experiment=clip_mnist)>/checkpoints/last.ckpt."
            )
        was_training = self.training
        self.eval()
        drawn = [p for p in prompts for _ in range(candidates)]  # (B·N,): candidates adjacent
        codes = self.backbone.generate(
            self.encode_prompts(drawn),
            temperature=temperature,
            top_k=top_k,
            generator=generator,
            guidance=self.default_guidance if guidance is None else float(guidance),
        )
        images = self.image_tokenizer.decode(codes)  # (B·N, C, H, W)
        self.train(was_training)
        if candidates == 1:
            return images
        scores = scorer.score(self.to_pixels(images), drawn)  # (B·N,)
        return best_of(images, scores.to(images.device), candidates)[0]


def best_of(
    images: torch.Tensor, scores: torch.Tensor, candidates: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """images (B·N, ...) with each prompt's N candidates adjacent, scores (B·N,) -> the best
    candidate of each prompt (B, ...) and its index among its candidates (B,)."""
    if len(images) != len(scores) or len(images) % candidates:
        raise ValueError(
            f"{len(images)} images, {len(scores)} scores: not groups of {candidates} candidates"
        )
    best = scores.view(-1, candidates).argmax(dim=1)  # (B,)
    rows = torch.arange(len(best), device=best.device) * candidates + best
    return images[rows], best
