"""`python eval.py ckpt_path=...`: test a checkpoint on the data it was trained on
(``ensemble=[...]``: several checkpoints averaged, `seqlab.cli.ensemble`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from seqlab.cli.results import metrics_of, print_results, write_json_atomic

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, float]:
    from seqlab.security import trust
    from seqlab.utils.runtime import apply_extras, quiet_lightning_logging, set_threads

    apply_extras(cfg)
    trust(cfg.get("trusted_targets"))
    import lightning as L
    from hydra.utils import instantiate

    from seqlab.tasks.registry import load_task
    from seqlab.utils.instantiators import instantiate_group

    quiet_lightning_logging()
    set_threads(cfg.get("threads"))
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    if cfg.get("ensemble"):
        from seqlab.cli.ensemble import run_ensemble

        return run_ensemble(cfg)
    task, checkpoint = load_task(cfg.get("ckpt_path"))
    data_cfg = OmegaConf.merge(
        OmegaConf.create(task.hparams["data"]),
        OmegaConf.create(dict(cfg.get("data_overrides") or {})),
    )
    datamodule = instantiate(data_cfg, _convert_="all")
    datamodule.setup("test")
    trained_on = task.spec.extra.get("data_fingerprint")
    if trained_on and hasattr(datamodule, "fingerprint") and datamodule.fingerprint() != trained_on:
        log.warning("the test data differs from the data this checkpoint was trained on")

    loggers = instantiate_group(cfg.get("logger"), "logger")
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
    trainer.test(task, datamodule=datamodule)
    test_metrics = metrics_of(trainer.callback_metrics, "test/")
    if hasattr(task, "generate_images") and cfg.get("classifier_ckpt"):
        from seqlab.cli.generate import load_scorer
        from seqlab.evaluation.text_to_image import evaluate_text_to_image

        classifier, _ = load_task(cfg.classifier_ckpt)
        scorer = load_scorer(cfg.get("rerank_ckpt"))
        candidates = int(cfg.get("candidates") or (8 if scorer is not None else 1))
        test_metrics.update(
            evaluate_text_to_image(
                task,
                classifier,
                datamodule,
                per_digit=int(cfg.images_per_digit),
                seed=int(cfg.seed),
                temperature=float(cfg.get("temperature", 1.0)),
                top_k=cfg.get("top_k"),
                scorer=scorer,
                candidates=candidates,
                attribute_images_per_digit=int(cfg.get("attribute_images_per_digit") or 0),
                guidance=cfg.get("guidance"),
            )
        )

    output_dir = Path(cfg.paths.output_dir)
    result = {
        "ckpt_path": str(cfg.ckpt_path),
        "epoch": checkpoint.get("epoch"),
        "test": test_metrics,
    }
    summary_path = Path(cfg.ckpt_path).resolve().parent.parent / "summary.json"
    if summary_path.is_file():
        trained = json.loads(summary_path.read_text()).get("test", {})
        result["summary_json"] = str(summary_path)
        result["max_abs_diff_vs_summary"] = max(
            (abs(test_metrics[k] - v) for k, v in trained.items() if k in test_metrics),
            default=None,
        )
    if trainer.is_global_zero:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(output_dir / "eval_summary.json", result)
        print_results(test_metrics, f"eval of {cfg.ckpt_path}")
        log.info("eval results: %s", output_dir / "eval_summary.json")
    return test_metrics
