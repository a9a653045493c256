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
from seqlab.data.text.datamodule import (
    ShakespeareDataModule,
    StatefulBatches,
    TokenWindows,
    assign_plays_to_splits,
    char_budget,
    clean_play_markdown,
    load_corpus,
    ngram_baselines,
    play_texts,
    select_plays,
)
from seqlab.data.text.tokenizers import BPETokenizer, CharTokenizer, tokenizer_from_state
from seqlab.errors import SeqlabError

MAX_CHARS = 200_000
BLOCK = 64


SPLITS = ("train", "val", "test")


def _expected_parts(dm: ShakespeareDataModule) -> dict[str, str]:
    """Text of each split, rebuilt from the play assignment and the max_chars budget."""
    docs = dict(play_texts())
    cap = char_budget(dm.max_chars, dm.train_frac, dm.val_frac)
    return {k: "\n".join(docs[p] for p in dm.split_plays[k])[: cap[k]] for k in SPLITS}


@pytest.fixture(scope="module")
def char_dm() -> ShakespeareDataModule:
    dm = ShakespeareDataModule(max_chars=MAX_CHARS, block_size=BLOCK, batch_size=8, ngram_order=4)
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def bpe_dm(tmp_path_factory) -> ShakespeareDataModule:
    cache = tmp_path_factory.mktemp("bpe_cache")
    dm = ShakespeareDataModule(
        max_chars=MAX_CHARS, tokenizer="bpe", bpe_vocab_size=400, block_size=BLOCK,
        batch_size=4, cache_dir=str(cache), ngram_order=0,
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
    train_text = _expected_parts(char_dm)["train"]
    tok = char_dm.tokenizer
    assert isinstance(tok, CharTokenizer)
    assert tok.decode(char_dm.train_tokens) == train_text
    assert tok.decode(tok.encode(train_text[:500])) == train_text[:500]
    assert tok.encode("Ω") == [tok.unk_id] and tok.itos[tok.unk_id] == "<unk>"
    assert set(tok.itos[1:]) == set(train_text)  # vocab from train only


def test_char_tokenizer_encodes_any_text_like_a_dict_lookup():
    tok = CharTokenizer.fit("hello, wörld\n")
    text = "héllo wörld ☃ 😀 \x00 zz\n" * 3  # unseen characters below, between and above
    assert tok.encode(text) == [tok.stoi.get(c, tok.unk_id) for c in text]
    assert CharTokenizer.fit("").encode("ab") == [0, 0]  # an empty vocabulary: all <unk>
    assert tok.encode_tensor("").shape == (0,)


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

    cached = [e for e in os.scandir(bpe_dm.cache_dir) if e.name.startswith("bpe-")]
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


def test_splits_are_disjoint_whole_plays(char_dm):
    split = char_dm.split_plays
    assert char_dm.spec.extra["split_plays"] == split
    all_plays = [stem for stem, _, _ in select_plays()]
    assert all(split[k] for k in SPLITS)  # each split has at least one play
    assert sorted(p for k in SPLITS for p in split[k]) == sorted(
        all_plays
    )  # no play twice, none lost
    # max_chars only caps each split: the assignment is the one of the full corpus.
    lengths = [(stem, len(text)) for stem, text in play_texts()]
    assert split == assign_plays_to_splits(lengths, 0.9, 0.05, seed=0)
    total = sum(n for _, n in lengths)
    for k in ("val", "test"):  # whole plays, near the 5% targets
        chars = sum(n for stem, n in lengths if stem in split[k])
        assert 0.025 < chars / total < 0.085, (k, chars / total)
    # Each split's stream is its own plays' text (capped), encoded separately.
    expected = _expected_parts(char_dm)
    parts = {k: getattr(char_dm, f"{k}_tokens") for k in SPLITS}
    for k in SPLITS:
        assert parts[k].dtype == torch.long and parts[k].dim() == 1
        assert torch.equal(parts[k], char_dm.tokenizer.encode_tensor(expected[k])), k
    assert sum(len(t) for t in expected.values()) == MAX_CHARS == char_dm.spec.extra["num_chars"]
    assert char_dm.spec.extra["num_tokens"] == {k: parts[k].numel() for k in SPLITS}


def test_play_assignment_is_seeded_and_greedy():
    lengths = [(f"p{i}", 100 + 10 * i) for i in range(20)]
    a = assign_plays_to_splits(lengths, 0.8, 0.1, seed=1)
    assert a == assign_plays_to_splits(lengths, 0.8, 0.1, seed=1)
    assert a != assign_plays_to_splits(lengths, 0.8, 0.1, seed=2)
    size = dict(lengths)
    total = sum(size.values())
    for k in ("val", "test"):
        assert abs(sum(size[p] for p in a[k]) - 0.1 * total) <= max(size.values()) / 2
    assert a["train"] == [p for p, _ in lengths if p in a["train"]]  # corpus order
    # Three plays: one each, even when a fraction would want more.
    three = assign_plays_to_splits([("a", 10), ("b", 10), ("c", 10)], 0.2, 0.6, seed=0)
    assert sorted(len(v) for v in three.values()) == [1, 1, 1]
    with pytest.raises(SeqlabError, match=r"at least 3 plays.*data\.path"):
        assign_plays_to_splits([("a", 10), ("b", 10)])


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


def test_train_epoch_draws_about_one_pass_of_random_windows(char_dm):
    loader = char_dm.train_dataloader()
    n = char_dm.train_tokens.numel()
    assert len(loader.sampler) == n // BLOCK and len(loader.dataset) == n - BLOCK
    starts = torch.tensor(list(loader.sampler))
    assert (starts % BLOCK != 0).any()  # random offsets, not a fixed grid
    assert starts.max() + BLOCK + 1 <= n
    x, y = next(iter(loader))
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_random_windows_are_seeded():
    tokens = torch.arange(1000)
    ds = TokenWindows(tokens, 10, stride=1)
    assert len(ds) == 990 and torch.equal(ds[-1][1], tokens[-10:])
    with pytest.raises(IndexError):
        ds[990]
    kw = dict(max_chars=20_000, block_size=16, batch_size=5, train_samples_per_epoch=20, seed=3)
    torch.manual_seed(7)  # the run's seed (seed_everything) decides the window order
    dm = ShakespeareDataModule(**kw)
    loader = dm.train_dataloader()
    assert len(loader.sampler) == 20 and len(loader) == 4
    first = torch.cat([x for x, _ in loader])
    loader.sampler.set_epoch(1)  # Lightning does this before every epoch
    second = torch.cat([x for x, _ in loader])
    assert first.shape == (20, 16) and not torch.equal(first, second)  # new draw each epoch
    torch.manual_seed(7)
    replay = torch.cat([x for x, _ in ShakespeareDataModule(**kw).train_dataloader()])
    assert torch.equal(first, replay)


# -- stateful (contiguous) batches ------------------------------------------------------


def _check_stateful_layout(loader, stream: torch.Tensor, rows: int, block: int) -> None:
    batches = list(loader)
    row_len = (stream.numel() - 1) // rows
    assert len(batches) == row_len // block > 1
    for x, y in batches:
        assert x.shape == y.shape == (rows, block) and x.dtype == torch.long
        assert torch.equal(x[:, 1:], y[:, :-1])
    for (_, y0), (x1, _) in pairwise(batches):
        # row b of batch i+1 continues row b of batch i: its first input is the last target
        assert torch.equal(x1[:, 0], y0[:, -1])
    xs = torch.cat([x for x, _ in batches], dim=1)
    ys = torch.cat([y for _, y in batches], dim=1)
    for b in range(rows):  # each row is one contiguous piece of the stream
        start = b * row_len
        assert torch.equal(xs[b], stream[start : start + xs.shape[1]])
        assert torch.equal(ys[b], stream[start + 1 : start + 1 + xs.shape[1]])
    again = [x for x, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(again, (x for x, _ in batches), strict=True))


def test_stateful_batches_carry_rows_across_batches():
    dm = ShakespeareDataModule(
        max_chars=40_000, block_size=16, batch_size=4, stateful=True, ngram_order=0
    )
    assert dm.spec.extra["stateful"] is True
    _check_stateful_layout(dm.train_dataloader(), dm.train_tokens, 4, 16)
    _check_stateful_layout(dm.val_dataloader(), dm.val_tokens, 4, 16)
    _check_stateful_layout(dm.test_dataloader(), dm.test_tokens, 4, 16)


def test_stateful_batches_dataset_drops_ragged_tail():
    ds = StatefulBatches(torch.arange(103), batch_size=3, block_size=10)
    assert ds.row_len == 34 and len(ds) == 3  # 102 usable inputs (+1 target) -> 3 x 34
    x, y = ds[1]
    assert torch.equal(x[2], torch.arange(78, 88)) and torch.equal(y[2], torch.arange(79, 89))
    with pytest.raises(IndexError):
        ds[3]


# -- spec and baselines ------------------------------------------------------------------


def test_spec_and_baselines(char_dm):
    spec = char_dm.spec
    assert spec.task == "language_modeling" and spec.seq_len == BLOCK
    assert spec.vocab_size == char_dm.tokenizer.vocab_size
    assert DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    for split in ("val", "test"):
        uni = spec.baselines[split]["unigram_nll"]
        bi = spec.baselines[split]["bigram_nll"]
        ngram = spec.baselines[split]["ngram_nll"]
        assert 0 < ngram < bi - 0.3 < uni < math.log(spec.vocab_size), (split, ngram, bi, uni)
    assert spec.extra["baseline_ngram_order"] == 4


def test_ngram_baseline_can_be_disabled(bpe_dm):
    extra, baselines = bpe_dm.spec.extra, bpe_dm.spec.baselines
    assert extra["baseline_ngram_order"] == 0
    assert "ngram_nll" not in baselines["val"] and "ngram_nll" not in baselines["test"]
    assert baselines["val"]["bigram_nll"] > 0


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


def test_user_text_file_is_split_contiguously(tmp_path):
    path = tmp_path / "corpus.txt"
    text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(200))
    path.write_text(text, encoding="utf-8")
    dm = ShakespeareDataModule(path=str(path), block_size=32, batch_size=4, ngram_order=3)
    assert dm.spec.extra["source"] == str(path)
    assert dm.split_plays is None and dm.spec.extra["split_plays"] is None
    n = len(text)
    a, b = int(n * 0.9), int(n * 0.95)
    parts = (dm.train_tokens, dm.val_tokens, dm.test_tokens)
    assert [dm.decode(p) for p in parts] == [text[:a], text[a:b], text[b:]]
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (4, 32) and torch.equal(x[:, 1:], y[:, :-1])
    old_name = ShakespeareDataModule(text_path=str(path), block_size=32, ngram_order=0)
    old_name.setup()
    assert old_name.path == str(path) and torch.equal(old_name.val_tokens, dm.val_tokens)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"path": "/nonexistent/corpus.txt"}, r"data\.path.*not found"),
        ({"text_path": "/nonexistent/corpus.txt"}, r"data\.path.*not found"),
        ({"path": "a.txt", "text_path": "b.txt"}, r"data\.path.*data\.text_path.*disagree"),
        ({"plays": ["hamlet", "macbeth"]}, r"at least 3 plays.*data\.path"),
        ({"plays": ["hamlet", "the-sopranos"]}, r"data\.plays.*the-sopranos.*available:.*macbeth"),
        ({"genres": ["westerns"]}, r"data\.genres.*westerns.*tragedies"),
        ({"max_chars": 20_000, "block_size": 5_000}, r"data\.block_size=5000.*val split \(1000"),
        ({"path": "a.txt", "plays": ["hamlet"]}, r"data\.path.*data\.plays"),
        ({"tokenizer": "words"}, r"data\.tokenizer"),
        ({"tokenizer": "bpe", "bpe_vocab_size": 100}, r"data\.bpe_vocab_size"),
        ({"train_frac": 0.9, "val_frac": 0.1}, r"data\.train_frac"),
        ({"block_size": 0}, r"data\.block_size"),
        (
            {"max_chars": 20_000, "block_size": 64, "batch_size": 32, "stateful": True},
            r"data\.block_size=64.*val split.*data\.stateful=true.*batch_size \* block_size",
        ),
        ({"stateful": True, "train_samples_per_epoch": 10}, r"data\.train_samples_per_epoch"),
        ({"ngram_order": -1}, r"data\.ngram_order"),
    ],
)
def test_bad_inputs_raise_seqlab_error(kwargs, match):
    with pytest.raises(SeqlabError, match=match):
        dm = ShakespeareDataModule(**kwargs)
        dm.prepare_data()
        dm.setup("fit")


