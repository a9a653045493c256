"""`python export.py ckpt_path=... format=onnx|torchscript`: the task's inference graph as one
file, verified against torch on real batches in the same command (`seqlab.prediction.export`)."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from seqlab.cli.results import write_json_atomic

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    from seqlab.security import trust
    from seqlab.utils.runtime import apply_extras, set_threads

    apply_extras(cfg)
    trust(cfg.get("trusted_targets"))
    set_threads(cfg.get("threads"))
    import torch

    from seqlab.prediction.export import export_model
    from seqlab.prediction.graph import refuse_unexportable
    from seqlab.prediction.real_batches import verification_batches
    from seqlab.tasks.registry import load_task

    torch.manual_seed(int(cfg.get("seed") or 0))
    task, _ = load_task(cfg.ckpt_path)
    task.eval()
    refuse_unexportable(task)  # before reading any data
    batches = verification_batches(task, cfg, int(cfg.get("batches") or 6))
    output_dir = Path(cfg.paths.output_dir)
    report = export_model(
        task,
        str(cfg.format),
        output_dir,
        batches,
        tolerance=float(cfg.tolerance),
        name=str(cfg.get("name") or "model"),
        ckpt_path=str(cfg.ckpt_path),
    )
    write_json_atomic(output_dir / "export_summary.json", report)
    log.info(
        "exported %s (max abs diff vs torch %.2g on %d batches)",
        report["path"],
        report["max_abs_diff"],
        report["batches"],
    )
    print(report["path"])
    return report
