"""A user's time-series table -> clean, regular series, or one clear error.

Input: a CSV or Parquet file (or a pandas DataFrame from Python) in long format: a time
column, one or more value columns, optionally a group column naming the series (per-store
sales, per-sensor readings). Every problem a careful user would want to hear about is either
refused with the column and the fix, or handled as configured and reported at start:

- the time column: missing, unparseable, ambiguous (one format per column, or
  ``data.date_format``), unsorted or duplicated within a series;
- value columns: missing, non-numeric, entirely empty;
- gaps and missing values (``data.missing``): ``refuse`` (the default), ``ffill``,
  ``interpolate`` (linear) or ``drop`` (rows with a missing value are removed, so windows
  may span the gap); gaps are read against the series' frequency (``data.frequency``, or
  inferred with pandas when absent);
- blanks before a series' first target value and after its last are not gaps: the series
  starts late or stops early (a panel's ragged edges), and is trimmed to what was observed;
- time written as statistical software exports it: quarters (``1981 Q1``), months
  (``1939 Jan``), ISO weeks (``2020-W05``), ``YYYYMMDD`` integers, stamps with UTC offsets
  (read as wall-clock time); ``inf`` and row counters as targets are refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqlab.data.hf import is_hf_source
from seqlab.data.series.table_checks import numeric_columns, parse_dates, require_rows
from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)
MISSING = ("refuse", "ffill", "interpolate", "drop")


@dataclass
class SeriesTable:
    """Regular series: group name -> frame indexed 0..n-1 with ``time`` and value columns."""

    series: dict[str, pd.DataFrame]
    columns: list[str]
    frequency: str | None
    report: list[str] = field(default_factory=list)


def read_frame(path: str | Path | None, frame: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    if frame is not None:
        return frame.copy(), "the DataFrame"
    if path is None:
        raise SeqlabError(
            "data.path is not set. Fix: data.path=my_series.csv (CSV or Parquet), or a preset "
            "such as data=sunspots."
        )
    if is_hf_source(path):  # a save_to_disk folder, .arrow files, hf:<hub name>
        return _hf_frame(str(path)), str(path)
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise SeqlabError(
            f"data.path: file '{path}' does not exist. Fix: point it at a CSV or Parquet file."
        )
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pd.read_parquet(path), str(path)
        return pd.read_csv(path), str(path)
    except Exception as err:  # parser errors, encodings, empty files
        raise SeqlabError(
            f"data.path: '{path}' is not a readable table ({type(err).__name__}: {err}). Fix: "
            "export it as CSV with a header row, or as Parquet."
        ) from err


def _hf_frame(source: str) -> pd.DataFrame:
    """A ``datasets`` source with one split as a DataFrame (seqlab makes its own splits)."""
    from seqlab.data.hf import load_hf

    loaded = load_hf(source, field="data.path")
    if len(loaded) > 1:
        raise SeqlabError(
            f"data.path={source!r} has the splits {list(loaded)}; a forecasting table is one "
            "long table that seqlab splits per series itself. Fix: concatenate them (or keep "
            "one) and save that."
        )
    return next(iter(loaded.values())).to_pandas()


def load_series(
    frame: pd.DataFrame,
    *,
    where: str,
    time_column: str,
    columns: list[str],
    group_column: str | None = None,
    frequency: str | None = None,
    date_format: str | None = None,
    missing: str = "refuse",
    targets: list[str] | None = None,
) -> SeriesTable:
    frame.columns = [str(c).strip() for c in frame.columns]
    require_rows(frame, where)
    needed = [time_column, *columns, *([group_column] if group_column else [])]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise SeqlabError(
            f"{where}: missing column(s) {absent} (found: {', '.join(frame.columns)}). Fix: "
            "set data.time_column / data.target / data.features / data.group_column to "
            "columns of the file."
        )
    if missing not in MISSING:
        raise SeqlabError(f"data.missing={missing!r} is not known. Fix: one of {list(MISSING)}.")
    frame = frame[needed].copy()
    frame = numeric_columns(frame, columns, where)
    for column in columns:
        if frame[column].isna().all():
            raise SeqlabError(
                f"{where}: column '{column}' has no values at all. Fix: choose another "
                "data.target / data.features column."
            )
    frame["time"] = _time_axis(frame[time_column], where, time_column, date_format)
    groups = frame[group_column].astype(str) if group_column else pd.Series("series", frame.index)
    report: list[str] = []
    series: dict[str, pd.DataFrame] = {}
    inferred: str | None = frequency
    unobserved: list[str] = []
    for name, rows in frame.groupby(groups, sort=True):
        label = f"{where}, series {name!r}" if group_column else where
        rows = _observed_span(rows.reset_index(drop=True), targets or columns)
        if rows.empty:
            unobserved.append(str(name))
            continue
        _check_order(rows, label, time_column)
        rows, freq = _regular(rows, label, frequency, columns)
        inferred = inferred or freq
        rows, notes = _fill(rows, label, columns, missing)
        report += notes
        series[str(name)] = rows[["time", *columns]].reset_index(drop=True)
    if unobserved:
        report.append(f"{where}: {series_names(unobserved)} have no target value at all: left out")
    if not series:
        raise SeqlabError(
            f"{where}: no series has a value in {targets or columns}. Fix: check data.target."
        )
    _refuse_row_counters(series, targets or columns, where)
    return SeriesTable(series=series, columns=list(columns), frequency=inferred, report=report)


def series_names(names: list[str], shown: int = 5) -> str:
    """'3 series (a, b, c)' or '40 series (a, b, c, d, e, …)'."""
    more = ", …" if len(names) > shown else ""
    return f"{len(names)} series ({', '.join(names[:shown])}{more})"


def _time_axis(times: pd.Series, where: str, column: str, date_format: str | None) -> pd.Series:
    """Dates (any one format, quarters, months, weeks, YYYYMMDD integers) or a numeric axis."""
    if pd.api.types.is_numeric_dtype(times) and not date_format:
        if _looks_like_yyyymmdd(times):
            text = times.astype("Int64").astype(str)
            return parse_dates(text, where=where, column=column, fmt="%Y%m%d")
        return times.astype(float)  # years, step counts: a numeric time axis
    text = times.astype("Int64").astype(str) if pd.api.types.is_numeric_dtype(times) else times
    return parse_dates(text, where=where, column=column, fmt=date_format)


def _looks_like_yyyymmdd(times: pd.Series) -> bool:
    values = times.dropna().to_numpy(np.float64)
    if not len(values) or (values != np.round(values)).any():
        return False
    if not ((values >= 1000_01_01) & (values <= 9999_12_31)).all():
        return False
    parsed = pd.to_datetime(values.astype(np.int64).astype(str), format="%Y%m%d", errors="coerce")
    return not parsed.isna().any()


def _observed_span(rows: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
    """Rows from the first to the last observed target value: blanks before a series starts
    and after it ends mean "not observed (yet / any more)", not gaps."""
    seen = rows[targets].notna().any(axis=1).to_numpy()
    if not seen.any():
        return rows.iloc[:0]
    first, last = int(seen.argmax()), len(seen) - int(seen[::-1].argmax())
    return rows.iloc[first:last].reset_index(drop=True)


def _refuse_row_counters(series: dict[str, pd.DataFrame], targets: list[str], where: str) -> None:
    """A target that counts up by exactly 1 every step in every series is a row number or an
    ID column, not something to forecast."""
    for column in targets:
        steps = [np.diff(frame[column].to_numpy(np.float64)) for frame in series.values()]
        steps = [d for d in steps if len(d)]
        if steps and sum(len(d) for d in steps) >= 3 and all((d == 1).all() for d in steps):
            raise SeqlabError(
                f"{where}: column '{column}' counts up by exactly 1 at every step (a row number "
                "or an ID, not a measurement). Fix: set data.target to the column to forecast."
            )


def _check_order(rows: pd.DataFrame, label: str, time_column: str) -> None:
    time = rows["time"]
    duplicated = time.duplicated(keep=False)
    if duplicated.any():
        first = int(duplicated.to_numpy().argmax())
        raise SeqlabError(
            f"{label}: column '{time_column}' repeats {time.iloc[first]} ({int(duplicated.sum())} "
            "rows share a time). Fix: one row per time (per data.group_column), e.g. aggregate "
            "the duplicates before training."
        )
    backwards = (
        time.diff() < pd.Timedelta(0) if _is_datetime(time) else time.diff() < 0
    ).to_numpy()
    if backwards.any():
        row = int(backwards.argmax())
        raise SeqlabError(
            f"{label}: column '{time_column}' is not sorted ({time.iloc[row]} comes after "
            f"{time.iloc[row - 1]} at data row {row + 1}). Fix: sort the file by time "
            "(within each series)."
        )


def _is_datetime(values: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(values)


def _regular(
    rows: pd.DataFrame, label: str, frequency: str | None, columns: list[str]
) -> tuple[pd.DataFrame, str | None]:
    """Rows on a regular time grid: absent times become rows of missing values."""
    if not _is_datetime(rows["time"]):
        steps = np.diff(rows["time"].to_numpy())
        step = float(np.median(steps)) if len(steps) else 1.0
        grid = np.arange(rows["time"].iloc[0], rows["time"].iloc[-1] + step / 2, step)
        if len(grid) == len(rows):
            return rows, None
        full = pd.DataFrame({"time": grid})
        return full.merge(rows, on="time", how="left"), None
    freq = frequency or (pd.infer_freq(rows["time"]) if len(rows) >= 3 else None)
    if freq is None:
        freq = _dominant_frequency(rows["time"])
    if freq is None:
        raise SeqlabError(
            f"{label}: cannot tell the frequency of the time column. Fix: set "
            "data.frequency (a pandas alias such as D, W-SUN, MS, QS, YS)."
        )
    try:
        grid = pd.date_range(rows["time"].iloc[0], rows["time"].iloc[-1], freq=freq)
    except ValueError as err:
        raise SeqlabError(f"data.frequency={freq!r} is not a pandas frequency ({err}).") from err
    if len(grid) == len(rows) and (grid == rows["time"]).all():
        return rows, freq
    off_grid = ~rows["time"].isin(grid)
    if off_grid.any():
        row = int(off_grid.to_numpy().argmax())
        raise SeqlabError(
            f"{label}: time {rows['time'].iloc[row]} (data row {row + 1}) is not on the "
            f"{freq!r} grid the other rows follow. Fix: correct it, or set data.frequency."
        )
    return pd.DataFrame({"time": grid}).merge(rows, on="time", how="left"), freq


def _dominant_frequency(times: pd.Series) -> str | None:
    """The frequency most gaps follow (a series with holes defeats pd.infer_freq)."""
    step = times.diff().dropna().mode()
    if step.empty:
        return None
    days = step.iloc[0] / pd.Timedelta(days=1)
    if days in (1, 7):
        return "D" if days == 1 else pd.infer_freq(times.iloc[:3])
    if 28 <= days <= 31:
        return "MS" if (times.dt.day == 1).all() else "ME"
    if 365 <= days <= 366:
        return "YS" if (times.dt.dayofyear == 1).all() else "YE"
    return pd.tseries.frequencies.to_offset(step.iloc[0]).freqstr


def _fill(
    rows: pd.DataFrame, label: str, columns: list[str], missing: str
) -> tuple[pd.DataFrame, list[str]]:
    holes = rows[columns].isna()
    count = int(holes.any(axis=1).sum())
    if not count:
        return rows, []
    if missing == "refuse":
        row = int(holes.any(axis=1).to_numpy().argmax())
        column = holes.iloc[row][holes.iloc[row]].index[0]
        raise SeqlabError(
            f"{label}: {count} time step(s) have no value (gaps or empty cells; first: column "
            f"'{column}' at {rows['time'].iloc[row]}). Fix: data.missing=interpolate, ffill or "
            "drop, or fill them in the file."
        )
    if missing == "drop":
        rows = rows[~holes.any(axis=1)]
    elif missing == "ffill":
        rows = rows.assign(**{c: rows[c].ffill().bfill() for c in columns})
    else:
        rows = rows.assign(**{c: rows[c].interpolate(limit_direction="both") for c in columns})
    note = f"{label}: {count} missing time step(s) handled by data.missing={missing}"
    log.info("%s", note)
    return rows.reset_index(drop=True), [note]


def describe(table: SeriesTable) -> dict[str, Any]:
    lengths = [len(s) for s in table.series.values()]
    return {
        "series": len(lengths),
        "steps": int(sum(lengths)),
        "shortest": int(min(lengths)),
        "frequency": table.frequency,
    }
