"""Every config file composes; every object config instantiates and matches its signature."""

from __future__ import annotations

import inspect

import pytest
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from tests.conftest import CONFIGS

GROUPS = [
    "model",
    "data",
    "trainer",
    "logger",
    "callbacks",
    "debug",
    "experiment",
    "hparams_search",
]


def options(group: str) -> list[str]:
    """The group's configs, without the `custom` templates (their _target_ is yours: ???)."""
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml") if p.stem != "custom")


ALL = [(g, o) for g in GROUPS for o in options(g)]


def object_configs(node, path=""):
    """Yield (path, config) for every mapping with a _target_ in a config tree."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        for key in node:
            if key.startswith("_"):
                continue
            yield from object_configs(node._get_node(key), f"{path}.{key}".lstrip("."))


def check_signature(path: str, node: DictConfig) -> None:
    target = get_method(node._target_) if "." in node._target_ else None
    params = inspect.signature(target).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = [k for k in node if not str(k).startswith("_") and k not in params]
    assert not unknown, f"{path}: keys {unknown} are not parameters of {node._target_}"


@pytest.mark.parametrize(("group", "option"), ALL, ids=[f"{g}={o}" for g, o in ALL])
def test_config_composes_and_matches_signatures(train_cfg, group, option):
    overrides = [f"{group}={option}"]
    if group == "hparams_search":
        pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg = train_cfg(*overrides, fast=False)
    OmegaConf.resolve(cfg)
    for path, node in object_configs(cfg):
        if path.startswith("hydra"):
            continue
        check_signature(path, node)


def test_trainer_logger_callback_and_model_configs_instantiate(train_cfg):
    import lightning as L

    for option in options("callbacks"):
        cfg = train_cfg(f"callbacks={option}", fast=False)
        for name, conf in (cfg.callbacks or {}).items():
            assert isinstance(instantiate(conf), L.Callback), name
    for option in options("logger"):
        cfg = train_cfg(f"logger={option}", fast=False)
        for conf in cfg.logger.values():
            assert instantiate(conf) is not None
    for option in options("trainer"):
        cfg = train_cfg(f"trainer={option}", fast=False)
        if cfg.trainer.accelerator == "gpu":
            continue  # composes (checked above); needs a GPU to build
        assert isinstance(instantiate(cfg.trainer), L.Trainer)
    from seqlab.data.spec import DataSpec
    from seqlab.tasks.registry import backbone_class
    from seqlab.tasks.resolve import resolve

    images = DataSpec(task="classification", image_shape=(1, 28, 28), num_targets=10)
    for option in options("model"):
        if option == "dalle":
            continue  # sized by the data and the stage-1 checkpoint: see tests/tasks
        cfg = train_cfg(f"model={option}", fast=False)
        model = resolve(cfg.model, images, backbone_class(cfg.model)).model
        assert instantiate(model["backbone"]) is not None


def test_data_configs_instantiate(train_cfg):
    for option in options("data"):
        cfg = train_cfg(f"data={option}", fast=False)
        if "hub" in option:
            continue  # network sources are opt-in and never built in tests
        datamodule = instantiate(cfg.data)
        assert datamodule is not None


@pytest.mark.parametrize("launcher", ["parallel", "slurm"])
def test_launcher_configs_compose(train_cfg, launcher):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra.core.hydra_config import HydraConfig

    train_cfg(f"hydra/launcher={launcher}", fast=False)
    target = HydraConfig.get().launcher._target_
    assert ("Joblib" if launcher == "parallel" else "Slurm") in target
