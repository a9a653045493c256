"""`python predict.py ckpt_path=... data.path=...`: predictions for new data, from a
checkpoint alone, as ``predictions.csv`` (long format) in the run folder."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from seqlab.utils.files import atomic_path, atomic_write_text

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> str:
    from seqlab.security import trust
    from seqlab.utils.runtime import apply_extras, set_threads

    apply_extras(cfg)
    trust(cfg.get("trusted_targets"))
    set_threads(cfg.get("threads"))
    import torch

    from seqlab.prediction import kind_of_prediction, predict
    from seqlab.tasks.registry import load_task

    if cfg.get("seed") is not None:
        torch.manual_seed(int(cfg.seed))
    device = str(cfg.get("device") or "cpu")
    task, _ = load_task(cfg.ckpt_path, map_location=device)
    kind_of_prediction(task, task.spec, str(cfg.ckpt_path))  # generators: one line, no data read
    task.to(device).eval()
    table = predict(task, task.spec, cfg)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = atomic_write_text(output_dir / "predictions.csv", table.to_csv(index=False))
    if cfg.get("parquet"):
        with atomic_path(output_dir / "predictions.parquet", suffix=".parquet") as tmp:
            table.to_parquet(tmp, index=False)
    log.info("predictions: %s (%d rows)", path, len(table))
    print(path)
    return str(path)
