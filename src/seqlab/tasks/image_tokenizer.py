"""Stage 1 of text-to-image: a discrete image autoencoder (VQ-VAE) on real digits.

Loss: reconstruction MSE (in the normalised pixel space the loaders produce) plus the VQ
loss (commitment; the codebook itself follows an EMA of the encoder outputs). Logged:
``recon_mse`` and codebook ``perplexity`` (exp of the entropy of code usage: how many of the
codes are really in use) on train/val/test.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from seqlab.tasks.base import OneStepPerStage, SeqlabTask


class ImageTokenizerTask(OneStepPerStage, SeqlabTask):
    # stage 1 trains on any images, with captions or not
    serves = (("text_to_image", "image_tokenizer"), ("classification", "image_tokenizer"))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        return self.backbone(images)

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        images = batch[0]
        recon, vq_loss, info = self(images)
        mse = F.mse_loss(recon.float(), images.float())
        loss = mse + vq_loss
        size = images.shape[0]
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size, sync_dist=stage != "train")
        self.log(f"{stage}/recon_mse", mse, batch_size=size, sync_dist=stage != "train")
        self.log(
            f"{stage}/perplexity", info["perplexity"], batch_size=size, sync_dist=stage != "train"
        )
        return loss
