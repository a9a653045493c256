"""Bad user input ends a single run with one clear line on stderr, not a traceback."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from seqlab.errors import SeqlabError

log = logging.getLogger("seqlab")


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def exit_on_user_error(task: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            try:
                return task(*args, **kwargs)
            except Exception as err:
                # Hydra wraps errors raised while instantiating a config node
                cause = err.__cause__
                if type(err).__name__ == "InstantiationException" and isinstance(
                    cause, SeqlabError
                ):
                    raise cause from None
                raise
        except SeqlabError as err:
            if _in_multirun():
                raise  # the sweep decides what a failed job means
            log.debug("user error", exc_info=True)
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper
