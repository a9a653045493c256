"""Labels and class probabilities for new series: a ``.ts`` file or a long-format CSV.

What the model was trained on travels in its ``DataSpec``: the channel count
(``num_features``), the class names, the per-channel standardisation of the training part
(``extra.channel_mean``/``channel_std``) and the shortest training series. A new file is read,
checked against it (channels, columns, numbers, lengths), standardised the same way and
classified in batches of similar length (right-padded, with their lengths: padding never
changes a result, `seqlab.nn.contract`).

Long-format CSV: one row per (series, step): ``data.id_column`` names the series,
``data.time_column`` (optional) orders the steps, ``data.value_columns`` are the channels in
the model's order (needed when there are several and the checkpoint has no channel names);
an optional ``data.label_column`` is carried into the output as ``true_label``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from seqlab.data.series.lengths import pad, resample
from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.prediction.batches import class_probabilities, long_table

log = logging.getLogger(__name__)


@dataclass
class NewSeries:
    """Series read from a file: ids, values (T_i, C) float64 each, labels if the file has them."""

    ids: list[str]
    values: list[np.ndarray]
    labels: list[str] | None


# ---------------------------------------------------------------------- reading .ts files
def read_ts(path: Path, channels: int) -> NewSeries:
    """An archive-format ``.ts`` file, labelled or not (``@classLabel false``).

    Each data line is ``c1 values:c2 values:...[:label]``; a line with another number of
    channels than the model reads is refused (naming the line)."""
    labelled: bool | None = None
    in_data = False
    ids, values, labels = [], [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            words = line.lower().split()
            if words[0] == "@classlabel" and len(words) > 1:
                labelled = words[1] == "true"
            in_data = words[0] == "@data"
            continue
        fields = line.split(":")
        has_label = labelled if labelled is not None else len(fields) == channels + 1
        parts = fields[:-1] if has_label else fields
        if len(parts) != channels:
            raise SeqlabError(
                f"data.path: '{path}' line {number} has {len(parts)} channel(s); the model was "
                f"trained on {channels}. Fix: series with {channels} channel(s) (one "
                "':'-separated field each), or a checkpoint trained on this data."
            )
        try:
            series = np.stack([np.array([float(v) for v in p.split(",")]) for p in parts], axis=1)
        except ValueError as err:
            raise SeqlabError(
                f"data.path: '{path}' line {number} is not numeric ({err}). Fix: numbers "
                "only, no missing values ('?', 'NaN')."
            ) from err
        except Exception as err:  # np.stack: channels of different lengths
            raise SeqlabError(
                f"data.path: '{path}' line {number} has channels of different lengths. Fix: "
                "the same number of steps in every channel of a series."
            ) from err
        ids.append(str(len(ids)))
        values.append(series)  # (T_i, C)
        if has_label:
            labels.append(fields[-1].strip())
    if not values:
        raise SeqlabError(f"data.path: '{path}' has no @data section with series.")
    return NewSeries(ids, values, labels if len(labels) == len(values) else None)


# ---------------------------------------------------------------------- reading long CSVs
def _column(frame: pd.DataFrame, name: Any, field: str, path: Path) -> str:
    if name not in frame.columns:
        raise SeqlabError(
            f"data.path: '{path}' has no column {name!r} ({field}); its columns are "
            f"{list(frame.columns)}. Fix: {field}=<one of them>."
        )
    return str(name)


def _value_columns(frame: pd.DataFrame, cfg: Any, taken: list[str], spec: DataSpec, path: Path):
    """The channel columns, in the model's channel order, or a refusal."""
    channels = spec.num_features
    asked = cfg.get("value_columns")
    if asked:
        columns = [asked] if isinstance(asked, str) else [str(c) for c in asked]
        for name in columns:
            _column(frame, name, "data.value_columns", path)
    elif spec.feature_names:
        missing = [c for c in spec.feature_names if c not in frame.columns]
        if missing:
            raise SeqlabError(
                f"data.path: '{path}' lacks the channel column(s) {missing} the model was "
                f"trained on ({list(spec.feature_names)}). Fix: add them, or name the columns "
                "with data.value_columns=[...] in that order."
            )
        columns = list(spec.feature_names)
    else:
        columns = [c for c in frame.columns if c not in taken]
        if len(columns) > 1 and len(columns) == channels:
            raise SeqlabError(
                f"data.path: '{path}' has {len(columns)} value columns {columns} and the "
                "checkpoint has no channel names to match them by. Fix: "
                f"data.value_columns=[...] listing them in the training's channel order."
            )
    if len(columns) != channels:
        raise SeqlabError(
            f"data.path: '{path}' has {len(columns)} value column(s) {columns}; the model was "
            f"trained on {channels} channel(s). Fix: data.value_columns=[...] with "
            f"{channels} column(s) (other columns: data.id_column, data.time_column, "
            "data.label_column)."
        )
    return columns


