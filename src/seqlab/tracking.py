"""Weights & Biases that never prompts and never hangs.

wandb 0.31 with no API key raises ``UsageError`` and the run dies; with a stale key and
no network it fails only after a long timeout. We decide the mode up front: the user's
``WANDB_MODE`` wins; otherwise no key -> offline, key but the server is unreachable
within a second or two -> offline; else online. Offline runs are synced later with
``wandb sync <dir>``.
"""

from __future__ import annotations

import logging
import netrc
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.wandb.ai"


def _api_key(host: str) -> str | None:
    if os.environ.get("WANDB_API_KEY"):
        return os.environ["WANDB_API_KEY"]
    netrc_path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        auth = netrc.netrc(netrc_path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    return auth[2] if auth else None


def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_wandb_mode(timeout: float = 2.0) -> tuple[str, str]:
    """(mode, reason): mode is 'online', 'offline' or 'disabled'."""
    user_mode = os.environ.get("WANDB_MODE")
    if user_mode:
        return user_mode, "set by WANDB_MODE"
    if os.environ.get("WANDB_DISABLED", "").lower() in {"1", "true", "yes"}:
        return "disabled", "set by WANDB_DISABLED"
    url = urlparse(os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL))
    host = url.hostname or "api.wandb.ai"
    if not _api_key(host):
        return "offline", "no W&B API key (set WANDB_API_KEY or run `wandb login`)"
    port = url.port or (443 if url.scheme == "https" else 80)
    if not _reachable(host, port, timeout):
        return "offline", f"{host} is not reachable"
    return "online", "API key found and server reachable"


def wandb_logger(*, save_dir: str, offline: bool = False, **kwargs):
    """Hydra target for ``logger/wandb.yaml``: a Lightning WandbLogger in a safe mode."""
    from lightning.pytorch.loggers import WandbLogger

    mode, reason = ("offline", "logger.wandb.offline=true") if offline else resolve_wandb_mode()
    os.makedirs(save_dir, exist_ok=True)
    if mode != "online":
        log.debug("W&B %s: %s.", mode, reason)
    # Never read stdin: a closed or absent terminal must not block a run.
    os.environ.setdefault("WANDB_CONSOLE", "off")
    kwargs.pop("mode", None)
    logger = WandbLogger(save_dir=save_dir, offline=mode == "offline", mode=mode, **kwargs)
    logger.seqlab_mode = (mode, reason)
    return logger


def wandb_loggers(trainer_or_loggers) -> list:
    """The W&B loggers among a trainer's loggers (or a list of loggers, or one logger).

    The one place that decides what counts as a W&B logger: Lightning's ``WandbLogger`` and
    its subclasses (including the one `wandb_logger` builds). Does not import wandb.
    """
    from lightning.pytorch.loggers.wandb import WandbLogger

    loggers = getattr(trainer_or_loggers, "loggers", trainer_or_loggers)
    if loggers is None:
        return []
    if not isinstance(loggers, (list, tuple)):
        loggers = [loggers]
    return [logger for logger in loggers if isinstance(logger, WandbLogger)]


def announce_wandb(logger) -> None:
    """One line saying where the W&B run went and, when offline, how to upload it."""
    mode, reason = getattr(logger, "seqlab_mode", ("online", ""))
    run = logger.experiment
    run_dir = Path(run.dir).parent if getattr(run, "dir", None) else None
    if mode == "offline":
        log.info(
            "W&B offline (%s): run saved in %s; upload later with `wandb sync %s`",
            reason,
            run_dir,
            run_dir,
        )
    elif mode == "online":
        log.info("W&B run: %s", getattr(run, "url", run_dir))


def finish_wandb(exit_code: int = 0) -> None:
    """Close the active W&B run (failed when ``exit_code`` != 0) so that the next multirun
    job starts its own."""
    import sys

    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
