"""Shared fixtures. Tests never touch the network and never prompt."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

# Set before anything imports datasets/wandb/hydra.
_HF_HOME = tempfile.mkdtemp(prefix="seqlab-hf-")
os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "HF_HOME": _HF_HOME,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_CONSOLE": "off",
        "SEQLAB_ROOT": str(ROOT),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
)
os.environ.pop("WANDB_API_KEY", None)

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

from seqlab.cli.run_dir import register_resolvers  # noqa: E402

register_resolvers()

# Small and quick, but real data and real training.
FAST_RUN = [
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "extras.print_config=false",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
]
# One naming scheme across the backbones: these reach every model that has the field.
FAST_MODEL = {"hidden_size": 16, "num_layers": 1, "dropout": 0.0, "input_size": 16}
FAST = [*FAST_RUN, *(f"model.backbone.{k}={v}" for k, v in FAST_MODEL.items())]


def fast_model_overrides(backbone: DictConfig) -> list[str]:
    """FAST_MODEL for the fields this backbone config has (GPT has no input_size, ...)."""
    return [f"model.backbone.{k}={v}" for k, v in FAST_MODEL.items() if k in backbone]


def compose_config(
    name: str, overrides: list[str], output_dir: Path, mode: str = "RUN"
) -> DictConfig:
    """Compose like `python train.py ...` would, with the run folder at ``output_dir``."""
    from hydra.types import RunMode

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(ROOT)
        cfg.hydra.job.num = 0
        cfg.hydra.mode = RunMode[mode]
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in @hydra.main: the task sees the config without it
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir / "logs")
    return cfg


@pytest.fixture
def train_cfg(tmp_path):
    def make(*overrides: str, fast: bool = True) -> DictConfig:
        if not fast:
            return compose_config("train", list(overrides), tmp_path / "run")
        plain = compose_config("train", [*FAST_RUN, *overrides], tmp_path / "run")
        quick = fast_model_overrides(plain.model.backbone)
        return compose_config("train", [*FAST_RUN, *quick, *overrides], tmp_path / "run")

    yield make
    GlobalHydra.instance().clear()


# float64 comparisons of a module with its reference: equal up to rounding
EXACT = dict(atol=1e-10, rtol=0)

# A real run through the Hydra config, cut to a few batches: end-to-end tests add the model,
# the data and their own sizes.
SHORT = [
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "extras.print_config=false",
    "logger=csv",
]


def train_summary(out: Path, *overrides: str) -> dict:
    """`python train.py <overrides>` into ``out``; returns its summary.json."""
    import json

    from seqlab.cli.train import run

    run(compose_config("train", list(overrides), out))
    GlobalHydra.instance().clear()
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits, set up once (no augmentation)."""
    from seqlab.data.images.datamodule import DigitsDataModule

    dm = DigitsDataModule(augment=False)
    dm.setup()
    return dm


def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup` (`make test`), the tests of a module that share a
    module-scoped fixture (most are a real training run) go to one worker, which builds the
    fixture once instead of once per worker. Without xdist the mark does nothing."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d and d[-1].scope == "module" for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
