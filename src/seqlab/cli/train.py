"""`python train.py`: compose config -> data -> task -> trainer; fit, test, summarise.

Heavy imports (lightning, torch, wandb) happen inside ``run`` so that Hydra's ``--help``
and tab completion, which run before the task function, stay fast.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from seqlab.cli.results import metrics_of, print_results, write_json_atomic
from seqlab.errors import SeqlabError
from seqlab.utils.runtime import in_multirun

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> float | None:
    """Train (and test) one configuration; returns ``cfg.optimized_metric`` for sweepers.

    In a multirun, a job that fails is logged with its error (in its ``summary.json``, its
    log and, once its loggers started, its W&B run) and the sweep goes on: the basic and
    parallel launchers get NaN; under the Optuna sweeper the error (or a NaN objective) is
    raised, which Optuna records as a failed trial (a returned NaN would crash its `tell`).
    A single run raises as usual.
    """
    from seqlab.security import trust
    from seqlab.tracking import prestart_wandb
    from seqlab.utils.runtime import apply_extras, relaunches_ranks_in_multirun

    apply_extras(cfg)
    trust(cfg.get("trusted_targets"))
    relaunches_ranks_in_multirun(cfg)  # refuses the combinations that cannot work
    if (cfg.get("logger") or {}).get("wandb"):
        prestart_wandb()  # import wandb and start its service while Lightning is imported
    if not in_multirun():
        return _run(cfg)
    try:
        value = _run(cfg)
    except Exception as err:
        if isinstance(err, SeqlabError) or isinstance(err.__cause__, SeqlabError):
            log.error("job failed: %s", err.__cause__ if err.__cause__ else err)  # one line
        else:
            log.exception("job failed: %s", err)
        output_dir = Path(cfg.paths.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            output_dir / "summary.json",
            {
                "status": "failed",
                "error": f"{type(err).__name__}: {err}",
                "run_dir": str(output_dir),
            },
        )
        if _optuna_sweep():
            raise
        return float("nan")
    if _optuna_sweep() and value is not None and math.isnan(value):
        raise FloatingPointError(f"{cfg.get('optimized_metric')} is NaN: a failed trial")
    return value


def _optuna_sweep() -> bool:
    from hydra.core.hydra_config import HydraConfig

    return "optuna" in str(HydraConfig.get().sweeper.get("_target_", "")).lower()


def _run(cfg: DictConfig) -> float | None:
    """One run, top to bottom: prepare, build, make the trainer, fit and test, summarise."""
    from seqlab.cli.startup import Stopwatch
    from seqlab.figures.worker import plots_joined_at_exit
    from seqlab.tracking import finish_wandb
    from seqlab.utils.runtime import ranks_run_this_job

    clock = Stopwatch()
    output_dir = _prepare(cfg)
    # the loggers first: the W&B run starts in the background while the data loads
    loggers = _make_loggers(cfg, output_dir)
    trainer = None
    try:
        datamodule, task = _build(cfg)
        clock.mark("data_and_model")
        ckpt_path, resumed_step = _starting_checkpoint(cfg)
        trainer = _make_trainer(cfg, task, datamodule, loggers, resumed_step, clock)
        clock.mark("trainer_and_loggers")
        header = _log_header(cfg, task, trainer, output_dir)
        clock.mark("run_header")
        # plots drawn in the background at the end of fit overlap the test stage; all are on
        # disk and in W&B when the block exits
        with ranks_run_this_job(cfg), plots_joined_at_exit():
            metrics = _fit_and_test(cfg, trainer, task, datamodule, ckpt_path)
        _summarise(cfg, trainer, datamodule.spec, output_dir, metrics, header, clock)
    except BaseException as err:
        finish_wandb(exit_code=1)  # the W&B run shows as failed, not finished
        sigterm = type(err).__name__ == "SIGTERMException"
        interrupted = trainer is not None and trainer.interrupted
        if isinstance(err, SystemExit) and not sigterm and interrupted:
            # Lightning turns Ctrl+C into sys.exit(1); keep it an interruption (exit 130)
            raise KeyboardInterrupt from err
        raise
    finish_wandb()
    if trainer.is_global_zero:  # last, after W&B's own summary
        if metrics["test"]:
            print_results(metrics["test"], f"test metrics ({datamodule.spec.task}) vs baseline")
        log.info("run folder: %s", output_dir)
    logged = {**metrics["train"], **metrics["val"], **metrics["test"]}
    return _optimized_value(cfg.get("optimized_metric"), trainer, logged)


def _prepare(cfg: DictConfig) -> Path:
    """Settings refused up front, threads, the run folder, the config tree, the seed."""
    import lightning as L

    from seqlab.cli.preflight import check_train_config
    from seqlab.utils.config_tree import print_config_tree
    from seqlab.utils.runtime import quiet_lightning_logging, set_threads, warn_cpu_precision

    quiet_lightning_logging()
    check_train_config(cfg)
    set_threads(cfg.get("threads"))
    warn_cpu_precision(cfg)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.extras.get("print_config") and _is_rank_zero():
        print_config_tree(cfg, save_to=output_dir / "config_tree.log")
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    return output_dir


def _build(cfg: DictConfig):
    """The data first (it decides the task and its sizes), then the task around the model."""
    from hydra.utils import instantiate

    from seqlab.cli.preflight import chunk_clipping
    from seqlab.tasks.registry import build_task

    log.info("data <%s>", cfg.data._target_)
    datamodule = instantiate(cfg.data, _convert_="all")  # plain lists: weights_only checkpoints
    datamodule.prepare_data()
    datamodule.setup("fit")
    log.info("model <%s> for task %s", cfg.model.backbone._target_, datamodule.spec.task)
    model = chunk_clipping(cfg.model, cfg.trainer, datamodule.spec)
    return datamodule, build_task(model, datamodule.spec, data=cfg.data)


def _starting_checkpoint(cfg: DictConfig) -> tuple[str | None, int | None]:
    """The checkpoint to start from (``resume=`` or ``ckpt_path=``), checked against the
    allowlist, and its global step."""
    from seqlab.cli.resume import resume_checkpoint
    from seqlab.tasks.registry import check_trusted_checkpoint

    ckpt_path = cfg.get("ckpt_path")
    if cfg.get("resume"):
        ckpt_path = str(resume_checkpoint(cfg.resume))
        log.info("resuming %s from %s", cfg.resume, ckpt_path)
    if not ckpt_path:
        return None, None
    return ckpt_path, check_trusted_checkpoint(ckpt_path).get("global_step")


def _make_loggers(cfg: DictConfig, output_dir: Path) -> list:
    """The loggers of the config; a W&B logger's run starts now, in a background thread."""
    from seqlab.tracking import start_wandb_runs
    from seqlab.utils.instantiators import instantiate_group

    loggers = instantiate_group(_logger_config(cfg), "logger")
    start_wandb_runs(loggers)
    return loggers


