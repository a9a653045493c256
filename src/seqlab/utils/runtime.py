"""Process-level setup shared by the entry points: threads, warnings, logging, guards."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator

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
    use_project_compile_cache()


def use_project_compile_cache() -> None:
    """torch.compile's cache is per thread count and slow to fill (~50 s on CPU): keep it with
    the project (``.cache/inductor``) unless the user chose another place."""
    root = os.environ.get("SEQLAB_ROOT", ".")
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(root, ".cache", "inductor"))


def set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    log.debug("torch threads: %d", torch.get_num_threads())


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (``-m``)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def relaunches_ranks_in_multirun(cfg: DictConfig) -> bool:
    """Whether Lightning will re-run this script once per extra rank, inside a multirun job.

    Lightning's subprocess launcher re-executes ``sys.argv`` for ranks 1..N-1; inside a Hydra
    multirun that command line is the whole sweep (Hydra #2070: every rank would re-run every
    job). `ranks_run_this_job` makes it this job's own command line instead.
    """
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
        return False
    if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN):
        return False
    launcher = str(HydraConfig.get().launcher.get("_target_", ""))
    if "submitit" in launcher or int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return False  # srun starts every rank itself: Lightning does not re-execute the script
    if "joblib" in launcher:
        raise SeqlabError(
            f"trainer.strategy={strategy or 'auto'} on several devices cannot run inside the "
            "parallel (joblib) launcher: its jobs share one process tree. Fix: the default "
            "launcher (jobs one after another, each with its own ranks), or hydra/launcher=slurm."
        )
    return True


@contextlib.contextmanager
def ranks_run_this_job(cfg: DictConfig) -> Iterator[None]:
    """While this multirun job trains, the command line Lightning hands to ranks 1..N-1 is the
    job's own overrides, run as a single run in the job's folder: only this job's ranks start."""
    if not relaunches_ranks_in_multirun(cfg):
        yield
        return
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    hydra_cfg = HydraConfig.get()
    saved_argv, saved_env = sys.argv[:], dict(os.environ)
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg):  # Lightning passes run.dir on to the ranks as their folder
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    log.info("multirun job %s: DDP ranks start as this job only", hydra_cfg.job.num)
    try:
        yield
    finally:
        sys.argv = saved_argv
        # the next job needs its own process group, port and rank variables
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        os.environ.clear()
        os.environ.update(saved_env)


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
