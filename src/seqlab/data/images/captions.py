"""Captions for digit images, made from the pixels, and a word-level tokenizer for them.

No offline dataset ships image–caption pairs, so captions are generated: the label plus three
attributes measured from the pixels of each image (vectorised over a batch with numpy):

- thickness: stroke width ≈ 2·area / perimeter of the ink mask (a stroke of width w and length
  l has area w·l and perimeter ≈ 2l), so it does not depend on the digit's shape, unlike ink
  mass alone (an 8 has more ink than a 1 at the same width). Buckets thin / regular / thick.
- size: area of the ink's bounding box as a fraction of the image. Buckets small / large.
- slant: the shear -μ11/μ02 of the second-order central moments (x to the right, y down): the
  horizontal shift per row going up, > 0 when the top leans right. Buckets left / upright /
  right at fixed cuts (±`SLANT_CUT`, about 11°): slant has a geometric meaning.

Thickness and size are relative: their cuts are quantiles of a reference set (`fit_cuts`), per
class when labels are given (a small 0 and a small 1 differ). Fit them on the training split
and reuse them for val/test; `make_captions` fits them on its own batch when none are given.

`make_captions` fills random templates so the text varies ("a thick, right-leaning handwritten
seven", "handwritten digit 7, thin and upright"); `WordTokenizer` has one id per word of the
templates, phrases, digit words and numerals (deterministic order) plus ``<pad>`` and ``<unk>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from seqlab.errors import SeqlabError

__all__ = [
    "DIGIT_WORDS",
    "SLANT_CUT",
    "TEMPLATES",
    "WordTokenizer",
    "attribute_buckets",
    "caption_length",
    "default_vocabulary",
    "describe",
    "fit_cuts",
    "make_captions",
    "measure_attributes",
    "split_words",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
THICKNESS = ("thin", "regular", "thick")
SIZE = ("small", "large")
SLANT = ("left", "upright", "right")
SLANT_CUT = 0.2
# slant as an adjective (before the digit) and as a phrase (after it)
SLANT_ADJ = {"left": ("left-leaning",), "upright": ("upright",), "right": ("right-leaning",)}
SLANT_PHRASE = {
    "left": ("leaning left", "slanted left"),
    "upright": ("upright", "standing straight"),
    "right": ("leaning right", "slanted right"),
}
TEMPLATES = (
    "a {thickness}, {slant_adj} handwritten {digit}",
    "handwritten digit {digit}, {thickness} and {slant_phrase}",
    "a {size} {digit} {slant_phrase}",
    "a {size}, {thickness} {digit}",
    "the number {digit}, {size} and {thickness}",
    "a {digit} drawn with a {thickness} stroke, {slant_phrase}",
    "a {size} {slant_adj} {digit} with {thickness} lines",
    "a {thickness} {digit}, {size} and {slant_phrase}",
)
NUMERAL_PROB = 0.25  # digits written as numerals ("7") instead of words ("seven")


# -----------------------------------------------------------------------------
# attributes


def measure_attributes(
    images: np.ndarray, *, max_value: float | None = None, threshold: float = 0.5
) -> dict[str, np.ndarray]:
    """Attributes of (N, H, W) grey images (ink bright, background 0), each an (N,) array.

    max_value: the pixel value of full ink; None infers it: 1 if every pixel is <= 1, 16 if
    <= 16 (scikit-learn's 8x8 digits), else 255. Ink = pixels above threshold * max_value.

    Returns ink (fraction of ink pixels), stroke_width (pixels), height / width / area (of the
    ink's bounding box, fractions of the image), slant (-μ11/μ02, > 0 = top leans right).
    Empty images get zeros.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W), got {x.shape}")
    if max_value is None:
        top = x.max(initial=0.0)
        max_value = 1.0 if top <= 1.0 else 16.0 if top <= 16.0 else 255.0
    x = x / max_value
    _, H, W = x.shape
    ink = x > threshold  # (N, H, W) bool
    area = ink.sum(axis=(1, 2)).astype(np.float64)
    has_ink = area > 0

    # perimeter: ink/background edges of the mask, padded so the image border counts
    padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    edges = (padded[:, 1:, :] != padded[:, :-1, :]).sum(axis=(1, 2)) + (
        padded[:, :, 1:] != padded[:, :, :-1]
    ).sum(axis=(1, 2))
    stroke_width = np.where(has_ink, 2.0 * area / np.maximum(edges, 1), 0.0)

    def extent(any_ink: np.ndarray) -> np.ndarray:  # (N, L) bool -> (N,) length of the span
        first = any_ink.argmax(axis=1)
        last = any_ink.shape[1] - 1 - any_ink[:, ::-1].argmax(axis=1)
        return np.where(any_ink.any(axis=1), last - first + 1, 0)

    height = extent(ink.any(axis=2)) / H
    width = extent(ink.any(axis=1)) / W

    # central moments of the intensities
    mass = np.maximum(x.sum(axis=(1, 2)), 1e-12)
    ys, xs = np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64)
    cy = (x.sum(axis=2) * ys).sum(axis=1) / mass  # (N,)
    cx = (x.sum(axis=1) * xs).sum(axis=1) / mass
    dy = ys[None, :, None] - cy[:, None, None]  # (N, H, 1)
    dx = xs[None, None, :] - cx[:, None, None]  # (N, 1, W)
    mu11 = (x * dx * dy).sum(axis=(1, 2))
    mu02 = (x * dy * dy).sum(axis=(1, 2))
    # y grows downwards: a top leaning right has x falling as y grows, so mu11 < 0
    slant = np.where(has_ink & (mu02 > 1e-12), -mu11 / np.maximum(mu02, 1e-12), 0.0)

    return {
        "ink": area / (H * W),
        "stroke_width": stroke_width,
        "height": height,
        "width": width,
        "area": height * width,
        "slant": slant,
    }