def _make_trainer(cfg: DictConfig, task, datamodule, loggers: list, resumed_step, clock=None):
    import lightning as L
    from hydra.utils import instantiate

    from seqlab.cli.preflight import fit_validation_interval, per_chunk_clipping, trainer_error
    from seqlab.utils.checkpoint_io import AtomicCheckpointIO
    from seqlab.utils.csv_logger import drop_rows_after_step
    from seqlab.utils.instantiators import instantiate_group

    trainer_cfg = fit_validation_interval(cfg.trainer, datamodule)
    trainer_cfg = per_chunk_clipping(trainer_cfg, task)
    callbacks = instantiate_group(cfg.get("callbacks"), "callback")
    if clock is not None:
        from seqlab.cli.startup import FirstStepClock

        callbacks.append(FirstStepClock(clock))
    try:
        trainer: L.Trainer = instantiate(
            trainer_cfg,
            callbacks=callbacks,
            logger=loggers or False,
            plugins=[AtomicCheckpointIO()],
        )
    except Exception as err:
        refused = trainer_error(err)
        if refused is None:
            raise
        raise refused from err
    if cfg.get("resume") and resumed_step is not None:
        for logger in trainer.loggers:
            if isinstance(logger, L.pytorch.loggers.CSVLogger):
                drop_rows_after_step(logger.experiment.metrics_file_path, int(resumed_step))
    return trainer


