"""Checks of a user's table before anything trains on it: never a silent guess.

Dates are parsed with one format for the whole column (detected, or ``data.date_format``);
a column that two formats read differently (03.04.2020: 3 April or 4 March?) is refused.
Numbers must be numbers, prices positive, dates unique per series. Every error names the
file, the column, the first offending row (1-based data row, header excluded) and the fix.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from seqlab.errors import SeqlabError

# Tried in order; ISO first. Formats that read every value are compared with each other.
DATE_FORMATS = (
    "ISO8601",
    "%d.%m.%Y",
    "%m.%d.%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y%m%d",
    "%d.%m.%y",
    "%m/%d/%y",
    # months as statistical software exports them: 1939 Jan, Jan 1939, 1939-Jan
    "%Y %b",
    "%b %Y",
    "%Y-%b",
    "%Y %B",
    "%B %Y",
)
# periods pandas' formats cannot read: quarters (1981 Q1, 1981Q1, 1981-Q1) and ISO weeks
QUARTER = re.compile(r"^(\d{4})\s*-?\s*[Qq]([1-4])$")
ISO_WEEK = re.compile(r"^(\d{4})-?W(\d{2})(?:-?([1-7]))?$")
# a UTC offset at the end of a timestamp with a time of day: 2021-03-28T01:00:00+01:00, ...Z
UTC_OFFSET = re.compile(r"(?<=\d[T ]\d\d:\d\d)(:\d\d(?:\.\d+)?)?(Z|[+-]\d\d:?\d\d)$")


def parse_dates(values: pd.Series, *, where: str, column: str, fmt: str | None = None):
    """``values`` as datetime64 with one format for every row, or a clear error.

    Quarters and ISO weeks become the first day of their period; timestamps that carry UTC
    offsets (which change across daylight saving) are read as their local wall-clock time."""
    text = _periods_as_dates(values.astype(str).str.strip())
    if fmt:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        _no_missing_dates(parsed, text, where, column, f"data.date_format={fmt!r}")
        return parsed
    readings: dict[str, pd.Series] = {}
    for candidate in DATE_FORMATS:
        parsed = pd.to_datetime(text, format=candidate, errors="coerce")
        if not parsed.isna().any():
            readings[candidate] = parsed
    if not readings:
        row = int(
            pd.to_datetime(text, format="ISO8601", errors="coerce").isna().to_numpy().argmax()
        )
        raise SeqlabError(
            f"{where}: column '{column}' has a date no known format reads ({text.iloc[row]!r} at "
            f"data row {row + 1}). Fix: ISO dates (YYYY-MM-DD), or give the format, e.g. "
            "data.date_format='%d.%m.%Y'."
        )
    first_format, first = next(iter(readings.items()))
    for other_format, other in readings.items():
        differs = (first != other).to_numpy()
        if differs.any():
            row = int(differs.argmax())
            raise SeqlabError(
                f"{where}: column '{column}' is ambiguous: {text.iloc[row]!r} (data row {row + 1}) "
                f"reads as {first.iloc[row]:%Y-%m-%d} with {first_format!r} and as "
                f"{other.iloc[row]:%Y-%m-%d} with {other_format!r}. Fix: set "
                f"data.date_format (e.g. data.date_format='{first_format}')."
            )
    return first


def _periods_as_dates(text: pd.Series) -> pd.Series:
    """Quarter and ISO-week labels as ISO dates; UTC offsets dropped (wall-clock time)."""
    if text.empty:
        return text
    quarters = text.str.extract(QUARTER)
    if quarters.notna().all(axis=None):
        months = (quarters[1].astype(int) - 1) * 3 + 1
        return quarters[0] + "-" + months.map("{:02d}".format) + "-01"
    weeks = text.str.extract(ISO_WEEK)
    if weeks[[0, 1]].notna().all(axis=None):
        return pd.Series(
            [
                date.fromisocalendar(
                    int(y), int(w), int(d) if isinstance(d, str) else 1
                ).isoformat()
                for y, w, d in weeks.itertuples(index=False)
            ],
            index=text.index,
        )
    if all(UTC_OFFSET.search(value) for value in text):
        return text.str.replace(UTC_OFFSET, lambda m: m.group(1) or "", regex=True)
    return text


def _no_missing_dates(parsed, text, where: str, column: str, setting: str) -> None:
    if parsed.isna().any():
        row = int(parsed.isna().to_numpy().argmax())
        raise SeqlabError(
            f"{where}: column '{column}' value {text.iloc[row]!r} (data row {row + 1}) does not "
            f"match {setting}. Fix: correct that row or the format."
        )


def require_rows(frame: pd.DataFrame, where: str) -> None:
    if frame.empty:
        raise SeqlabError(
            f"{where}: the file has a header but no data rows. Fix: point at a file with data."
        )


def numeric_columns(frame: pd.DataFrame, columns: list[str], where: str) -> pd.DataFrame:
    """Columns converted to float; a value that is not a number is named with its row."""
    frame = frame.copy()
    for column in columns:
        if column not in frame.columns or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = converted.isna() & frame[column].notna()
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise SeqlabError(
                f"{where}: column '{column}' has a non-numeric value {frame[column].iloc[row]!r} "
                f"at data row {row + 1}. Fix: correct or remove that row."
            )
        frame[column] = converted
    for column in columns:
        if column not in frame.columns:
            continue
        values = frame[column].to_numpy(np.float64)
        infinite = np.isinf(values)
        if infinite.any():
            row = int(infinite.argmax())
            raise SeqlabError(
                f"{where}: column '{column}' has an infinite value ({values[row]:g}) at data row "
                f"{row + 1} ({int(infinite.sum())} such row(s)). Fix: correct or blank those cells "
                "(blanks follow data.missing)."
            )
    return frame


def positive_columns(frame: pd.DataFrame, columns: list[str], where: str) -> None:
    for column in columns:
        if column not in frame.columns:
            continue
        values = frame[column].to_numpy(np.float64)
        bad = ~(values > 0) & ~np.isnan(values)
        if bad.any():
            row = int(bad.argmax())
            raise SeqlabError(
                f"{where}: column '{column}' has a non-positive price {values[row]:g} at data row "
                f"{row + 1} ({int(bad.sum())} such row(s)); log returns need prices > 0. Fix: "
                "correct or remove those rows."
            )


def unique_dates(
    frame: pd.DataFrame, *, where: str, keys: list[str], policy: str = "error"
) -> pd.DataFrame:
    """Duplicate (series, date) rows: refused (``error``) or resolved (``first``/``last``)."""
    duplicated = frame.duplicated(subset=keys, keep=False)
    if not duplicated.any():
        return frame
    if policy in {"first", "last"}:
        return frame.drop_duplicates(subset=keys, keep=policy).reset_index(drop=True)
    if policy != "error":
        raise SeqlabError(
            f"data.duplicate_dates={policy!r} is not known. Fix: error, first or last."
        )
    row = int(duplicated.to_numpy().argmax())
    example: Any = frame.iloc[row][keys[-1]]
    example = f"{example:%Y-%m-%d}" if hasattr(example, "strftime") else example
    raise SeqlabError(
        f"{where}: {int(duplicated.sum())} rows share a date with another row of the same series "
        f"(first: {example} at data row {row + 1}). Fix: remove the duplicates, or keep one "
        "with data.duplicate_dates=first|last."
    )