def attribute_buckets(values: np.ndarray, quantiles: Sequence[float] | np.ndarray) -> np.ndarray:
    """Bucket index of each value: 0 below quantiles[0], k between quantiles[k-1] and
    quantiles[k], len(quantiles) above the last. quantiles: ascending cut points, (K,); or
    per value, (N, K) (e.g. the cuts of each value's class)."""
    values = np.asarray(values, dtype=np.float64)
    cuts = np.asarray(quantiles, dtype=np.float64)
    if cuts.ndim == 1:
        return np.digitize(values, cuts)
    if cuts.shape[0] != values.shape[0]:
        raise ValueError(f"per-value cuts {cuts.shape} do not match {values.shape[0]} values")
    return (values[:, None] >= cuts).sum(axis=1)


# (attribute key, quantile levels); slant has fixed cuts
_FITTED = {"stroke_width": (1 / 3, 2 / 3), "area": (0.5,)}


def fit_cuts(
    attributes: Mapping[str, np.ndarray],
    labels: np.ndarray | None = None,
    *,
    num_classes: int = 10,
) -> dict[str, np.ndarray]:
    """Cut points for `describe` from a reference set (e.g. the training split).

    stroke_width at its 1/3 and 2/3 quantiles (thin / regular / thick), area at its median
    (small / large); with labels, per class: arrays (num_classes, K) instead of (K,) (a class
    absent from labels gets the global cuts). slant gets the fixed cuts ±SLANT_CUT.
    """
    cuts: dict[str, np.ndarray] = {}
    for key, levels in _FITTED.items():
        values = np.asarray(attributes[key], dtype=np.float64)
        overall = np.quantile(values, levels) if len(values) else np.zeros(len(levels))
        if labels is None:
            cuts[key] = overall
            continue
        labels = np.asarray(labels)
        per_class = np.tile(overall, (num_classes, 1))
        for c in range(num_classes):
            if (labels == c).any():
                per_class[c] = np.quantile(values[labels == c], levels)
        cuts[key] = per_class
    cuts["slant"] = np.array([-SLANT_CUT, SLANT_CUT])
    return cuts


