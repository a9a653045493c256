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
import threading
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
    """Hydra target for ``logger/wandb.yaml``: a Lightning WandbLogger in a safe mode (an
    `EarlyWandbLogger`: ``train.py`` starts its run in a background thread at once)."""
    mode, reason = ("offline", "logger.wandb.offline=true") if offline else resolve_wandb_mode()
    os.makedirs(save_dir, exist_ok=True)
    if mode != "online":
        log.debug("W&B %s: %s.", mode, reason)
    # Never read stdin: a closed or absent terminal must not block a run.
    os.environ.setdefault("WANDB_CONSOLE", "off")
    kwargs.pop("mode", None)
    logger = _early_logger_class()(
        save_dir=save_dir, offline=mode == "offline", mode=mode, **kwargs
    )
    logger.seqlab_mode = (mode, reason)
    return logger


def start_wandb_runs(loggers) -> None:
    """Start the run of every `EarlyWandbLogger` among ``loggers`` in the background."""
    for logger in loggers:
        if callable(getattr(logger, "start_early", None)):
            logger.start_early()


# ----------------------------------------------------------------------------- early start
# W&B costs ~2 s before the first step (import wandb ~1 s, its service ~0.2 s, the run ~0.7 s
# offline, more online). `prestart_wandb` imports wandb and starts its service in a thread
# while Lightning is imported; `EarlyWandbLogger` starts the run in a thread while the data
# loads. Whoever needs the run (`experiment`) waits for it; errors surface there.

_THREADS: list[threading.Thread] = []


def _rank_zero() -> bool:
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


def _wandb_off() -> bool:
    return os.environ.get("WANDB_MODE") == "disabled" or os.environ.get(
        "WANDB_DISABLED", ""
    ).lower() in {"1", "true", "yes"}


def prestart_wandb() -> None:
    """Import wandb and start its service (``wandb.setup()``) in a daemon thread, once per
    process (rank zero, unless W&B is disabled). Never prompts: setup needs no account."""
    if _THREADS or _wandb_off() or not _rank_zero():
        return
    os.environ.setdefault("WANDB_CONSOLE", "off")

    def setup() -> None:
        try:
            import wandb

            wandb.setup()
        except Exception as err:  # wandb.init reports it again, on the run's thread
            log.debug("W&B early setup failed: %r", err)

    thread = threading.Thread(target=setup, name="seqlab-wandb-setup", daemon=True)
    _THREADS.append(thread)
    thread.start()


def wait_for_wandb() -> None:
    """Wait for the early W&B threads (setup and run start) of this process."""
    for thread in list(_THREADS):
        thread.join()


_EARLY_CLASS: list[type] = []


def _early_logger_class() -> type:
    """`EarlyWandbLogger`, a subclass of Lightning's WandbLogger (built on first use, so
    that importing this module does not import Lightning)."""
    if _EARLY_CLASS:
        return _EARLY_CLASS[0]
    from lightning.pytorch.loggers import WandbLogger

    class EarlyWandbLogger(WandbLogger):
        """Lightning's WandbLogger whose ``wandb.init`` runs in a background thread from
        `start_early` on (rank zero only); ``experiment`` waits for that thread and raises
        its error, if any, so nothing logs before the run exists."""

        _starter: threading.Thread | None = None
        _early_error: BaseException | None = None

        def start_early(self) -> None:
            mode = getattr(self, "seqlab_mode", ("online", ""))[0]
            if mode == "disabled" or not _rank_zero():
                return
            if self._experiment is not None or self._starter is not None:
                return
            before = list(_THREADS)

            def init() -> None:
                for thread in before:  # the service first (wandb.setup)
                    thread.join()
                try:
                    WandbLogger.experiment.fget(self)
                except BaseException as err:  # raised by `experiment`, on the main thread
                    self._early_error = err

            self._starter = threading.Thread(target=init, name="seqlab-wandb-init", daemon=True)
            _THREADS.append(self._starter)
            self._starter.start()

        @property
        def experiment(self):
            starter = self._starter
            if starter is not None:
                starter.join()
                self._starter = None
                error, self._early_error = self._early_error, None
                if error is not None:
                    raise error
            return super().experiment

        def __getstate__(self):
            state = super().__getstate__()
            state.pop("_starter", None)
            state.pop("_early_error", None)
            return state

    EarlyWandbLogger.__module__ = __name__
    EarlyWandbLogger.__qualname__ = "EarlyWandbLogger"  # pickled (ddp_spawn) by this name
    _EARLY_CLASS.append(EarlyWandbLogger)
    return EarlyWandbLogger


def __getattr__(name: str):  # seqlab.tracking.EarlyWandbLogger, built on first use
    if name == "EarlyWandbLogger":
        return _early_logger_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def wandb_loggers(trainer_or_loggers, *, shown: bool = False) -> list:
    """The W&B loggers among a trainer's loggers (or a list of loggers, or one logger).

    The one place that decides what counts as a W&B logger: Lightning's ``WandbLogger`` and
    its subclasses (including the one `wandb_logger` builds). Does not import wandb.
    ``shown=True`` leaves out those in ``disabled`` mode (media skip the work for them).
    """
    from lightning.pytorch.loggers.wandb import WandbLogger

    loggers = getattr(trainer_or_loggers, "loggers", trainer_or_loggers)
    if loggers is None:
        return []
    if not isinstance(loggers, (list, tuple)):
        loggers = [loggers]
    found = [logger for logger in loggers if isinstance(logger, WandbLogger)]
    if shown:
        found = [x for x in found if getattr(x, "seqlab_mode", ("online",))[0] != "disabled"]
    return found


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

    wait_for_wandb()  # a run still starting in the background is finished too
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
