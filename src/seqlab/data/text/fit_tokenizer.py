"""Fitting the text tokenizer (characters or byte-level BPE) on the train split, with an
optional on-disk cache of trained BPE merges keyed by the train text and vocabulary size."""

from __future__ import annotations

import hashlib
from pathlib import Path

from seqlab.data.text.tokenizers import BPETokenizer, CharTokenizer
from seqlab.errors import SeqlabError
from seqlab.utils.files import atomic_write_text

TOKENIZER_KINDS = ("char", "bpe")
BPE_MIN_VOCAB = 256  # byte-level alphabet
CACHE_FORMAT = 1


def fit_tokenizer(
    kind: str, train_text: str, *, bpe_vocab_size: int, cache_dir: str | None = None
) -> CharTokenizer | BPETokenizer:
    """A ``kind`` tokenizer fitted on ``train_text``; BPE is read from / written to
    ``cache_dir`` when given (a corrupt cache entry is retrained and overwritten)."""
    if kind == "char":
        return CharTokenizer.fit(train_text)
    cache_file = bpe_cache_file(train_text, bpe_vocab_size, cache_dir)
    if cache_file is not None and cache_file.is_file():
        try:
            return BPETokenizer.from_str(cache_file.read_text(encoding="utf-8"))
        except SeqlabError:
            pass  # corrupt cache entry: retrain and overwrite
    tok = BPETokenizer.train(train_text.splitlines(keepends=True), bpe_vocab_size)
    if cache_file is not None:
        atomic_write_text(cache_file, tok.to_str())
    return tok


def bpe_cache_file(train_text: str, bpe_vocab_size: int, cache_dir: str | None) -> Path | None:
    """Where the BPE trained on ``train_text`` is cached (``None`` without a cache dir)."""
    if cache_dir is None:
        return None
    import tokenizers

    h = hashlib.sha256()
    h.update(f"bpe|v{CACHE_FORMAT}|{tokenizers.__version__}|{bpe_vocab_size}|".encode())
    h.update(train_text.encode("utf-8"))
    return Path(cache_dir).expanduser() / f"bpe-{h.hexdigest()[:24]}.json"
