"""Saving figures: a PNG in the run folder and, when a W&B logger is active, an image there."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def save_figure(fig, trainer, name: str) -> Path:
    """Write ``<run dir>/plots/<name>.png`` and log it to every W&B logger."""
    import matplotlib.pyplot as plt

    out = Path(trainer.default_root_dir) / "plots" / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(out)  # atomic: never a half-written plot
    plt.close(fig)
    for logger in trainer.loggers:
        if type(logger).__name__ == "WandbLogger":
            logger.log_image(key=f"plots/{name}", images=[str(out)])
    log.info("plot saved: %s", out)
    return out


def matplotlib_headless() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
