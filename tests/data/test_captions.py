"""Captions from pixels: attributes, buckets, templates, and the word tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from seqlab.data.images.captions import (
    DIGIT_WORDS,
    TEMPLATES,
    WordTokenizer,
    attribute_buckets,
    caption_length,
    describe,
    fit_cuts,
    make_captions,
    measure_attributes,
    split_words,
)
from seqlab.errors import SeqlabError


def bar(width: int, size: int = 28) -> np.ndarray:
    img = np.zeros((size, size))
    img[4:24, 14 - width // 2 : 14 - width // 2 + width] = 255  # vertical bar, 20 rows
    return img


def line(shear: float, size: int = 28) -> np.ndarray:
    """A 2-pixel wide line through the centre; x moves shear pixels per row going up."""
    img = np.zeros((size, size))
    for r in range(4, 24):
        c = round(14 + shear * (14 - r))
        img[r, c : c + 2] = 1.0
    return img


def test_thickness_from_stroke_width():
    images = np.stack([bar(1), bar(3), bar(6)])
    attrs = measure_attributes(images)
    assert attrs["stroke_width"][0] < attrs["stroke_width"][1] < attrs["stroke_width"][2]
    assert attrs["stroke_width"][2] == pytest.approx(2 * 120 / (2 * 20 + 2 * 6))
    assert attrs["height"] == pytest.approx([20 / 28] * 3)
    words = describe(attrs, fit_cuts(attrs))
    assert list(words["thickness"]) == ["thin", "regular", "thick"]
    # same image at 0..255 and in [0, 1]
    scaled = measure_attributes(images / 255.0)
    assert np.allclose(scaled["stroke_width"], attrs["stroke_width"])


def test_slant_from_moments():
    images = np.stack([line(0.0), line(0.6), line(-0.6)])
    attrs = measure_attributes(images)
    assert abs(attrs["slant"][0]) < 0.05
    assert attrs["slant"][1] == pytest.approx(0.6, abs=0.1)
    assert attrs["slant"][2] == pytest.approx(-0.6, abs=0.1)
    assert list(describe(attrs, fit_cuts(attrs))["slant"]) == ["upright", "right", "left"]


def test_size_and_per_class_cuts():
    small_box = np.zeros((8, 8))
    small_box[3:5, 3:5] = 16  # 0..16 like scikit-learn's digits
    big_box = np.zeros((8, 8))
    big_box[1:7, 1:7] = 16
    images = np.stack([small_box, big_box, small_box, big_box])
    attrs = measure_attributes(images)
    assert attrs["area"] == pytest.approx([4 / 64, 36 / 64] * 2)
    labels = np.array([1, 1, 7, 7])
    cuts = fit_cuts(attrs, labels)
    assert cuts["area"].shape == (10, 1)
    assert list(describe(attrs, cuts, labels)["size"]) == ["small", "large"] * 2
    assert list(attribute_buckets([0.0, 1.0, 2.0, 3.0], [0.5, 2.5])) == [0, 1, 1, 2]
    empty = measure_attributes(np.zeros((1, 8, 8)))
    assert all(np.isfinite(v).all() and v[0] == 0 for v in empty.values())


def test_captions_name_the_digit_and_vary():
    rng = np.random.default_rng(0)
    images = np.stack([bar(w) for w in (1, 2, 3, 4, 5, 6)] * 10)
    labels = np.arange(60) % 10
    attrs = measure_attributes(images)
    captions = make_captions(labels, attrs, rng)
    assert len(captions) == 60 and len(set(captions)) > 20
    for label, caption in zip(labels, captions, strict=True):
        words = split_words(caption)
        assert DIGIT_WORDS[label] in words or str(label) in words, caption
        assert sum(w in words for w in (*DIGIT_WORDS, *map(str, range(10)))) == 1, caption
        assert "a upright" not in caption and "a eight" not in caption
    assert any(c[-1].isdigit() or any(ch.isdigit() for ch in c) for c in captions)  # numerals
    again = make_captions(labels, attrs, np.random.default_rng(0))
    assert again == captions
    tok = WordTokenizer()
    assert all(not tok.unknown_words(c) for c in captions)
    assert max(len(split_words(c)) for c in captions) <= caption_length(TEMPLATES)


def test_tokenizer_round_trip_and_state():
    tok = WordTokenizer()
    assert tok.vocab[:2] == ["<pad>", "<unk>"] and tok.pad_id == 0
    assert tok.vocab == WordTokenizer().vocab  # deterministic
    ids = tok.encode("A thick, Right-leaning handwritten 7!", 9)
    assert len(ids) == 9 and ids[-3:] == [0, 0, 0]
    assert tok.decode(ids) == "a thick right leaning handwritten 7"
    assert tok.encode("a thick seven", 2) == tok.encode("a thick", 2)  # truncated
    assert tok.encode("a dragon", 3)[1] == tok.unk_id
    restored = WordTokenizer.from_state(tok.to_state())
    assert restored.vocab == tok.vocab
    with pytest.raises(SeqlabError, match="tokenizer state"):
        WordTokenizer.from_state({"vocab": ["a", "b"]})


def test_unknown_prompt_words_list_the_vocabulary():
    tok = WordTokenizer()
    tok.check_prompt("a thin seven, slanted left")
    with pytest.raises(SeqlabError, match=r"prompt: unknown word\(s\) \['dragon'\]") as err:
        tok.check_prompt("a thick dragon")
    assert "known words: 0, 1," in str(err.value) and "seven" in str(err.value)
    with pytest.raises(SeqlabError, match="exceed"):
        tok.check_prompt("a thin seven slanted left", length=3)
