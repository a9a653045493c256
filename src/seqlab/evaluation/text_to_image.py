"""Honest evaluation of a text-to-image model with an independent digit classifier.

For every digit, draw images from a plain prompt ("a handwritten seven") and count how many
a classifier trained by seqlab on real MNIST reads as that digit. Two references make the
number mean something: the same score for *random* image tokens decoded by the same VQ-VAE
(the floor), and a memorisation check — the distance from each generated image to its
nearest training image, next to the same distance for held-out test images (a model that
copies its training set draws images much closer to it than new real digits are).
"""

from __future__ import annotations

import torch

from seqlab.data.images.captions import DIGIT_WORDS


def _classify(classifier, pixels: torch.Tensor) -> torch.Tensor:
    """pixels (N, C, H, W) in [0, 1] -> predicted class (N,), in the classifier's own scale."""
    mean = torch.tensor(classifier.spec.extra["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(classifier.spec.extra["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        return classifier((pixels * 255.0 - mean) / std).argmax(dim=-1)


def _nearest_distance(queries: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per query, the L2 distance (pixels in [0, 1]) to its nearest reference image."""
    q, r = queries.flatten(1).double(), reference.flatten(1).double()
    return torch.cdist(q, r).min(dim=1).values


@torch.no_grad()
def evaluate_text_to_image(
    task,
    classifier,
    datamodule,
    *,
    per_digit: int = 50,
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> dict[str, float]:
    task.eval()
    classifier.eval()
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(10).repeat_interleave(per_digit)
    prompts = [f"a handwritten {DIGIT_WORDS[d]}" for d in labels.tolist()]
    drawn = []
    for start in range(0, len(prompts), 100):
        images = task.generate_images(
            prompts[start : start + 100], temperature=temperature, top_k=top_k, generator=generator
        )
        drawn.append(task.to_pixels(images))
    generated = torch.cat(drawn)
    tokenizer = task.image_tokenizer
    random_codes = torch.randint(
        0, tokenizer.codebook_size, (len(labels), tokenizer.num_tokens), generator=generator
    )
    random_pixels = task.to_pixels(tokenizer.decode(random_codes))

    train = datamodule.splits["train"].images.float() / 255.0
    test = datamodule.splits["test"].images.float() / 255.0
    generated_nn = _nearest_distance(generated, train)
    test_nn = _nearest_distance(test[: len(generated)], train)
    return {
        "t2i/prompt_accuracy": float((_classify(classifier, generated) == labels).float().mean()),
        "t2i/random_tokens_accuracy": float(
            (_classify(classifier, random_pixels) == labels).float().mean()
        ),
        "t2i/classifier_accuracy_real_test": float(
            (_classify(classifier, test) == datamodule.splits["test"].labels).float().mean()
        ),
        "t2i/nearest_train_distance_generated": float(generated_nn.median()),
        "t2i/nearest_train_distance_real_test": float(test_nn.median()),
        "t2i/images": float(len(labels)),
        "t2i/temperature": float(temperature),
    }
