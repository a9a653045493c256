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


# where a target's **kwargs go, when it is not its base class (`super().__init__(**kwargs)`)
KWARGS_GO_TO = {
    "seqlab.tracking.wandb_logger": ("lightning.pytorch.loggers.WandbLogger", "wandb.init"),
    "lightning.pytorch.loggers.WandbLogger": ("wandb.init",),
}
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _takes_kwargs(fn) -> bool:
    params = inspect.signature(fn).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _callables(target_name: str) -> list:
    """The target, then where its **kwargs go: base classes' __init__, KWARGS_GO_TO."""
    target = get_method(target_name)
    if inspect.isclass(target):
        chain = [c.__dict__["__init__"] for c in target.__mro__[:-1] if "__init__" in c.__dict__]
    else:
        chain = [target]
    for name in KWARGS_GO_TO.get(target_name, ()):
        chain += _callables(name)
    return chain


def accepted_keys(target_name: str) -> tuple[set[str], bool]:
    """(the keyword names the target accepts, following its **kwargs; whether the chain ends
    in **kwargs nobody names, i.e. unknown keys cannot be told from valid ones)."""
    names: set[str] = set()
    open_ended = True
    for fn in _callables(target_name):
        names |= {n for n, p in inspect.signature(fn).parameters.items() if p.kind in _NAMED}
        open_ended = _takes_kwargs(fn)
        if not open_ended:
            break
    return names, open_ended


def check_signature(path: str, node: DictConfig) -> None:
    names, open_ended = accepted_keys(node._target_)
    unknown = [k for k in node if not str(k).startswith("_") and k not in names]
    assert not unknown, f"{path}: keys {unknown} are not parameters of {node._target_}" + (
        " (it takes **kwargs: name where they go in KWARGS_GO_TO)" if open_ended else ""
    )


def test_the_signature_check_follows_kwargs_and_catches_a_misspelt_key():
    """A typo in a config for a **kwargs target is caught (before, such targets were skipped)."""
    ok = OmegaConf.create({"_target_": "seqlab.tracking.wandb_logger", "save_dir": "x"})
    ok.project, ok.log_model = "seqlab", False  # wandb.init's and WandbLogger's own
    check_signature("logger.wandb", ok)
    for target, key in [
        ("seqlab.tracking.wandb_logger", "projekt"),
        ("seqlab.data.images.mnist_captions.MNISTCaptionsDataModule", "val_fraction"),
        ("seqlab.callbacks.early_stopping.EarlyStopping", "patiense"),
    ]:
        node = OmegaConf.create({"_target_": target, key: 1})
        with pytest.raises(AssertionError, match=key):
            check_signature("x", node)


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
    """The objects this option selects build, each of the kind its group promises (one
    composition serves both checks). experiment, debug and hparams_search options build all
    the cheap parts; their data and task are set up in the slow test below."""
    import lightning as L
    import torch
    from lightning.pytorch.loggers import Logger

    whole = group in ("experiment", "debug", "hparams_search")
    if group == "callbacks" or whole:
        for name, conf in (cfg.callbacks or {}).items():
            assert conf is None or isinstance(instantiate(conf), L.Callback), name  # null: off
    if group == "logger" or whole:
        for name, conf in (cfg.logger or {}).items():
            assert conf is None or isinstance(instantiate(conf), Logger), name
    if (group == "trainer" or whole) and cfg.trainer.accelerator != "gpu":  # GPU: composes only
        assert isinstance(instantiate(cfg.trainer), L.Trainer)
    if group == "model" and option != "dalle":  # dalle is sized by its stage 1: tests/tasks
        from seqlab.data.spec import DataSpec
        from seqlab.tasks.registry import backbone_class
        from seqlab.tasks.resolve import resolve

        images = DataSpec(task="classification", image_shape=(1, 28, 28), num_targets=10)
        if option == "clip":  # image-caption pairs: the caption vocabulary and length too
            images = DataSpec(
                task="text_to_image",
                image_shape=(1, 28, 28),
                num_targets=10,
                vocab_size=45,
                seq_len=10,
            )
        model = resolve(cfg.model, images, backbone_class(cfg.model)).model
        backbone = instantiate(model["backbone"])
        assert isinstance(backbone, torch.nn.Module) and sum(  # fixed features: buffers only
            p.numel() for p in [*backbone.parameters(), *backbone.buffers()]
        )
    if (group == "data" or whole) and "hub" not in cfg.data._target_.lower() + option:
        assert isinstance(instantiate(cfg.data), L.LightningDataModule)  # hub: opt-in, not built


@pytest.mark.parametrize("launcher", ["parallel", "slurm"])
def test_launcher_configs_compose(train_cfg, launcher):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra.core.hydra_config import HydraConfig

    train_cfg(f"hydra/launcher={launcher}", fast=False)
    target = HydraConfig.get().launcher._target_
    assert ("Joblib" if launcher == "parallel" else "Slurm") in target


# stage 2 of DALL-E needs a stage-1 checkpoint (tests/tasks/test_text_to_image.py runs both)
NEEDS_A_CHECKPOINT = {"dalle_mnist"}


@pytest.mark.slow  # every experiment's real data set up: minutes; CI runs it with -m slow
@pytest.mark.parametrize("option", options("experiment"))
def test_every_experiment_sets_up_its_data_and_runs_a_batch(tmp_path, option):
    """`python train.py experiment=<option> debug=fdr`: the data set up as configured, the
    task built around it, one batch of fit, validation and test; hub data only when online."""
    from seqlab.cli.train import run
    from tests.conftest import compose_config

    if option in NEEDS_A_CHECKPOINT:
        pytest.skip("stage 2: needs its stage-1 checkpoint (tests/tasks/test_text_to_image.py)")
    cfg = compose_config("train", [f"experiment={option}", "debug=fdr", "logger=csv"], tmp_path)
    if "hub" in cfg.data._target_.lower():
        pytest.skip("hub data: opt-in, never needed by a test")
    cfg.extras.print_config = False
    run(cfg)
    import json

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["global_step"] >= 1, option
    assert summary["test"] and all(v == v for v in summary["test"].values()), summary["test"]