def _numeric(frame: pd.DataFrame, columns: list[str], path: Path) -> np.ndarray:
    """The value columns as float64 (rows, C); any non-number or empty cell is refused."""
    values = frame[columns].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(np.float64, na_value=0.0))
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        cell = frame[columns[col]].iloc[row]
        what = "empty (a missing value)" if pd.isna(cell) else f"{str(cell)!r}, not a number"
        raise SeqlabError(
            f"data.path: '{path}' row {row + 2} column {columns[col]!r} is {what} "
            f"({int(bad.sum())} such cell(s)). Fix: numbers only, no missing values "
            "(fill or drop them before predicting)."
        )
    return values.to_numpy(np.float64)


def _order_key(column: pd.Series, name: str, path: Path) -> pd.Series:
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().all():
        return numbers
    try:
        return pd.to_datetime(column, format="ISO8601")
    except (ValueError, TypeError) as err:
        raise SeqlabError(
            f"data.path: '{path}' column {name!r} (data.time_column) is neither numbers nor "
            f"ISO dates ({err}). Fix: step numbers or YYYY-MM-DD[ HH:MM:SS] times."
        ) from err


def read_long_csv(path: Path, cfg: Any, spec: DataSpec) -> NewSeries:
    """One row per (series, step) -> the series, each in time order."""
    try:
        frame = pd.read_csv(path)
    except Exception as err:
        raise SeqlabError(f"data.path: '{path}' is not a readable CSV ({err}).") from err
    id_col = _column(frame, cfg.get("id_column") or "series", "data.id_column", path)
    taken = [id_col]
    time_col = cfg.get("time_column")
    if time_col:
        taken.append(_column(frame, time_col, "data.time_column", path))
    label_col = cfg.get("label_column")
    if label_col:
        taken.append(_column(frame, label_col, "data.label_column", path))
    columns = _value_columns(frame, cfg, taken, spec, path)
    values = _numeric(frame, columns, path)  # (rows, C)
    keys = frame[id_col].astype(str)
    order = pd.DataFrame({"id": keys, "row": np.arange(len(frame))})
    if time_col:
        order["time"] = _order_key(frame[time_col], str(time_col), path)
        duplicated = order.duplicated(["id", "time"])
        if duplicated.any():
            row = int(np.flatnonzero(duplicated.to_numpy())[0])
            raise SeqlabError(
                f"data.path: '{path}' row {row + 2}: series {keys.iloc[row]!r} has two rows at "
                f"{time_col}={frame[time_col].iloc[row]}. Fix: one row per series and step."
            )
        order = order.sort_values(["time", "row"], kind="stable")
    ids, series, labels = [], [], []
    # series in order of first appearance, steps in time (or file) order
    for key, rows in order.groupby("id", sort=False)["row"]:
        rows = rows.to_numpy()
        ids.append(str(key))
        series.append(values[rows])  # (T_i, C)
        if label_col:
            found = frame[label_col].iloc[rows].astype(str).unique()
            if len(found) > 1:
                raise SeqlabError(
                    f"data.path: '{path}' series {key!r} has several labels {list(found)} in "
                    f"{label_col!r}. Fix: one label per series."
                )
            labels.append(found[0])
    return NewSeries(ids, series, labels if label_col else None)


