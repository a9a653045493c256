"""Stage 2 of text-to-image: a decoder-only Transformer over [caption tokens, image tokens].

The frozen stage-1 VQ-VAE turns each image into a grid of discrete codes; the DALL·E
model learns p(code_i | caption, codes_<i). To draw, it samples codes one at a time after
the caption and the VQ-VAE decodes them to pixels. The VQ-VAE is loaded once from
``model.tokenizer_ckpt`` and then travels inside this task's checkpoints (its config in the
hyper-parameters, its weights in the state dict), so a stage-2 checkpoint is self-contained.
"""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import instantiate

from seqlab.data.captions import WordTokenizer
from seqlab.errors import SeqlabError
from seqlab.tasks.base import SeqlabTask, to_plain


def _load_tokenizer(ckpt_path: str | None) -> tuple[dict, dict[str, torch.Tensor]]:
    from seqlab.tasks.registry import load_task

    if not ckpt_path:
        raise SeqlabError(
            "model.tokenizer_ckpt is not set: the DALL·E stage needs the stage-1 VQ-VAE. Fix: "
            "train it with `python train.py experiment=vqvae_mnist`, then pass "
            "model.tokenizer_ckpt=<that run>/checkpoints/last.ckpt (or run `make dalle`)."
        )
    stage1, _ = load_task(ckpt_path)
    if type(stage1).__name__ != "ImageTokenizerTask":
        raise SeqlabError(
            f"model.tokenizer_ckpt: '{ckpt_path}' is a {type(stage1).__name__} checkpoint, "
            "not a VQ-VAE (stage 1). Fix: use the checkpoint of experiment=vqvae_mnist."
        )
    weights = {k: v.clone() for k, v in stage1.backbone.state_dict().items()}
    return stage1.hparams["model"]["backbone"], weights


class TextToImageTask(SeqlabTask):
    task_name = "text_to_image"

    def __init__(
        self, *, model: dict, spec: dict, data: dict | None = None, tokenizer: dict | None = None
    ) -> None:
        model = dict(to_plain(model))
        weights = None
        if tokenizer is None:
            tokenizer, weights = _load_tokenizer(model.get("tokenizer_ckpt"))
        image_tokenizer = instantiate(tokenizer)
        if weights is not None:
            image_tokenizer.load_state_dict(weights)
        backbone = dict(model["backbone"])
        backbone.update(
            text_vocab_size=spec["vocab_size"],
            text_len=spec["seq_len"],
            image_vocab_size=image_tokenizer.codebook_size,
            image_tokens=image_tokenizer.num_tokens,
            grid_size=list(image_tokenizer.grid_size),
            pad_id=spec["extra"].get("pad_id", 0),
        )
        model["backbone"] = backbone
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

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")

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

    @torch.no_grad()
    def generate_images(
        self,
        prompts: list[str],
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """prompts -> images (len(prompts), C, H, W) in the normalised space of the data."""
        was_training = self.training
        self.eval()
        codes = self.backbone.generate(
            self.encode_prompts(prompts), temperature=temperature, top_k=top_k, generator=generator
        )
        images = self.image_tokenizer.decode(codes)
        self.train(was_training)
        return images
