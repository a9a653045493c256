"""The raw text corpus: a user's UTF-8 text file (checked) or the chosen plays."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from seqlab.data.text.plays import load_plays
from seqlab.errors import SeqlabError

# NUL and other C0 controls that never occur in text (tab, newline, CR, form feed excepted)
BINARY_MARKERS = tuple(chr(c) for c in range(32) if chr(c) not in "\t\n\r\x0b\x0c")


def read_text_file(path: str | os.PathLike[str]) -> str:
    """The text of a user's file (``data.path``), refused with a fix if missing, empty, not
    UTF-8 or binary."""
    resolved = Path(path).expanduser()
    name = f"data.path={str(path)!r}"
    if not resolved.is_file():
        raise SeqlabError(
            f"{name}: file not found (resolved to {resolved.resolve()}); "
            "point it at an existing UTF-8 text file, or set data.path=null for Shakespeare"
        )
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not a character of the text
        text = resolved.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise SeqlabError(
            f"{name} is not valid UTF-8 ({e.reason} at byte {e.start}). Fix: re-save the file "
            "as UTF-8 (from latin-1: `iconv -f latin1 -t utf-8 in.txt > out.txt`)"
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
    path = resolve_path(path, text_path)
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


def resolve_path(path: str | None, text_path: str | None) -> str | None:
    if path is not None and text_path is not None and str(path) != str(text_path):
        raise SeqlabError(
            f"data.path={str(path)!r} and its old alias data.text_path={str(text_path)!r} "
            "disagree; set only data.path"
        )
    chosen = path if path is not None else text_path
    return None if chosen is None else str(chosen)