def _log_header(cfg: DictConfig, task, trainer, output_dir: Path) -> dict[str, Any]:
    """What every logger records before training: config, provenance, parameter counts."""
    from hydra.core.hydra_config import HydraConfig

    from seqlab.provenance import collect as collect_provenance

    provenance = collect_provenance(run_dir=output_dir if trainer.is_global_zero else None)
    task.provenance = provenance  # into every checkpoint (SeqlabTask.on_save_checkpoint)
    hparams = OmegaConf.to_container(cfg, resolve=True)
    hparams["provenance"] = provenance
    hparams["model/params_total"] = sum(p.numel() for p in task.parameters())
    hparams["model/params_trainable"] = sum(p.numel() for p in task.parameters() if p.requires_grad)
    if HydraConfig.initialized():
        hparams["overrides"] = list(HydraConfig.get().overrides.task)
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
    _save_model_summary(task, trainer, output_dir)
    _remember_wandb_id(trainer, output_dir)
    return {"provenance": provenance, "params": hparams["model/params_total"]}


def _summarise(cfg, trainer, spec, output_dir: Path, metrics: dict, header: dict, clock) -> None:
    """summary.json beside the run, and the final test metrics into the W&B run."""
    import time

    from seqlab.cli.model_card import hardware, write_model_card
    from seqlab.tracking import announce_wandb, wandb_loggers

    if not trainer.is_global_zero:
        return
    summary = {
        "status": "ok",
        "task": spec.task,
        "model": cfg.model.backbone._target_,
        "data": cfg.data._target_,
        "run_dir": str(output_dir),
        "best_checkpoint": metrics["best"],
        "last_checkpoint": _last_checkpoint(trainer),
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        # why fit ended, and epochs done / planned (a recipe cut by max_time says so)
        "stopped": metrics.get("stopped"),
        "params": header["params"],
        "train": metrics["train"],
        "val": metrics["val"],
        "test": metrics["test"],
        "data_fingerprint": spec.extra.get("data_fingerprint"),
        "provenance": header["provenance"],
        "startup_s": clock.breakdown(),
        "wall_s": round(time.time() - clock.start, 1),
        "hardware": hardware(),
    }
    write_json_atomic(output_dir / "summary.json", summary)
    card = write_model_card(output_dir, summary, OmegaConf.to_container(cfg, resolve=True))
    for logger in wandb_loggers(trainer):
        logger.experiment.save(str(card), base_path=str(output_dir), policy="now")
        logger.experiment.summary.update({f"final/{k}": v for k, v in metrics["test"].items()})
        announce_wandb(logger)


def _fit_and_test(cfg: DictConfig, trainer, task, datamodule, ckpt_path: str | None) -> dict:
    """Fit, then test the best checkpoint: train/val/test metrics and the best path."""
    from seqlab.cli.stopping import why_training_stopped

    stopped = None
    if cfg.get("train", True):
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        stopped = why_training_stopped(trainer)
    metrics = {
        "stopped": stopped,
        "train": metrics_of(trainer.callback_metrics, "train/"),
        "val": metrics_of(trainer.callback_metrics, "val/"),
        "test": {},
        "best": _best_checkpoint(trainer),
    }
    if cfg.get("train", True) and trainer.global_step and not metrics["val"]:
        log.warning(
            "no validation score: the run stopped at step %d before its first validation "
            "(val_check_interval=%s, check_val_every_n_epoch=%s), or has no validation data; "
            "without one there is no best checkpoint, so the test uses the final weights",
            trainer.global_step,
            trainer.val_check_interval,
            trainer.check_val_every_n_epoch,
        )
    if cfg.get("test", True):
        best = metrics["best"] or None
        trainer.test(task, datamodule=datamodule, ckpt_path=best, weights_only=True)
        metrics["test"] = metrics_of(trainer.callback_metrics, "test/")
    return metrics