# ---------------------------------------------------------------------- checks and prediction
def read_new_series(cfg: Any, spec: DataSpec) -> NewSeries:
    """``data.path`` (a .ts file or a long-format .csv) as series (T_i, C)."""
    data = cfg.get("data") or {}
    if not data.get("path"):
        raise SeqlabError("data.path is not set. Fix: data.path=<new .ts or long-format .csv>")
    path = Path(str(data["path"])).expanduser()
    if not path.is_file():
        raise SeqlabError(f"data.path: '{path}' does not exist. Fix: a .ts or .csv file.")
    if path.suffix.lower() == ".ts":
        return read_ts(path, spec.num_features)
    if path.suffix.lower() == ".csv":
        return read_long_csv(path, data, spec)
    raise SeqlabError(
        f"data.path: '{path}' is neither .ts nor .csv. Fix: an archive-format .ts file or a "
        "long-format CSV (one row per series and step)."
    )


def stats(spec: DataSpec, ckpt_path: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The training's per-channel mean and std, from the checkpoint's spec."""
    mean, std = spec.extra.get("channel_mean"), spec.extra.get("channel_std")
    if mean is None or std is None:
        raise SeqlabError(
            f"ckpt_path: '{ckpt_path}' stores no channel statistics (trained before seqlab "
            "recorded them, or on data that has none). Fix: train it again with this seqlab."
        )
    return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)


def check_lengths(new: NewSeries, spec: DataSpec, backbone: Any, min_length: int | None) -> None:
    """Refuse series shorter than the training's shortest (unless ``min_length`` says) or
    longer than the model reads (learned positions)."""
    shortest = int(min_length or spec.extra.get("train_min_length") or 1)
    lengths = np.array([len(v) for v in new.values])
    short = np.flatnonzero(lengths < max(shortest, 1))
    if len(short):
        i = int(short[0])
        raise SeqlabError(
            f"data.path: series {new.ids[i]!r} has {lengths[i]} step(s) ({len(short)} series "
            f"shorter than {shortest}, the shortest the model was trained on). Fix: drop them, "
            f"or accept shorter ones with min_length=<steps> (at least 1)."
        )
    max_len = getattr(backbone, "max_len", None)
    if max_len and lengths.max() > max_len:
        i = int(lengths.argmax())
        raise SeqlabError(
            f"data.path: series {new.ids[i]!r} has {lengths[i]} steps; the model reads at most "
            f"{max_len} (model.backbone.max_len). Fix: cut the series to their last {max_len} "
            "steps, or train with a larger max_len."
        )


def length_batches(values: list[np.ndarray], order: np.ndarray, batch_size: int):
    """(x (B, T_max, C) float32 right-padded, lengths (B,)) in ``order`` (longest first)."""
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        lengths = torch.tensor([len(values[i]) for i in chosen])
        x = torch.zeros(len(chosen), int(lengths.max()), values[chosen[0]].shape[1])
        for row, i in enumerate(chosen):
            x[row, : len(values[i])] = torch.from_numpy(values[i])
        yield x, lengths


def probabilities(task: Any, values: list[np.ndarray], batch_size: int = 512) -> np.ndarray:
    """(N, K) class probabilities of standardised series (T_i, C) float32, in input order.

    Batches group series of similar length (longest first), so padding stays small."""
    order = np.argsort([-len(v) for v in values], kind="stable")
    probs = class_probabilities(task, length_batches(values, order, batch_size))
    out = np.empty_like(probs)
    out[order] = probs
    return out


def predict(task: Any, spec: DataSpec, cfg: Any) -> pd.DataFrame:
    """The long table (series, predicted, class, probability[, true_label])."""
    mean, std = stats(spec, str(cfg.get("ckpt_path") or ""))
    new = read_new_series(cfg, spec)
    backbone = getattr(task.backbone, "_orig_mod", task.backbone)
    # trained on series brought to one length (data.resample / data.pad): new ones too
    length, padded_to = spec.extra.get("resample"), spec.extra.get("pad")
    if not (length or padded_to):  # (resampled or padded series may have any length)
        check_lengths(new, spec, backbone, cfg.get("min_length"))
    values = [resample(v, int(length)) for v in new.values] if length else new.values
    scaled = [(v - mean) / std for v in values]
    if padded_to:
        scaled = [pad(v, int(padded_to)) for v in scaled]
    scaled = [v.astype(np.float32) for v in scaled]
    probs = probabilities(task, scaled, int(cfg.get("batch_size") or 512))
    log.info("%d series classified (%d classes)", len(new.ids), len(spec.class_names))
    return long_table("series", new.ids, probs, spec.class_names, new.labels)
