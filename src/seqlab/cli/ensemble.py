"""`python eval.py 'ensemble=[a.ckpt,b.ckpt,...]'`: several trained classifiers as one.

Each member is loaded as `eval.py` loads one checkpoint and reads the test split of its own
data config (with ``data_overrides``); their probabilities are averaged and scored by
`seqlab.evaluation.ensemble`. The result goes where a single evaluation's goes: the configured
loggers (W&B, CSV), ``eval_summary.json`` and the terminal, with each member's score, the
data's references from the first member's checkpoint and the members' training time summed
(what the ensemble cost).
"""

from __future__ import annotations

import glob
import json
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from seqlab.cli.results import print_results, write_json_atomic
from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)

# the data's references were computed when each member trained and travel in its checkpoint's
# spec; recomputing them per member would cost minutes on long series (1-NN DTW)
REFERENCE_SWITCHES = ("dtw_baseline", "rocket_baseline")


def member_paths(patterns) -> list[str]:
    """The checkpoints an ``ensemble`` list names, globs expanded in sorted order."""
    paths: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(pattern))) if glob.has_magic(str(pattern)) else [pattern]
        if not matches:
            raise SeqlabError(
                f"ensemble: '{pattern}' matches no checkpoint. Fix: a path or glob such as "
                "logs/train/multiruns/<time>/*/checkpoints/last.ckpt (quote the whole list)."
            )
        paths.extend(str(m) for m in matches)
    return paths


def members_wall_s(paths: list[str]) -> float | None:
    """The summed training time of the members (summary.json's wall_s beside each run)."""
    total = 0.0
    for path in paths:
        summary = Path(path).resolve().parent.parent / "summary.json"
        if not summary.is_file():
            return None
        wall = json.loads(summary.read_text()).get("wall_s")
        if wall is None:
            return None
        total += float(wall)
    return round(total, 1)


def run_ensemble(cfg: DictConfig) -> dict[str, float]:
    from hydra.utils import instantiate

    from seqlab.evaluation.ensemble import member_output, score_ensemble
    from seqlab.tasks.registry import load_task
    from seqlab.utils.instantiators import instantiate_group

    paths = member_paths(cfg.ensemble)
    datamodules: dict[str, object] = {}  # one per distinct data config
    outputs, first_spec = [], None
    for path in paths:
        task, _ = load_task(path)
        first_spec = first_spec or task.spec
        data_cfg = OmegaConf.merge(
            OmegaConf.create(task.hparams["data"]),
            OmegaConf.create(dict(cfg.get("data_overrides") or {})),
        )
        for switch in REFERENCE_SWITCHES:
            if switch in data_cfg:
                data_cfg[switch] = False
        key = OmegaConf.to_yaml(data_cfg)
        if key not in datamodules:
            datamodule = instantiate(data_cfg, _convert_="all")
            datamodule.setup("test")
            datamodules[key] = datamodule
        outputs.append(member_output(path, task, datamodules[key].test_dataloader()))
        log.info("ensemble member %d/%d read: %s", len(outputs), len(paths), path)

    metrics = score_ensemble(outputs)
    for name, value in first_spec.baselines.get("test", {}).items():
        metrics[f"test/baseline_{name}"] = float(value)
    cost = members_wall_s(paths)
    result = {"members": paths, "members_wall_s": cost, "test": metrics}
    for logger in instantiate_group(cfg.get("logger"), "logger"):
        logger.log_hyperparams({"ensemble": paths, "members_wall_s": cost})
        logger.log_metrics(metrics)
        logger.finalize("success")
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output_dir / "eval_summary.json", result)
    print_results(metrics, f"ensemble of {len(paths)} checkpoints")
    log.info("ensemble results: %s", output_dir / "eval_summary.json")
    return metrics
