"""Shakespeare language-modelling datamodule: corpus, tokenizers, windows, baselines, errors."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import json
import math
from itertools import pairwise

import pytest
import torch

from seqlab.data.spec import DataSpec
from seqlab.data.text import (
    ShakespeareDataModule,
    TokenWindows,
    clean_play_markdown,
    load_corpus,
    ngram_baselines,
)
from seqlab.data.tokenizers import BPETokenizer, CharTokenizer, tokenizer_from_state
from seqlab.errors import SeqlabError

MAX_CHARS = 200_000
BLOCK = 64


def _split_text(text: str, train_frac: float = 0.9, val_frac: float = 0.05) -> list[str]:
    n = len(text)
    a, b = int(n * train_frac), int(n * (train_frac + val_frac))
    return [text[:a], text[a:b], text[b:]]


@pytest.fixture(scope="module")
def char_dm() -> ShakespeareDataModule:
    dm = ShakespeareDataModule(max_chars=MAX_CHARS, block_size=BLOCK, batch_size=8)
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def bpe_dm(tmp_path_factory) -> ShakespeareDataModule:
    cache = tmp_path_factory.mktemp("bpe_cache")
    dm = ShakespeareDataModule(
        max_chars=MAX_CHARS, tokenizer="bpe", bpe_vocab_size=400, block_size=BLOCK,
        batch_size=4, cache_dir=str(cache),
    )  # fmt: skip
    dm.setup("fit")
    return dm


# -- corpus ------------------------------------------------------------------------------


def test_corpus_loads_from_package_as_plain_text():
    text = load_corpus()
    assert len(text) > 1_000_000
    assert "ROMEO" in text and "\nROMEO:\n" in text
    for artefact in ("**", "\\[", "\\-", "## ", "_Enter", "&amp;"):
        assert artefact not in text, artefact
    assert "*" not in text and "_" not in text and "#" not in text


def test_clean_play_markdown_strips_markup():
    md = (
        "# Romeo and Juliet\n\n## ACT I\n\n### SCENE I. Verona.\n\n"
        "_Enter SAMPSON and GREGORY, of the house of Capulet, armed with swords and\n"
        "bucklers_\n\n**SAMPSON**  \nGregory, o' my word,  \nwe'll not carry coals.\n\n\n\n"
        "**GREGORY**  \n__\\[Aside]_  \nNo,'\\--for then *[Draws.]* & c. &amp; more\n"
    )
    assert clean_play_markdown(md) == (
        "Romeo and Juliet\n\nACT I\n\nSCENE I. Verona.\n\n"
        "Enter SAMPSON and GREGORY, of the house of Capulet, armed with swords and\n"
        "bucklers\n\nSAMPSON:\nGregory, o' my word,\nwe'll not carry coals.\n\n"
        "GREGORY:\n[Aside]\nNo,'--for then [Draws.] & c. & more\n"
    )


def test_play_and_genre_selection():
    macbeth = load_corpus(plays=["macbeth"])
    assert macbeth.startswith("Macbeth\n") and "MACBETH:" in macbeth
    roman = load_corpus(genres=["roman"], max_chars=50_000)
    assert len(roman) == 50_000
    assert roman.startswith("Antony and Cleopatra")  # genre, then play stem order


# -- tokenizers --------------------------------------------------------------------------


def test_char_tokenizer_roundtrips_train_text_and_maps_unseen_to_unk(char_dm):
    train_text, _, _ = _split_text(load_corpus(max_chars=MAX_CHARS))
    tok = char_dm.tokenizer
    assert isinstance(tok, CharTokenizer)
    assert tok.decode(char_dm.train_tokens) == train_text
    assert tok.decode(tok.encode(train_text[:500])) == train_text[:500]
    assert tok.encode("Ω") == [tok.unk_id] and tok.itos[tok.unk_id] == "<unk>"
    assert set(tok.itos[1:]) == set(train_text)  # vocab from train only


def test_char_tokenizer_from_state_is_identical(char_dm):
    state = char_dm.spec.extra["tokenizer"]
    assert state["kind"] == "char"
    rebuilt = tokenizer_from_state(json.loads(json.dumps(state)))
    assert isinstance(rebuilt, CharTokenizer)
    assert rebuilt.itos == char_dm.tokenizer.itos
    sample = "ROMEO:\nBut soft! what light through yonder window breaks? Ω"
    assert rebuilt.encode(sample) == char_dm.tokenizer.encode(sample)


def test_bpe_roundtrip_state_and_cache(bpe_dm, monkeypatch):
    tok = bpe_dm.tokenizer
    assert isinstance(tok, BPETokenizer)
    assert bpe_dm.spec.vocab_size == tok.vocab_size == 400
    sample = "ROMEO:\nBut soft! what light through yonder window breaks?\n  Ω — café\n"
    ids = tok.encode(sample)
    assert len(ids) < len(sample)  # merges were learned
    assert tok.decode(ids) == sample
    assert torch.equal(tok.encode_tensor(sample), torch.tensor(tok.encode(sample)))

    state = json.loads(json.dumps(bpe_dm.spec.extra["tokenizer"]))
    rebuilt = tokenizer_from_state(state)
    assert isinstance(rebuilt, BPETokenizer)
    assert rebuilt.to_str() == tok.to_str()
    assert rebuilt.encode(sample) == ids

    cached = list(os.scandir(bpe_dm.cache_dir))
    assert len(cached) == 1 and cached[0].name.endswith(".json")

    def no_training(*args, **kwargs):
        raise AssertionError("the cached tokenizer should have been reused")

    monkeypatch.setattr(BPETokenizer, "train", no_training)
    again = ShakespeareDataModule(**{**bpe_dm.hparams, "block_size": 32})
    assert again.spec.extra["tokenizer"] == bpe_dm.spec.extra["tokenizer"]
    assert torch.equal(again.val_tokens, bpe_dm.val_tokens)


def test_tokenizer_from_state_rejects_garbage():
    with pytest.raises(SeqlabError, match="kind"):
        tokenizer_from_state({"itos": ["a"]})
    with pytest.raises(SeqlabError, match="unknown kind"):
        tokenizer_from_state({"kind": "wordpiece"})


# -- windows and splits ------------------------------------------------------------------


def test_splits_are_contiguous_and_cover_the_stream(char_dm):
    text = load_corpus(max_chars=MAX_CHARS)
    stream = char_dm.tokenizer.encode_tensor(text)
    parts = (char_dm.train_tokens, char_dm.val_tokens, char_dm.test_tokens)
    assert all(p.dtype == torch.long and p.dim() == 1 for p in parts)
    assert sum(p.numel() for p in parts) == stream.numel() == len(text)
    assert torch.equal(torch.cat(parts), stream)
    assert char_dm.spec.extra["num_tokens"] == {
        "train": parts[0].numel(),
        "val": parts[1].numel(),
        "test": parts[2].numel(),
    }


def test_batches_are_shifted_windows(char_dm):
    x, y = next(iter(char_dm.train_dataloader()))
    assert x.shape == y.shape == (8, BLOCK) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])

    val = char_dm.val_tokens
    loader = char_dm.val_dataloader()
    assert len(loader.dataset) == (val.numel() - 1) // BLOCK
    vx, vy = next(iter(loader))
    for i in range(vx.shape[0]):  # non-overlapping and in order
        assert torch.equal(vx[i], val[i * BLOCK : (i + 1) * BLOCK])
        assert torch.equal(vy[i], val[i * BLOCK + 1 : (i + 1) * BLOCK + 1])
    again = next(iter(char_dm.val_dataloader()))
    assert torch.equal(again[0], vx)
    tx, _ = next(iter(char_dm.test_dataloader()))
    assert torch.equal(tx[0], char_dm.test_tokens[:BLOCK])


def test_train_epoch_covers_train_stream_once(char_dm):
    ds = char_dm.train_dataloader().dataset
    n = char_dm.train_tokens.numel()
    assert len(ds) == (n - 1) // BLOCK
    starts = torch.arange(len(ds)) * BLOCK
    assert starts[-1] + BLOCK + 1 <= n and n - (starts[-1] + BLOCK) < BLOCK + 1


def test_random_windows_are_seeded():
    tokens = torch.arange(1000)
    ds = TokenWindows(tokens, 10, stride=1)
    assert len(ds) == 990 and torch.equal(ds[-1][1], tokens[-10:])
    with pytest.raises(IndexError):
        ds[990]
    kw = dict(max_chars=20_000, block_size=16, batch_size=5, train_samples_per_epoch=20, seed=3)
    dm = ShakespeareDataModule(**kw)
    loader = dm.train_dataloader()
    assert len(loader.sampler) == 20 and len(loader) == 4
    first = torch.cat([x for x, _ in loader])
    second = torch.cat([x for x, _ in loader])
    assert first.shape == (20, 16) and not torch.equal(first, second)  # new draw each epoch
    replay = torch.cat([x for x, _ in ShakespeareDataModule(**kw).train_dataloader()])
    assert torch.equal(first, replay)


# -- spec and baselines ------------------------------------------------------------------


def test_spec_and_baselines(char_dm):
    spec = char_dm.spec
    assert spec.task == "language_modeling" and spec.seq_len == BLOCK
    assert spec.vocab_size == char_dm.tokenizer.vocab_size
    assert DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    for split in ("val", "test"):
        uni = spec.extra[f"baseline_unigram_nll_{split}"]
        bi = spec.extra[f"baseline_bigram_nll_{split}"]
        assert 0 < bi < uni < math.log(spec.vocab_size), (split, bi, uni)


def test_ngram_baselines_match_bruteforce():
    train = torch.tensor([0, 1, 2, 1, 2, 0, 1, 1, 2])
    target = torch.tensor([1, 2, 0, 0, 2, 1])
    v = 4  # token 3 never appears: smoothing must still give finite costs
    uni, bi = ngram_baselines(train, target, v)
    t, g = train.tolist(), target.tolist()
    exp_uni = -sum(math.log((t.count(b) + 1) / (len(t) + v)) for b in g[1:]) / (len(g) - 1)
    pairs = list(pairwise(t))
    exp_bi = -sum(
        math.log((pairs.count((a, b)) + 1) / (t[:-1].count(a) + v)) for a, b in pairwise(g)
    ) / (len(g) - 1)
    assert uni == pytest.approx(exp_uni) and bi == pytest.approx(exp_bi)


# -- user text and bad inputs ------------------------------------------------------------


def test_user_text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog.\n" * 200, encoding="utf-8")
    dm = ShakespeareDataModule(text_path=str(path), block_size=32, batch_size=4)
    assert dm.spec.extra["source"] == str(path)
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (4, 32) and torch.equal(x[:, 1:], y[:, :-1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text_path": "/nonexistent/corpus.txt"}, r"data\.text_path.*not found"),
        ({"plays": ["hamlet", "the-sopranos"]}, r"data\.plays.*the-sopranos.*available:.*macbeth"),
        ({"genres": ["westerns"]}, r"data\.genres.*westerns.*tragedies"),
        ({"max_chars": 20_000, "block_size": 5_000}, r"data\.block_size=5000.*val split \(1000"),
        ({"text_path": "a.txt", "plays": ["hamlet"]}, r"data\.text_path.*data\.plays"),
        ({"tokenizer": "words"}, r"data\.tokenizer"),
        ({"tokenizer": "bpe", "bpe_vocab_size": 100}, r"data\.bpe_vocab_size"),
        ({"train_frac": 0.9, "val_frac": 0.1}, r"data\.train_frac"),
        ({"block_size": 0}, r"data\.block_size"),
    ],
)
def test_bad_inputs_raise_seqlab_error(kwargs, match):
    with pytest.raises(SeqlabError, match=match):
        dm = ShakespeareDataModule(**kwargs)
        dm.prepare_data()
        dm.setup("fit")
