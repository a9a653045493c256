"""Real inputs to verify an exported graph on, in the graph's own terms (raw values).

From ``data.path`` when given (new series or images, read and checked as predict.py reads
them), else from the test split of the data the checkpoint was trained on (rebuilt from its
stored data config, as eval.py does, with the reference baselines switched off). Series are
split into batches of one length (the graph takes no padding)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from seqlab.errors import SeqlabError

Batch = tuple[torch.Tensor, ...]
# data settings that only compute reference baselines: off when rebuilding data to verify on
BASELINE_SWITCHES = ("dtw_baseline", "rocket_baseline", "baselines")


def by_length(series: list[torch.Tensor], limit: int) -> list[Batch]:
    """Raw series (T_i, C) -> up to ``limit`` batches (B, T, C), each of one length."""
    groups: dict[int, list[torch.Tensor]] = {}
    for s in series:
        groups.setdefault(len(s), []).append(s)
    # the fullest groups first: several batch sizes and lengths
    chosen = sorted(groups.values(), key=len, reverse=True)[:limit]
    return [(torch.stack(g[:64]).float(),) for g in chosen]


def from_file(task: Any, cfg: Any, limit: int) -> list[Batch]:
    spec = task.spec
    if spec.task == "classification" and spec.image_shape:
        from seqlab.prediction.images import read_images

        _, pixels = read_images(cfg, spec)
        x = torch.from_numpy(pixels.astype(np.float32))
        return [(chunk,) for chunk in x.split(max(2, len(x) // limit + 1))][:limit]
    if spec.task == "classification":
        from seqlab.prediction.series import read_new_series

        new = read_new_series(cfg, spec)
        return by_length([torch.from_numpy(v) for v in new.values], limit)
    raise SeqlabError(
        f"data.path: export reads new {spec.task} data only through the training's data "
        "config. Fix: leave data.path unset."
    )


def from_training_data(task: Any, limit: int, overrides: dict | None = None) -> list[Batch]:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    stored = dict(task.hparams.get("data") or {})
    if not stored:
        raise SeqlabError(
            "ckpt_path: the checkpoint stores no data config to verify the export on. Fix: "
            "data.path=<new data file>."
        )
    for switch in BASELINE_SWITCHES:
        if switch in stored:
            stored[switch] = False
    data_cfg = OmegaConf.merge(OmegaConf.create(stored), OmegaConf.create(overrides or {}))
    try:
        datamodule = instantiate(data_cfg, _convert_="all")
        datamodule.setup("test")
        loader = datamodule.test_dataloader()
    except SeqlabError as err:
        raise SeqlabError(
            f"export verifies on real batches and the training data is not readable here "
            f"({err}). Fix: data.path=<new data file>."
        ) from err
    spec = task.spec
    batches: list[Batch] = []
    series: list[torch.Tensor] = []  # raw series (T_i, C) of series classification
    for batch in loader:
        x = batch[0]
        if spec.task == "classification" and spec.image_shape:
            mean = torch.tensor(spec.extra["mean"], dtype=torch.float64)[:, None, None]
            std = torch.tensor(spec.extra["std"], dtype=torch.float64)[:, None, None]
            batches.append(((x.double() * std + mean).float(),))  # back to raw pixels
        elif spec.task == "classification":
            mean = torch.tensor(spec.extra["channel_mean"], dtype=torch.float64)
            std = torch.tensor(spec.extra["channel_std"], dtype=torch.float64)
            lengths = batch[2] if len(batch) > 2 else torch.full((len(x),), x.shape[1])
            raw = (x.double() * std + mean).float()  # (B, T, C) raw values
            series += [raw[i, : int(n)] for i, n in enumerate(lengths)]
            if len(series) >= 256:
                break
            continue
        elif spec.task == "language_modeling":
            batches += [(x,), (x[: max(2, len(x) // 2), : max(2, x.shape[1] // 2)],)]
        else:
            batches += [(x.float(),), (x[: max(2, len(x) // 2)].float(),)]
        if len(batches) >= limit:
            break
    return by_length(series, limit) if series else batches[:limit]


def verification_batches(task: Any, cfg: Any, limit: int = 6) -> list[Batch]:
    data = cfg.get("data") or {}
    if data.get("path"):
        return from_file(task, cfg, limit)
    return from_training_data(task, limit, dict(cfg.get("data_overrides") or {}))