def test_hub_text_offline_fails_fast_with_the_alternative(monkeypatch):
    import time

    from seqlab.data.text.datamodule import ShakespeareDataModule

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dm = ShakespeareDataModule(hub_dataset="karpathy/tiny_shakespeare")
    start = time.monotonic()
    with pytest.raises(
        SeqlabError, match=r"data.hub_dataset='karpathy/tiny_shakespeare'.*data=shakespeare"
    ):
        dm.setup()
    assert time.monotonic() - start < 5


def test_public_names_stay_importable_from_seqlab_data_text():
    """The helpers live in ``seqlab.data.text.*`` modules; this module re-exports them."""
    import seqlab.data.text.datamodule as text

    missing = [name for name in text.__all__ if not hasattr(text, name)]
    assert not missing
    assert (
        text.ShakespeareDataModule.__module__ == "seqlab.data.text.datamodule"
    )  # configs target it


@pytest.mark.parametrize(
    ("cls", "args", "what"), [(TokenWindows, (3, 1), "window"), (StatefulBatches, (2, 3), "batch")]
)
def test_datasets_index_like_sequences(cls, args, what):
    ds = cls(torch.arange(20), *args)
    assert torch.equal(ds[-1][0], ds[len(ds) - 1][0])
    with pytest.raises(IndexError, match=rf"{what} {len(ds)} out of range for {len(ds)} {what}"):
        ds[len(ds)]
    with pytest.raises(IndexError, match=rf"{what} -{len(ds) + 1} out of range"):
        ds[-len(ds) - 1]


def test_a_utf8_bom_is_not_a_vocabulary_character(tmp_path):
    path = tmp_path / "bom.txt"
    text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(200))
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # as Windows Notepad saves it
    dm = ShakespeareDataModule(path=str(path), block_size=32, batch_size=4, ngram_order=0)
    dm.setup()
    assert "\ufeff" not in dm.tokenizer.decode(list(range(dm.spec.vocab_size)))
    assert dm.decode(dm.train_tokens).startswith("line 0: the quick")


def test_a_latin1_file_is_refused_in_one_line_naming_the_byte(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Où est le café? Il est là.\n".encode("latin-1") * 50)
    with pytest.raises(SeqlabError) as err:
        ShakespeareDataModule(path=str(path), ngram_order=0).setup()
    text = str(err.value)
    assert "\n" not in text and f"data.path={str(path)!r} is not valid UTF-8" in text
    assert "at byte 1" in text and "Fix:" in text and "latin-1" in text
