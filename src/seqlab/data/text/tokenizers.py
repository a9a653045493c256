"""Tokenizers for language modelling: characters, or byte-level BPE (HF ``tokenizers``).

Both kinds share one small interface: ``encode(str) -> list[int]``,
``decode(list[int]) -> str``, ``vocab_size``, ``to_state() -> dict`` (JSON-serialisable)
and ``encode_tensor(str) -> torch.LongTensor`` for whole corpora. A checkpoint stores
``to_state()`` and rebuilds the tokenizer with :func:`tokenizer_from_state`, no data needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, Protocol

import torch

from seqlab.errors import SeqlabError

UNK = "<unk>"


class TextTokenizer(Protocol):
    kind: str

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def encode_tensor(self, text: str) -> torch.Tensor: ...

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str: ...

    def to_state(self) -> dict[str, Any]: ...


def _codepoints(text: str) -> torch.Tensor:
    """Unicode code points of ``text`` as an int64 tensor (vectorised, no Python loop)."""
    if not text:
        return torch.zeros(0, dtype=torch.long)
    raw = bytearray(text.encode("utf-32-le"))
    return torch.frombuffer(raw, dtype=torch.int32).long()


def _as_id_list(ids: Sequence[int] | torch.Tensor) -> list[int]:
    if isinstance(ids, torch.Tensor):
        return ids.reshape(-1).tolist()
    return [int(i) for i in ids]


class CharTokenizer:
    """One token per Unicode character; id 0 is ``<unk>`` for characters unseen in fitting."""

    kind = "char"

    def __init__(self, itos: Sequence[str]):
        itos = list(itos)
        if not itos or itos[0] != UNK:
            raise SeqlabError(f"char tokenizer state: itos must start with {UNK!r}; got {itos[:3]}")
        chars = itos[1:]
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise SeqlabError(
                "char tokenizer state: itos[1:] must be distinct single characters; "
                "rebuild the tokenizer with CharTokenizer.fit(text)"
            )
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(itos)}
        # code point -> id lookup table for vectorised encoding; its last entry (one past the
        # largest known code point) is <unk>, where every larger code point is clamped
        cps = torch.tensor([ord(c) for c in chars], dtype=torch.long)
        self._table = torch.zeros(int(cps.max()) + 2 if chars else 1, dtype=torch.long)
        self._table[cps] = torch.arange(1, len(chars) + 1)

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        """Vocabulary = sorted distinct characters of ``text``, after ``<unk>``."""
        return cls([UNK, *sorted(set(text))])

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def unk_id(self) -> int:
        return 0

    def encode_tensor(self, text: str) -> torch.Tensor:
        cps = _codepoints(text)
        return self._table[cps.clamp_(max=self._table.numel() - 1)]

    def encode(self, text: str) -> list[int]:
        return self.encode_tensor(text).tolist()

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        itos = self.itos
        n = len(itos)
        return "".join(itos[i] if 0 <= i < n else UNK for i in _as_id_list(ids))

    def to_state(self) -> dict[str, Any]:
        return {"kind": self.kind, "itos": list(self.itos)}


class BPETokenizer:
    """Byte-level BPE backed by HF ``tokenizers`` (lossless: every string round-trips)."""

    kind = "bpe"

    def __init__(self, tokenizer: Any):
        self._tok = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BPETokenizer:
        """Train offline on ``texts`` (an iterable of lines or documents)."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        alphabet = pre_tokenizers.ByteLevel.alphabet()
        if vocab_size < len(alphabet):
            raise SeqlabError(
                f"data.bpe_vocab_size={vocab_size} is below the {len(alphabet)} byte-level base "
                f"tokens; set data.bpe_vocab_size >= {len(alphabet)} (e.g. 512)"
            )
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=alphabet,
            special_tokens=[],
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @classmethod
    def from_str(cls, json_str: str) -> BPETokenizer:
        from tokenizers import Tokenizer

        try:
            return cls(Tokenizer.from_str(json_str))
        except Exception as e:  # the Rust error type is not importable as a stable class
            raise SeqlabError(
                f"bpe tokenizer state: could not parse the tokenizer JSON ({e}); "
                "retrain it or delete the cached tokenizer in data.cache_dir"
            ) from e

    @property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size())

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text).ids)

    def encode_tensor(self, text: str) -> torch.Tensor:
        """Encode a whole corpus: line by line in a batch (much faster than one huge string)."""
        lines = text.splitlines(keepends=True)
        if not lines:
            return torch.zeros(0, dtype=torch.long)
        encs = self._tok.encode_batch(lines)
        return torch.tensor(list(chain.from_iterable(e.ids for e in encs)), dtype=torch.long)

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        return self._tok.decode(_as_id_list(ids), skip_special_tokens=False)

    def to_str(self) -> str:
        return self._tok.to_str()

    def to_state(self) -> dict[str, Any]:
        return {"kind": self.kind, "json": self._tok.to_str()}


def tokenizer_from_state(state: dict[str, Any]) -> CharTokenizer | BPETokenizer:
    """Rebuild a tokenizer from :meth:`to_state` output (e.g. ``spec.extra["tokenizer"]``)."""
    if not isinstance(state, dict) or "kind" not in state:
        raise SeqlabError(
            "tokenizer state must be a dict with a 'kind' key ('char' or 'bpe'), "
            "as saved in spec.extra['tokenizer']"
        )
    kind = state["kind"]
    if kind == "char":
        if "itos" not in state:
            raise SeqlabError("char tokenizer state is missing 'itos'; re-save the checkpoint")
        return CharTokenizer(state["itos"])
    if kind == "bpe":
        if "json" not in state:
            raise SeqlabError("bpe tokenizer state is missing 'json'; re-save the checkpoint")
        return BPETokenizer.from_str(state["json"])
    raise SeqlabError(f"tokenizer state: unknown kind {kind!r}; expected 'char' or 'bpe'")
