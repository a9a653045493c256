"""Train any seqlab model on any fitting dataset: `python train.py model=lstm data=stocks`.

Kept thin on purpose: Hydra parses `--help` and tab completion before `main` runs, so
nothing heavy is imported at module level.
"""

import os
import sys
import time

os.environ.setdefault("SEQLAB_T0", str(time.time()))  # start-up clock (seqlab.cli.startup)

from pathlib import Path

import hydra
from omegaconf import DictConfig

from seqlab.cli.errors import exit_on_user_error
from seqlab.cli.run_dir import register_resolvers

os.environ.setdefault("SEQLAB_ROOT", str(Path(__file__).resolve().parent))
register_resolvers()  # ${seqlab_run_dir:...} in configs/hydra/default.yaml


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    from seqlab.cli.train import run

    return run(cfg)


if __name__ == "__main__":
    from seqlab.cli.resume import rewrite_argv

    sys.argv = exit_on_user_error(rewrite_argv)(sys.argv, Path(os.environ["SEQLAB_ROOT"]))
    main()
    # a sweep runs every job, writes its table, then reports failed jobs in its exit status
    from seqlab.cli.sweep_callbacks import multirun_exit_status

    sys.exit(multirun_exit_status())
