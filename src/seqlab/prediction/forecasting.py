"""Forecasts past the end of every series of a new file, from a ``data=series`` checkpoint alone.

The file is read exactly as training read its own (`seqlab.data.series.table.load_series`:
the same column names, date parsing, ragged edges, gap policy, checks), then for each series the
last ``data.window`` values (fewer, repeated on the left, down to what a window needs at
least) are put in model units the way training did (target transform, then the scaler: the
series' own statistics, the stored global ones, or none), forecast, and mapped back to the
data's own units. Timestamps continue the series in the training data's frequency.

Output, long format: ``series, [target,] time, step, forecast`` and ``lo, hi`` (95%) when the
model has intervals. Series too short for one window are named in one line and skipped; a file
with another frequency, missing columns or non-numeric values is refused in one line.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch

from seqlab.data.series.table import load_series, read_frame, series_names
from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)


def _setting(cfg: Any, key: str, stored: Any) -> Any:
    """A data.<key> given on the command line, else what training used."""
    data = cfg.get("data") or {}
    value = data.get(key) if hasattr(data, "get") else None
    return stored if value is None else value


def predict(task: Any, spec: DataSpec, cfg: Any) -> pd.DataFrame:
    extra = spec.extra
    table_info = extra.get("table")
    if not table_info:
        raise SeqlabError(
            f"ckpt_path: '{cfg.get('ckpt_path')}' forecasts price returns (data=stocks): predict.py "
            "forecasts checkpoints of data=series. Fix: train with data=series data.path=<prices>."
        )
    targets = list(extra["target"])
    features = list(table_info.get("features") or [])
    frame, where = read_frame(str(cfg.data.path), None)
    table = load_series(
        frame,
        where=where,
        time_column=_setting(cfg, "time_column", table_info["time_column"]),
        columns=[*targets, *features],
        group_column=_setting(cfg, "id_column", table_info["group_column"]),
        frequency=None,  # read as it is, then compared with training's
        date_format=table_info.get("date_format"),
        missing=table_info.get("missing", "refuse"),
        targets=targets,
    )
    _same_frequency(table.frequency, extra.get("frequency"), where)
    for note in table.report:
        log.info("%s", note)
    rows = [_prepared(name, s, spec) for name, s in table.series.items()]
    ready = [r for r in rows if r is not None]
    short = [name for name, r in zip(table.series, rows, strict=True) if r is None]
    if short:
        log.warning(
            "%s shorter than a window needs (%d steps): skipped",
            series_names(short),
            table_info["min_inputs"] + (1 if extra.get("transform") == "diff" else 0),
        )
    if not ready:
        raise SeqlabError(
            f"{where}: every series is shorter than a window needs "
            f"({table_info['min_inputs']} steps). Fix: longer series."
        )
    return _forecast(task, spec, ready, int(cfg.get("batch_size") or 512))


def _same_frequency(found: str | None, trained: str | None, where: str) -> None:
    if found and trained and found != trained:
        raise SeqlabError(
            f"{where}: the series are {found!r} but the model was trained on {trained!r} data. "
            "Fix: resample the file to the training frequency, or train on this one."
        )


def _prepared(name: str, frame: pd.DataFrame, spec: DataSpec) -> dict | None:
    """The last window of one series in model units, and how to map forecasts back."""
    extra, info = spec.extra, spec.extra["table"]
    targets, n = list(extra["target"]), len(extra["target"])
    columns = [*targets, *(info.get("features") or [])]
    values = frame[columns].to_numpy(np.float64, copy=True)  # written below (log)
    last_level = values[-1, :n].copy()
    transform = extra.get("transform", "none")
    if transform == "log":
        if (values[:, :n] <= 0).any():
            raise SeqlabError(
                f"series {name!r} has a value <= 0; the model forecasts log values. Fix: drop "
                "that series or correct the value."
            )
        values[:, :n] = np.log(values[:, :n])
    elif transform == "diff":
        values = np.diff(values, axis=0)
    if len(values) < info["min_inputs"]:
        return None
    if extra.get("scaler") == "global":
        mean, std = np.asarray(info["global_mean"]), np.asarray(info["global_std"])
    elif extra.get("scaler") == "none":
        mean, std = np.zeros(len(columns)), np.ones(len(columns))
    else:
        mean, std = values.mean(axis=0), values.std(axis=0)
        std = np.where(std > 0, std, 1.0)
    window = (values[-info["window"] :] - mean) / std
    if len(window) < info["window"]:  # a short series: its first value repeated on the left
        window = np.concatenate([np.repeat(window[:1], info["window"] - len(window), 0), window])
    return {
        "name": name,
        "x": window,
        "mean": mean[:n],
        "std": std[:n],
        "last_level": last_level,
        "times": frame["time"].to_numpy(),
    }


@torch.inference_mode()
def _forecast(task: Any, spec: DataSpec, ready: list[dict], batch_size: int) -> pd.DataFrame:
    task.eval()
    device = next(task.parameters()).device
    x = torch.tensor(np.stack([r["x"] for r in ready]), dtype=torch.float32)
    means, sigmas = [], []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size].to(device)  # (B, window, F)
        if getattr(task, "interval", None):
            mean, log_scale = task.mean_and_log_scale(batch)
            sigmas.append(log_scale.exp().float().cpu())
        else:
            mean = task(batch)
        means.append(task.denormalise(mean.float()).cpu())  # (B, horizon * n)
    pred = torch.cat(means).double().numpy()
    sigma = torch.cat(sigmas).double().numpy() if sigmas else None
    return _long(spec, ready, pred, sigma)


def _long(spec: DataSpec, ready: list[dict], pred: np.ndarray, sigma: np.ndarray | None):
    extra = spec.extra
    targets, transform = list(extra["target"]), extra.get("transform", "none")
    horizon, n = int(extra.get("horizon", pred.shape[1] // len(targets))), len(targets)
    frames = []
    for i, r in enumerate(ready):
        steps = {"forecast": pred[i].reshape(horizon, n)}
        if sigma is not None and transform != "diff":
            spread = 1.96 * sigma[i].reshape(horizon, n)
            steps |= {"lo": steps["forecast"] - spread, "hi": steps["forecast"] + spread}
        times = _future(r["times"], horizon, extra.get("frequency"))
        for key, values in steps.items():
            values = values * r["std"] + r["mean"]
            if transform == "log":
                values = np.exp(values)
            elif transform == "diff":
                values = r["last_level"] + np.cumsum(values, axis=0)
            steps[key] = values
        for j, target in enumerate(targets):
            part = {"series": r["name"], "target": target, "time": times}
            part |= {"step": np.arange(1, horizon + 1)}
            part |= {key: values[:, j] for key, values in steps.items()}
            frames.append(pd.DataFrame(part))
    out = pd.concat(frames, ignore_index=True)
    return out.drop(columns="target") if n == 1 else out


def export_graph(task: Any) -> Any:
    """A ``data=series`` forecaster that normalises each window itself (``model.normalize=
    window``) on untransformed targets needs no pre-processing at all: the graph reads the last
    raw values of a series and returns its forecast in the same units (the series' own scaling
    cancels in the per-window normalisation). Anything else: None (the generic graph)."""
    from seqlab.prediction.graph import Forecaster, InferenceGraph

    spec = task.spec
    extra = spec.extra
    if not extra.get("table") or task.normalize != "window" or extra.get("transform") != "none":
        return None
    interval = bool(task.interval)
    columns = ", ".join(spec.feature_names)
    horizon = int(extra["horizon"])
    description = {
        "window": f"(batch, time, {spec.num_features}) float32: the last values of each series "
        f"in the data's own units, oldest first, columns [{columns}] (time up to any length; "
        f"the model was trained on {extra['table']['window']})",
        "forecast": f"(batch, {spec.num_targets}) float32: the next {horizon} values in the "
        "data's own units (step-major when there are several targets)",
    }
    if interval:
        description["log_scale"] = (
            "(batch, horizon) float32: log σ in the data's units (95%: ±1.96σ)"
        )
    return InferenceGraph(
        module=Forecaster(task, interval),
        inputs=["window"],
        outputs=["forecast", "log_scale"] if interval else ["forecast"],
        dynamic={"window": {0: "batch", 1: "time"}},
        max_len=getattr(task.backbone, "max_len", None),
        description=description,
        preprocessing={
            "raw_values": True,
            "features": list(spec.feature_names),
            "horizon": horizon,
            "frequency": extra.get("frequency"),
            "spec": spec.to_dict(),
        },
    )


def _future(times: np.ndarray, horizon: int, frequency: str | None) -> np.ndarray:
    """The next ``horizon`` time stamps after the series' last one."""
    last = times[-1]
    if np.issubdtype(np.asarray(times).dtype, np.datetime64):
        if frequency:
            return pd.date_range(last, periods=horizon + 1, freq=frequency)[1:].to_numpy()
        step = np.median(np.diff(times)) if len(times) > 1 else np.timedelta64(1, "D")
        return np.array([last + step * (k + 1) for k in range(horizon)])
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    future = np.array([float(last) + step * (k + 1) for k in range(horizon)])
    whole = float(last).is_integer() and step.is_integer()
    return future.astype(np.int64) if whole else future  # years stay years: 2000, not 2000.0
