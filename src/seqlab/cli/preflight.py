"""Settings refused before anything is built: one line each, naming the field and the fix.

Each of these used to fail late (after data loading, or after training started) with a
Lightning or torch traceback, or worse, to run and report "ok" for something that did not
happen.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from seqlab.errors import SeqlabError

GPU_ACCELERATORS = {"gpu", "cuda"}


def check_train_config(cfg: DictConfig) -> None:
    check_targets_given(cfg)
    check_training_length(cfg)
    check_accelerator(cfg.get("trainer", {}))
    check_precision(cfg.get("trainer", {}))
    check_optimizer(cfg.get("model", {}))
    check_counts(cfg)


def check_counts(cfg: DictConfig) -> None:
    """Whole numbers Lightning divides by or seeds with, refused here rather than as a
    ZeroDivisionError mid-fit or a ValueError from the seeding."""
    seed = cfg.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SeqlabError(f"seed={seed!r}: an integer, or null. Fix: e.g. seed=42.")
    trainer = cfg.get("trainer", {})
    for key in ("accumulate_grad_batches", "check_val_every_n_epoch"):
        value = trainer.get(key)
        if value is None and key == "check_val_every_n_epoch":
            continue  # null: validate by val_check_interval steps only
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SeqlabError(
                f"trainer.{key}={value!r}: a whole number >= 1. Fix: e.g. trainer.{key}=1."
            )


def trainer_error(err: Exception) -> SeqlabError | None:
    """Lightning refusing a trainer argument (``Trainer(precision=17)``,
    ``val_check_interval=1.5``) as one line, or None for any other error."""
    cause = err.__cause__ if type(err).__name__ == "InstantiationException" else err
    if type(cause).__name__ not in ("ValueError", "MisconfigurationException"):
        return None
    message = " ".join(str(cause).split())  # one line
    return SeqlabError(f"trainer: {message} Fix: correct that trainer.* value.")


def check_targets_given(cfg: DictConfig) -> None:
    """model=custom / data=custom leave the class to the user (``???`` in the config)."""
    from omegaconf import OmegaConf

    wanted = {
        "model.backbone._target_": "model.backbone._target_=mypkg.models.MyNet",
        "data._target_": "data._target_=mypkg.data.MyData",
    }
    for key, example in wanted.items():
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent)
        if node is not None and OmegaConf.is_missing(node, leaf):
            raise SeqlabError(
                f"{key} is not set. Fix: name your class on the command line, e.g. {example} "
                "(README: Add your own model / Add your own dataset)."
            )


def check_training_length(cfg: DictConfig) -> None:
    trainer = cfg.get("trainer", {})
    if not cfg.get("train", True) or trainer.get("fast_dev_run"):
        return
    if trainer.get("max_epochs") == 0 or trainer.get("max_steps") == 0:
        field = "max_epochs" if trainer.get("max_epochs") == 0 else "max_steps"
        raise SeqlabError(
            f"trainer.{field}=0 trains nothing (the run would test an untrained model). Fix: a "
            "positive value, or evaluate a checkpoint with `python eval.py ckpt_path=...`."
        )


def check_accelerator(trainer: Any) -> None:
    accelerator = str(trainer.get("accelerator", "auto")).lower()
    if accelerator not in GPU_ACCELERATORS:
        return
    import torch

    if not torch.cuda.is_available():
        raise SeqlabError(
            f"trainer.accelerator={accelerator}, but torch {torch.__version__} sees no CUDA GPU "
            "on this machine. Fix: run on the CPU (trainer=cpu, or drop trainer=gpu), or install "
            "a CUDA build of torch (README: `make train TORCH=...`)."
        )


def check_precision(trainer: Any) -> None:
    precision = str(trainer.get("precision", "32-true"))
    accelerator = str(trainer.get("accelerator", "auto")).lower()
    if precision != "16-true":
        return
    import torch

    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if on_cpu:
        raise SeqlabError(
            f"trainer.precision={precision}: float16 weights on the CPU lack kernels (a dtype "
            "mismatch) and, without loss scaling, underflow to NaN losses. Fix: 32-true (the "
            "fastest here), bf16-true or bf16-mixed; on a GPU 16-mixed."
        )


def check_optimizer(model: Any) -> None:
    """Let torch validate the optimiser's arguments on a dummy parameter (lr=-1, betas...)."""
    optimizer = model.get("optimizer") if model else None
    if not optimizer:
        return
    import torch
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        factory = instantiate(optimizer)
        factory(params=[torch.nn.Parameter(torch.zeros(1))])
    except (InstantiationException, ValueError, TypeError) as err:
        cause = err.__cause__ or err
        raise SeqlabError(
            f"model.optimizer ({optimizer.get('_target_')}): {cause}. Fix: correct that value "
            "(e.g. model.optimizer.lr=0.001)."
        ) from err


def fit_validation_interval(trainer: Any, datamodule: Any) -> Any:
    """A step-based ``val_check_interval`` longer than an epoch of *this* data (a worked
    example run on a smaller file) becomes once per epoch, said in one line."""
    import logging

    from omegaconf import OmegaConf

    interval = trainer.get("val_check_interval")
    if not isinstance(interval, int) or isinstance(interval, bool):
        return trainer
    try:
        batches = len(datamodule.train_dataloader())
    except TypeError:  # an iterable without a length: Lightning decides
        return trainer
    limit = trainer.get("limit_train_batches")
    if isinstance(limit, int) and not isinstance(limit, bool):
        batches = min(batches, limit)
    elif isinstance(limit, float):
        batches = max(int(batches * limit), 1)
    if interval <= batches:
        return trainer
    logging.getLogger(__name__).warning(
        "trainer.val_check_interval=%d is longer than an epoch of this data (%d training "
        "batches): validating once per epoch instead (set trainer.val_check_interval to at "
        "most %d to validate more often)",
        interval,
        batches,
        batches,
    )
    return OmegaConf.merge(trainer, {"val_check_interval": 1.0})


def chunk_clipping(model: Any, trainer: Any, spec: Any) -> dict:
    """Truncated BPTT of a language model steps the optimiser per chunk (manual optimisation),
    where Lightning refuses trainer-level clipping: the task clips each chunk with the same value
    (model.grad_clip, unless set), decided here before the task is built and said once."""
    import logging

    from seqlab.tasks.base import to_plain

    model = dict(to_plain(model))
    clip = trainer.get("gradient_clip_val")
    if spec.task != "language_modeling" or not model.get("tbptt_steps") or not clip:
        return model
    model["grad_clip"] = model.get("grad_clip") or float(clip)
    logging.getLogger(__name__).info(
        "model.tbptt_steps: gradients are clipped per chunk at %s (model.grad_clip) instead of "
        "by the trainer (trainer.gradient_clip_val)",
        model["grad_clip"],
    )
    return model


def per_chunk_clipping(trainer: Any, task: Any) -> Any:
    """The trainer config without trainer-level clipping for a task that steps its optimiser
    itself (the task clips per chunk: `chunk_clipping`)."""
    from omegaconf import OmegaConf

    if task.automatic_optimization or not trainer.get("gradient_clip_val"):
        return trainer
    return OmegaConf.merge(trainer, {"gradient_clip_val": None})