def describe(
    attributes: Mapping[str, np.ndarray],
    cuts: Mapping[str, np.ndarray],
    labels: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Attribute words: thickness (thin / regular / thick), size (small / large), slant
    (left / upright / right), each an (N,) array of str. Per-class cuts need labels."""

    def bucket(key: str) -> np.ndarray:
        c = np.asarray(cuts[key])
        if c.ndim == 2:
            if labels is None:
                raise ValueError(f"per-class cuts for {key!r} need labels")
            c = c[np.asarray(labels)]  # (N, K)
        return attribute_buckets(attributes[key], c)

    return {
        "thickness": np.array(THICKNESS)[bucket("stroke_width")],
        "size": np.array(SIZE)[bucket("area")],
        "slant": np.array(SLANT)[bucket("slant")],
    }


# -----------------------------------------------------------------------------
# captions


def _fix_articles(text: str) -> str:
    return re.sub(r"\ba (?=[aeiou8])", "an ", text)


def make_captions(
    labels: Sequence[int] | np.ndarray,
    attributes: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    templates: Sequence[str] = TEMPLATES,
    *,
    cuts: Mapping[str, np.ndarray] | None = None,
    numeral_prob: float = NUMERAL_PROB,
) -> list[str]:
    """One caption per image: a random template filled with the digit (a word, or a numeral
    with numeral_prob) and the image's attribute words (see `describe`; cuts=None fits them,
    per class, on these attributes). Templates use {digit}, {thickness}, {size}, {slant_adj},
    {slant_phrase}."""
    labels = np.asarray(labels, dtype=np.int64)
    if cuts is None:
        cuts = fit_cuts(attributes, labels)
    words = describe(attributes, cuts, labels)
    captions = []
    for i, label in enumerate(labels):
        slant = str(words["slant"][i])
        fields = {
            "digit": str(label) if rng.random() < numeral_prob else DIGIT_WORDS[label],
            "thickness": str(words["thickness"][i]),
            "size": str(words["size"][i]),
            "slant_adj": SLANT_ADJ[slant][rng.integers(len(SLANT_ADJ[slant]))],
            "slant_phrase": SLANT_PHRASE[slant][rng.integers(len(SLANT_PHRASE[slant]))],
        }
        template = templates[rng.integers(len(templates))]
        captions.append(_fix_articles(template.format(**fields)))
    return captions


def split_words(text: str) -> list[str]:
    """Lowercase words: every run of characters other than a-z and 0-9 separates words."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def _field_values() -> dict[str, list[str]]:
    return {
        "digit": [*DIGIT_WORDS, *(str(d) for d in range(10))],
        "thickness": list(THICKNESS),
        "size": list(SIZE),
        "slant_adj": [p for ps in SLANT_ADJ.values() for p in ps],
        "slant_phrase": [p for ps in SLANT_PHRASE.values() for p in ps],
    }


def _template_text(template: str) -> str:
    return re.sub(r"\{[a-z_]+\}", " ", template)


def caption_length(templates: Sequence[str] = TEMPLATES) -> int:
    """Most words a caption from these templates can have (a text_len that never truncates)."""
    longest = {k: max(len(split_words(v)) for v in vs) for k, vs in _field_values().items()}
    return max(
        len(split_words(_template_text(t)))
        + sum(longest[f] for f in re.findall(r"\{([a-z_]+)\}", t))
        for t in templates
    )


def default_vocabulary(templates: Sequence[str] = TEMPLATES) -> list[str]:
    """Every word the templates can produce ("an" included), sorted."""
    words = {"an"}
    for t in templates:
        words.update(split_words(_template_text(t)))
    for values in _field_values().values():
        for v in values:
            words.update(split_words(v))
    return sorted(words)


# -----------------------------------------------------------------------------
# tokenizer


class WordTokenizer:
    """Word-level: one id per known word, ``<pad>`` = 0, ``<unk>`` = 1.

    ``WordTokenizer()`` knows the words of the default templates; pass words to change that.
    """

    PAD = "<pad>"
    UNK = "<unk>"

    def __init__(self, words: Sequence[str] | None = None) -> None:
        words = default_vocabulary() if words is None else list(words)
        known = [w for w in dict.fromkeys(words) if w not in (self.PAD, self.UNK)]
        self.vocab: list[str] = [self.PAD, self.UNK, *known]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.pad_id = 0
        self.unk_id = 1

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in dict.fromkeys(split_words(text)) if w not in self.index]

    def encode(self, text: str, length: int) -> list[int]:
        """Ids of the words of text, truncated or padded with pad_id to length."""
        ids = [self.index.get(w, self.unk_id) for w in split_words(text)][:length]
        return ids + [self.pad_id] * (length - len(ids))

    def decode(self, ids: Sequence[int]) -> str:
        """Words of the ids, space-separated; padding dropped."""
        return " ".join(self.vocab[int(i)] for i in ids if int(i) != self.pad_id)

    def check_prompt(self, text: str, length: int | None = None) -> None:
        """SeqlabError when text has words outside the vocabulary (or more than length)."""
        unknown = self.unknown_words(text)
        if unknown:
            known = ", ".join(self.vocab[2:])
            raise SeqlabError(
                f"prompt: unknown word(s) {unknown}; known words: {known}. "
                "Fix: rephrase the prompt with known words."
            )
        n = len(split_words(text))
        if length is not None and n > length:
            raise SeqlabError(
                f"prompt: {n} words exceed the model's text length ({length}). "
                f"Fix: shorten the prompt to at most {length} words."
            )

    def to_state(self) -> dict[str, list[str]]:
        return {"vocab": list(self.vocab)}

    @classmethod
    def from_state(cls, state: Mapping[str, Sequence[str]]) -> WordTokenizer:
        vocab = list(state["vocab"])
        if vocab[:2] != [cls.PAD, cls.UNK]:
            raise SeqlabError(
                f"tokenizer state: vocab must start with {cls.PAD!r}, {cls.UNK!r}, got "
                f"{vocab[:2]}. Fix: save it with WordTokenizer.to_state()."
            )
        return cls(vocab[2:])

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size})"
