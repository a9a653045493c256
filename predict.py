"""Predict on new data from a checkpoint alone: `python predict.py ckpt_path=... data.path=...`."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from seqlab.cli.errors import exit_on_user_error
from seqlab.cli.run_dir import register_resolvers

os.environ.setdefault("SEQLAB_ROOT", str(Path(__file__).resolve().parent))
register_resolvers()  # ${seqlab_run_dir:...} in configs/hydra/default.yaml


@hydra.main(version_base="1.3", config_path="configs", config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> str:
    from seqlab.cli.predict import run

    return run(cfg)


if __name__ == "__main__":
    main()
