"""CLIP on image–caption pairs: the contrastive task (Radford et al. 2021).

The caption data (``data=mnist_captions``) says its task is ``text_to_image``: it yields
(images, caption ids, labels). What is learnt from those pairs is the backbone's choice: a
DALL·E (kind ``text_to_image``) learns to draw, a CLIP (kind ``contrastive``,
`seqlab.nn.text_to_image.clip.CLIP`) learns to match, so ``model=clip data=mnist_captions`` is served here
with no second caption datamodule and no flag on the data.

Logged on val and test, next to the loss (symmetric InfoNCE, `seqlab.nn.text_to_image.clip`):

- ``zero_shot_acc``: each image is given the digit whose caption "a handwritten <digit>" has
  the highest cosine similarity with it (no label is ever trained on; such short captions never
  occur in training, every training caption has attribute words);
- ``baseline_majority_acc``: always the training split's most frequent digit;
- ``retrieval_acc``: within a batch, how often an image's own caption scores highest;
- ``logit_scale``: exp(t), the learned inverse temperature.

`score` gives the CLIP score (the cosine similarity of a caption's and an image's embeddings)
that re-ranks DALL·E's drawings (`seqlab.tasks.text_to_image.TextToImageTask.generate_images`).
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics.classification import MulticlassAccuracy

from seqlab.data.images.captions import DIGIT_WORDS, WordTokenizer
from seqlab.errors import SeqlabError
from seqlab.tasks.base import OneStepPerStage, SeqlabTask

ZERO_SHOT_TEMPLATE = "a handwritten {}"


def zero_shot_prompts(num_classes: int = 10) -> list[str]:
    """The captions of the classes: "a handwritten zero" ... "a handwritten nine"."""
    return [ZERO_SHOT_TEMPLATE.format(word) for word in DIGIT_WORDS[:num_classes]]


class ContrastiveTask(OneStepPerStage, SeqlabTask):
    serves = (("text_to_image", "contrastive"),)

    def __init__(self, *, model: dict, spec: dict, data: dict | None = None) -> None:
        super().__init__(model=model, spec=spec, data=data)
        if "tokenizer" not in self.spec.extra or not self.spec.image_shape:
            raise SeqlabError(
                "data: CLIP learns from images with captions (a word tokenizer in the spec). "
                "Fix: data=mnist_captions."
            )
        self.words = WordTokenizer.from_state(self.spec.extra["tokenizer"])
        self.num_classes = min(int(self.spec.num_targets or 10), len(DIGIT_WORDS))
        self.register_buffer("mean", torch.tensor(self.spec.extra["mean"]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(self.spec.extra["std"]).view(1, -1, 1, 1))
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.val_zero_shot = MulticlassAccuracy(self.num_classes, average="micro")
        self.test_zero_shot = MulticlassAccuracy(self.num_classes, average="micro")

    # ------------------------------------------------------------------ embeddings
    def encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        for prompt in prompts:
            self.words.check_prompt(prompt, self.spec.seq_len)
        ids = [self.words.encode(p, self.spec.seq_len) for p in prompts]
        return torch.tensor(ids, dtype=torch.long, device=self.device)

    def embed_text(self, prompts: list[str]) -> torch.Tensor:
        """prompts -> unit-norm embeddings (N, embed_size)."""
        return self.backbone.encode_text(self.encode_prompts(prompts))

    def embed_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (N, C, H, W) in [0, 1] -> unit-norm embeddings (N, embed_size), normalised with
        this model's own training statistics (whatever space the drawing model works in)."""
        images = (pixels.to(self.device).float() * 255.0 - self.mean) / self.std
        return self.backbone.encode_image(images)

    @torch.no_grad()
    def score(self, pixels: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """CLIP score of each (image, caption) pair: cosine similarity, (N,) in [-1, 1]."""
        if len(prompts) != len(pixels):
            raise ValueError(f"{len(pixels)} images but {len(prompts)} prompts")
        was_training = self.training
        self.eval()
        unique = list(dict.fromkeys(prompts))
        text = self.embed_text(unique)  # (U, E): each distinct prompt encoded once
        rows = torch.tensor([unique.index(p) for p in prompts], device=text.device)
        scores = (self.embed_pixels(pixels) * text[rows]).sum(dim=-1)  # (N,)
        self.train(was_training)
        return scores

    @torch.no_grad()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Zero-shot: images (B, C, H, W) in the data's normalised space -> digit (B,)."""
        text = self.embed_text(zero_shot_prompts(self.num_classes))  # (K, E)
        return (self.backbone.encode_image(images) @ text.t()).argmax(dim=-1)

    # ------------------------------------------------------------------ steps
    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        images, text = batch[0], batch[1]
        logits, loss = self.backbone(images, text)  # (B, B), symmetric InfoNCE
        size = images.shape[0]
        sync = stage != "train"
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size, sync_dist=sync)
        if stage != "train":
            own = torch.arange(size, device=logits.device)
            retrieval = (logits.argmax(dim=-1) == own).float().mean()
            self.log(f"{stage}/retrieval_acc", retrieval, batch_size=size, sync_dist=sync)
            metric = getattr(self, f"{stage}_zero_shot")
            metric.update(self.classify(images), batch[2])
            self.log(f"{stage}/zero_shot_acc", metric, on_step=False, on_epoch=True)
            for key, value in self.spec.baselines.get(stage, {}).items():
                self.log(f"{stage}/baseline_{key}", float(value), batch_size=size, sync_dist=sync)
            self.log(f"{stage}/logit_scale", self.backbone.scale(), batch_size=size)
        return loss
