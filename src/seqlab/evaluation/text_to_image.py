"""Honest evaluation of a text-to-image model with an independent digit classifier.

For every digit, draw images from a plain prompt ("a handwritten seven") and count how many
a classifier trained by seqlab on real MNIST reads as that digit. Two references make the
number mean something: the same score for *random* image tokens decoded by the same VQ-VAE
(the floor), and a memorisation check — the distance from each generated image to its
nearest training image, next to the same distance for held-out test images (a model that
copies its training set draws images much closer to it than new real digits are).

With a ``scorer`` (a CLIP, `seqlab.tasks.contrastive.ContrastiveTask`) and ``candidates`` = N,
the same prompts are drawn again with re-ranking: N candidates each, the one the scorer
matches best with its prompt is kept (`TextToImageTask.generate_images`). Both accuracies are
reported with the seconds each took (the sampling plus, re-ranked, the scoring).

The judge must not be the scorer, or re-ranking would be graded by the model that chose: pass
a classifier trained on the labelled digits (e.g. experiment=lstm_mnist: another family than
the CLIP's ViT, and trained on labels, where the CLIP only saw captions).

Attribute words (``attribute_images_per_digit`` > 0): drawings of "a thin, upright
handwritten <digit>" against "a thick, upright ..." are measured with the captions' own
measurements (`seqlab.data.images.captions.measure_attributes`): the mean stroke width of the
thick ones minus that of the thin ones (> 0: the word moves the stroke the right way); the
same for "a regular, left-leaning ..." against "... right-leaning ..." and the slant.
"""

from __future__ import annotations

import time

import torch

from seqlab.data.images.captions import DIGIT_WORDS, measure_attributes

# (attribute measured, caption with the small value, caption with the large value)
ATTRIBUTE_PROMPTS = (
    ("stroke_width", "a thin, upright handwritten {}", "a thick, upright handwritten {}"),
    ("slant", "a regular, left-leaning handwritten {}", "a regular, right-leaning handwritten {}"),
)


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


def _draw(task, prompts, *, batch: int = 100, **sampling) -> tuple[torch.Tensor, float]:
    """Pixels in [0, 1] of one drawing per prompt, and the seconds it took."""
    start = time.perf_counter()
    drawn = []
    for first in range(0, len(prompts), batch):
        images = task.generate_images(prompts[first : first + batch], **sampling)
        drawn.append(task.to_pixels(images))
    return torch.cat(drawn), time.perf_counter() - start


def _attribute_shifts(task, per_digit: int, seed: int, **sampling) -> dict[str, float]:
    """Mean measured attribute of the "large" captions minus that of the "small" ones."""
    shifts = {}
    for name, small, large in ATTRIBUTE_PROMPTS:
        means = []
        for template in (small, large):
            generator = torch.Generator().manual_seed(seed)
            prompts = [template.format(w) for w in DIGIT_WORDS for _ in range(per_digit)]
            pixels, _ = _draw(task, prompts, generator=generator, **sampling)
            means.append(
                float(measure_attributes(pixels[:, 0].numpy(), max_value=1.0)[name].mean())
            )
        shifts[name] = means[1] - means[0]
    return shifts


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
    scorer=None,
    candidates: int = 1,
    attribute_images_per_digit: int = 0,
    guidance: float | None = None,
) -> dict[str, float]:
    task.eval()
    classifier.eval()
    labels = torch.arange(10).repeat_interleave(per_digit)
    prompts = [f"a handwritten {DIGIT_WORDS[d]}" for d in labels.tolist()]
    sampling = {"temperature": temperature, "top_k": top_k}
    if guidance is None:  # the model's own default (classifier-free guidance if trained for it)
        guidance = float(getattr(task, "default_guidance", 1.0))
    if float(guidance) != 1.0:  # stand-ins without guidance keep working
        sampling["guidance"] = float(guidance)
    generator = torch.Generator().manual_seed(seed)
    generated, seconds = _draw(task, prompts, generator=generator, **sampling)
    tokenizer = task.image_tokenizer
    random_codes = torch.randint(
        0, tokenizer.codebook_size, (len(labels), tokenizer.num_tokens), generator=generator
    )
    random_pixels = task.to_pixels(tokenizer.decode(random_codes))

    train = datamodule.splits["train"].images.float() / 255.0
    test = datamodule.splits["test"].images.float() / 255.0
    generated_nn = _nearest_distance(generated, train)
    test_nn = _nearest_distance(test[: len(generated)], train)
    scores = {
        "t2i/prompt_accuracy": float((_classify(classifier, generated) == labels).float().mean()),
        "t2i/seconds": seconds,
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
        "t2i/guidance": float(guidance),
    }
    reranked = {"candidates": candidates, "scorer": scorer} if scorer is not None else None
    if reranked:
        generator = torch.Generator().manual_seed(seed)
        best, seconds = _draw(
            task,
            prompts,
            batch=max(1, 100 // candidates),
            generator=generator,
            **sampling,
            **reranked,
        )
        scores["t2i/prompt_accuracy_reranked"] = float(
            (_classify(classifier, best) == labels).float().mean()
        )
        scores["t2i/seconds_reranked"] = seconds
        scores["t2i/candidates"] = float(candidates)
        scores["t2i/nearest_train_distance_reranked"] = float(
            _nearest_distance(best, train).median()
        )
    if attribute_images_per_digit:
        for variant, extra in (("", {}), ("_reranked", reranked)):
            if extra is None:
                continue
            shifts = _attribute_shifts(task, attribute_images_per_digit, seed, **sampling, **extra)
            scores[f"t2i/thick_minus_thin_stroke_width{variant}"] = shifts["stroke_width"]
            scores[f"t2i/right_minus_left_slant{variant}"] = shifts["slant"]
    return scores
