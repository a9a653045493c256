"""Reader for the UCR/UEA archive's ``.ts`` format: labelled series, one per ``@data`` line.

What is read: ``c1 values:c2 values:...:label`` lines (comma-separated numbers per channel,
channels separated by ``:``, the class label last), of equal or varying length, under a
header with ``@classLabel true``. What is refused, in one line with the fix: missing values
(``?``; seqlab does not guess them), NaN/inf, lines without a label, the timestamped variant
(``@timestamps true``, ``(t,v)`` pairs) and the regression variant (``@targetlabel true``,
float targets: classifying them would invent one class per distinct number).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from seqlab.errors import SeqlabError


def _header(lines: list[tuple[int, str]], path: Path) -> dict[str, str]:
    """``@key value`` lines before ``@data`` -> {key (lower case): value}."""
    header = {}
    for _, line in lines:
        key, _, value = line[1:].partition(" ")
        header[key.lower()] = value.strip()
    if header.get("timestamps", "false").lower() == "true":
        raise SeqlabError(
            f"{path}: the timestamped .ts variant (@timestamps true) is not read. Fix: write "
            "each channel as comma-separated values without timestamps (equally spaced steps)."
        )
    if header.get("targetlabel", "false").lower() == "true":
        raise SeqlabError(
            f"{path}: @targetlabel true marks a regression set (float targets); seqlab's "
            "data=ucr classifies series. Fix: a classification file (@classLabel true ...)."
        )
    if header.get("classlabel", "true").split()[:1] == ["false"]:
        raise SeqlabError(
            f"{path}: @classLabel false: the series carry no class labels. Fix: a labelled "
            "file (@classLabel true <labels>, each line ending in :label)."
        )
    return header


def _decoded(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of non-empty lines; comments may be in any encoding."""
    lines = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if raw.lstrip().startswith((b"#", b"%")):
            continue  # free-text comments: often latin-1 in the wild, never read
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError as err:
            raise SeqlabError(
                f"{path}: line {number} is not UTF-8 ({err.reason} at byte {err.start}). "
                "Fix: re-save the file as UTF-8."
            ) from err
        if text:
            lines.append((number, text))
    return lines


def _channel(text: str, path: Path, number: int, channel: int) -> np.ndarray:
    where = f"{path}: line {number}, channel {channel}"
    values = text.split(",")
    if "?" in (v.strip() for v in values):
        raise SeqlabError(
            f"{where} has missing values ('?'). Fix: fill them (e.g. linear interpolation) or "
            "drop the series before training; seqlab does not guess them."
        )
    try:
        floats = [float(v) for v in values]
    except ValueError as err:
        raise SeqlabError(
            f"{where} is not numeric ({err}). Fix: comma-separated numbers per channel."
        ) from err
    if not all(math.isfinite(v) for v in floats):
        raise SeqlabError(
            f"{where}: a value is not finite (NaN or inf). Fix: fill or drop it before training."
        )
    return np.array(floats)


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """A ``.ts`` file -> ([series (T_i, C)], [label])."""
    path = Path(path)
    lines = _decoded(path)
    start = next((k for k, (_, line) in enumerate(lines) if line.lower() == "@data"), None)
    if start is None:
        raise SeqlabError(f"{path}: no @data section with series. Fix: a .ts file.")
    _header([(n, line) for n, line in lines[:start] if line.startswith("@")], path)
    series, labels = [], []
    for number, line in lines[start + 1 :]:
        if line.startswith("("):
            raise SeqlabError(
                f"{path}: line {number} holds (timestamp,value) pairs: the timestamped .ts "
                "variant is not read. Fix: comma-separated values per channel, no timestamps."
            )
        *channels, label = line.split(":")
        if not channels or "," in label:
            raise SeqlabError(
                f"{path}: line {number} has no class label. Fix: end each line with :label."
            )
        values = [_channel(c, path, number, k) for k, c in enumerate(channels, start=1)]
        if len({len(v) for v in values}) != 1:
            raise SeqlabError(
                f"{path}: line {number} has channels of different lengths "
                f"{[len(v) for v in values]}. Fix: one length per series across its channels."
            )
        series.append(np.stack(values, axis=1))  # (T_i, C)
        labels.append(label.strip())
    if not series:
        raise SeqlabError(f"{path}: no series after @data. Fix: one labelled series per line.")
    return series, labels
