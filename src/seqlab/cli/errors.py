"""How a run ends: bad user input is one clear line on stderr, not a traceback; an
interrupted run exits non-zero (130 for SIGINT, 143 for SIGTERM) and says how to resume."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.utils.runtime import in_multirun

log = logging.getLogger("seqlab")


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
        except KeyboardInterrupt:
            _exit_interrupted(signal.SIGINT)
        except SystemExit as stop:
            # Lightning raises SIGTERMException (a SystemExit with no code: exit status 0)
            if type(stop).__name__ == "SIGTERMException":
                _exit_interrupted(signal.SIGTERM)
            raise
        except SeqlabError as err:
            if in_multirun() or os.environ.get("SEQLAB_TRACEBACK") == "1":
                raise  # the sweep decides what a failed job means; or the user asked for it
            # one line, also in debug= modes (SEQLAB_TRACEBACK=1 shows the traceback)
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def _exit_interrupted(signum: signal.Signals) -> None:
    """Last line: what happened and the command that continues the run."""
    from hydra.core.hydra_config import HydraConfig

    hint = ""
    if HydraConfig.initialized():
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        if (run_dir / "checkpoints" / "last.ckpt").is_file():
            hint = f"; resume with: python train.py resume={run_dir}"
        elif HydraConfig.get().job.name == "train":
            hint = "; no checkpoint was written yet (nothing to resume)"
    sys.stdout.flush()
    print(f"interrupted by {signum.name}{hint}", file=sys.stderr, flush=True)
    sys.exit(128 + int(signum))
