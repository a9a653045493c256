"""Process-level setup shared by the entry points: threads, warnings, logging, guards."""

from __future__ import annotations

import logging
import os
import warnings

from omegaconf import DictConfig

from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)


def quiet_lightning_logging() -> None:
    """Lightning adds its own stream handler; under Hydra every line would print twice."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def apply_extras(cfg: DictConfig) -> None:
    if cfg.get("extras", {}).get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    # Offline-safe defaults for Hugging Face libraries; users can still opt in.
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    log.debug("torch threads: %d", torch.get_num_threads())


def check_distributed_multirun(cfg: DictConfig) -> None:
    """DDP relaunches the script per rank; inside a Hydra multirun rank 1 re-runs the sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    trainer = cfg.get("trainer", {})
    raw = trainer.get("strategy", "auto")
    strategy = str(raw.get("_target_", "") if hasattr(raw, "get") else raw).lower()
    devices = trainer.get("devices", 1)
    if isinstance(devices, int | str) and str(devices).lstrip("-").isdigit():
        count = int(devices)
        many = count > 1 or count == -1
    else:  # a list of device ids, "auto", ...
        many = (not isinstance(devices, int | str) and len(devices) > 1) or str(devices) == "auto"
    many = many or int(trainer.get("num_nodes", 1) or 1) > 1
    # strategy=auto on several devices is DDP with a subprocess launcher, like ddp and fsdp
    relaunches = strategy in {"auto", ""} or "fsdp" in strategy
    relaunches = relaunches or ("ddp" in strategy and "spawn" not in strategy)
    if not (relaunches and many):
        return
    if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN):
        return
    launcher = str(HydraConfig.get().launcher.get("_target_", ""))
    if "submitit" in launcher or int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return  # srun starts every rank itself: Lightning does not re-execute the script
    raise SeqlabError(
        f"trainer.strategy={strategy} inside a Hydra multirun (-m) would make every rank "
        "re-run the whole sweep (Hydra #2070). Fix: trainer.strategy=ddp_spawn for sweeps, "
        "or run each job under SLURM (hydra/launcher=slurm), where srun starts the ranks."
    )


def warn_cpu_precision(cfg: DictConfig) -> None:
    trainer = cfg.get("trainer", {})
    precision = str(trainer.get("precision", "32-true"))
    accelerator = str(trainer.get("accelerator", "auto"))
    if precision in {"16-mixed", "16"}:
        import torch

        on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
        if on_cpu:
            log.warning(
                "trainer.precision=%s on the CPU: Lightning runs bf16-mixed instead (float16 "
                "autocast is GPU-only). On this CPU float32 (32-true) is usually faster.",
                precision,
            )