def _optimized_value(metric: str | None, trainer, logged: dict[str, float]) -> float | None:
    """The sweep objective: the best checkpoint's score when it monitors that metric."""
    if not metric:
        return None
    callback = getattr(trainer, "checkpoint_callback", None)
    if (
        callback is not None
        and callback.monitor == metric
        and callback.best_model_score is not None
    ):
        value = float(callback.best_model_score)
    elif metric in logged:
        value = logged[metric]
    else:
        message = (
            f"optimized_metric={metric!r} was not logged; logged metrics: {sorted(logged)}. "
            "Fix: optimized_metric=<one of them> (or null)"
        )
        if in_multirun():  # a sweep without its objective must fail
            raise KeyError(message)
        log.warning(message)  # a single run trained and tested: report, lose nothing
        return None
    return value if math.isfinite(value) else float("nan")


def _logger_config(cfg: DictConfig) -> DictConfig | None:
    """The logger group as it is built, without writing into ``cfg``: multirun jobs get one
    W&B run each, grouped by the sweep; a resumed run continues its W&B run id."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from seqlab.cli.resume import wandb_run_id

    loggers = cfg.get("logger")
    wandb_cfg = (loggers or {}).get("wandb")
    if not wandb_cfg:
        return loggers
    updates: dict[str, Any] = {}
    model_name = cfg.model.backbone._target_.rsplit(".", 1)[-1].lower()
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        hydra_cfg = HydraConfig.get()
        sweep = Path(hydra_cfg.sweep.dir)
        updates["group"] = wandb_cfg.get("group") or f"{cfg.task_name}/{sweep.name}"
        updates["job_type"] = model_name
        overrides = ",".join(hydra_cfg.overrides.task) or "defaults"
        updates["name"] = f"{cfg.task_name}#{hydra_cfg.job.num}:{overrides}"[:120]
    if cfg.get("resume"):
        run_id = wandb_run_id(cfg.resume)
        if run_id:
            updates["id"] = run_id
            updates["resume"] = "allow"
    if not updates:
        return loggers
    built = OmegaConf.merge(loggers, {"wandb": {}})
    with open_dict(built):
        built.wandb.update(updates)
    return built


def _remember_wandb_id(trainer, output_dir: Path) -> None:
    from seqlab.tracking import wandb_loggers
    from seqlab.utils.files import atomic_write_text

    for logger in wandb_loggers(trainer):
        if trainer.is_global_zero:
            atomic_write_text(output_dir / "wandb_run_id", str(logger.experiment.id) + "\n")


def _is_rank_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _best_checkpoint(trainer) -> str:
    callback = getattr(trainer, "checkpoint_callback", None)
    path = getattr(callback, "best_model_path", "") if callback is not None else ""
    return path if path and Path(path).is_file() else ""


def _last_checkpoint(trainer) -> str:
    path = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
    return str(path) if path.is_file() else ""


def _save_model_summary(task, trainer, output_dir: Path) -> None:
    """The layer table as text in the run folder and in the W&B run's files."""
    from lightning.pytorch.utilities.model_summary import ModelSummary

    if not trainer.is_global_zero:
        return
    from seqlab.tracking import wandb_loggers
    from seqlab.utils.files import atomic_write_text

    path = output_dir / "model_summary.txt"
    atomic_write_text(path, str(ModelSummary(task, max_depth=3)) + "\n")
    for logger in wandb_loggers(trainer):
        logger.experiment.save(str(path), base_path=str(output_dir), policy="now")
