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
def test_config_composes_matches_signatures_and_builds(train_cfg, group, option):
    overrides = [f"{group}={option}"]
    if group == "hparams_search":
        pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg = train_cfg(*overrides, fast=False)
    OmegaConf.resolve(cfg)
    for path, node in object_configs(cfg):
        if path.startswith("hydra"):
            continue
        check_signature(path, node)
    check_instantiates(group, option, cfg)


def check_instantiates(group: str, option: str, cfg: DictConfig) -> None:
    """The object this option selects builds (one composition serves both checks)."""
    import lightning as L

    if group == "callbacks":
        for name, conf in (cfg.callbacks or {}).items():
            assert isinstance(instantiate(conf), L.Callback), name
    elif group == "logger":
        for conf in (cfg.logger or {}).values():
            assert instantiate(conf) is not None
    elif group == "trainer" and cfg.trainer.accelerator != "gpu":  # a GPU trainer: composes only
        assert isinstance(instantiate(cfg.trainer), L.Trainer)
    elif group == "model" and option != "dalle":  # dalle is sized by its stage 1: tests/tasks
        from seqlab.data.spec import DataSpec
        from seqlab.tasks.registry import backbone_class
        from seqlab.tasks.resolve import resolve

        images = DataSpec(task="classification", image_shape=(1, 28, 28), num_targets=10)
        model = resolve(cfg.model, images, backbone_class(cfg.model)).model
        assert instantiate(model["backbone"]) is not None
    elif group == "data" and "hub" not in option:  # network sources are opt-in, never built
        assert instantiate(cfg.data) is not None


@pytest.mark.parametrize("launcher", ["parallel", "slurm"])
def test_launcher_configs_compose(train_cfg, launcher):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra.core.hydra_config import HydraConfig

    train_cfg(f"hydra/launcher={launcher}", fast=False)
    target = HydraConfig.get().launcher._target_
    assert ("Joblib" if launcher == "parallel" else "Slurm") in target
