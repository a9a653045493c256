"""The data decides the task, the model decides the backbone.

``build_task`` picks the LightningModule for the data's ``DataSpec.task`` and the backbone's
declared kind, after checking the backbone's class against the contract
(`seqlab.nn.contract`); ``load_task`` rebuilds a task from a checkpoint path alone.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from hydra.utils import get_class

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.nn.contract import TASKS, check_backbone_class, kind_of, may_be_causal, tasks_of
from seqlab.provenance import differences
from seqlab.security import check_checkpoint, user_trusted
from seqlab.tasks.base import to_plain
from seqlab.tasks.resolve import resolve

log = logging.getLogger(__name__)

# The task modules. Each declares on its class the (task, backbone kind) pairs it serves;
# backbones declare their kind and capabilities (seqlab.nn.contract), and the tasks a backbone
# serves are derived from both (`tasks_for`). A new backbone needs no entry.
TASK_MODULES = (
    "seqlab.tasks.forecasting.ForecastingTask",
    "seqlab.tasks.seq2seq.Seq2SeqForecastingTask",
    "seqlab.tasks.language_modeling.LanguageModelingTask",
    "seqlab.tasks.classification.ClassificationTask",
    "seqlab.tasks.image_tokenizer.ImageTokenizerTask",
    "seqlab.tasks.text_to_image.TextToImageTask",
    "seqlab.tasks.contrastive.ContrastiveTask",
)


def task_classes() -> dict[tuple[str, str], type]:
    """(task, backbone kind) -> the task module serving it, read from the classes."""
    table: dict[tuple[str, str], type] = {}
    for path in TASK_MODULES:
        cls = get_class(path)
        for pair in cls.serves:
            table[tuple(pair)] = cls
    return table


# tasks whose module reads the backbone's output at every step (or the last one)
READS_EVERY_STEP = ("forecasting", "language_modeling")


def tasks_for(cls: type) -> tuple[str, ...]:
    """The tasks a backbone class serves, derived: each task whose module serves its kind,
    language modelling only for a model that can be causal, classification only for one that
    pools a series into one vector (``pooled``), narrowed by the class's own
    ``tasks`` where it declares them (seqlab.nn.contract)."""
    kind, narrowed = kind_of(cls), tasks_of(cls)
    derived = []
    for task, served_kind in task_classes():
        if served_kind != kind or task in derived:
            continue
        if task == "language_modeling" and not may_be_causal(cls):
            continue
        if getattr(cls, "pooled", False) and task in READS_EVERY_STEP:
            continue  # one vector per series: nothing to read step by step
        if narrowed and task not in narrowed:
            continue
        derived.append(task)
    return tuple(derived)


def backbone_class(model: dict) -> type:
    target = model.get("backbone", {}).get("_target_")
    try:
        return get_class(str(target))
    except Exception as err:
        raise SeqlabError(
            f"model.backbone._target_={target}: cannot import it ({type(err).__name__}: {err}). "
            "Fix: a dotted path to a class on the Python path, e.g. mypkg.models.MyNet."
        ) from err


def _model_configs() -> dict[str, str]:
    """`model=` config name -> its backbone's ``_target_`` (configs/model/*.yaml)."""
    import os

    folder = Path(os.environ.get("SEQLAB_ROOT", ".")) / "configs" / "model"
    stats = [(f, f.stat()) for f in sorted(folder.glob("*.yaml"))]
    # parsed again only when a file is added, removed or edited
    return dict(_backbone_targets(tuple((f, s.st_mtime_ns, s.st_size) for f, s in stats)))


@functools.lru_cache(maxsize=8)
def _backbone_targets(files: tuple[tuple[Path, int, int], ...]) -> tuple[tuple[str, str], ...]:
    import yaml

    targets = []
    for config, _, _ in files:
        target = ((yaml.safe_load(config.read_text()) or {}).get("backbone") or {}).get("_target_")
        if target:
            targets.append((config.stem, str(target)))
    return tuple(targets)


def models_for(task: str) -> list[str]:
    """The `model=` configs whose backbone serves ``task`` (for error messages)."""
    names = []
    for name, target in _model_configs().items():
        try:
            if task in tasks_for(get_class(target)):
                names.append(name)
        except Exception:  # a config whose class does not import here
            continue
    return names


def model_name(cls: type) -> str:
    """The `model=` config of a backbone class, or its dotted path."""
    path = f"{cls.__module__}.{cls.__qualname__}"
    for name, target in _model_configs().items():
        try:
            if get_class(target) is cls:  # seqlab.nn.transformer.GPTBackbone is re-exported
                return name
        except Exception:
            continue
    return path


def build_task(model: Any, spec: DataSpec, data: Any = None):
    """The task for this data around the backbone this model config names.

    The data decides the task, the backbone's declared kind picks the task module, and every
    value that depends on the data is resolved once (`seqlab.tasks.resolve`) before it is built.
    """
    model = to_plain(model)
    cls = backbone_class(model)
    check_backbone_class(cls, spec.task)
    refuse_other_tasks(cls, spec.task)
    task_cls = own_task_module(model, spec.task, kind_of(cls))
    task_cls = task_cls or task_classes().get((spec.task, kind_of(cls)))
    if task_cls is None and spec.task not in TASKS:
        raise SeqlabError(
            f"data: the task type {spec.task!r} is none of seqlab's {list(TASKS)}. Fix: "
            f"model.task_module=<your SeqlabTask subclass serving ({spec.task!r}, "
            f"{kind_of(cls)!r})> (README: Add your own task type)."
        )
    if task_cls is None:
        raise SeqlabError(
            f"data: no task module serves {spec.task} with a {kind_of(cls)} backbone "
            f"({cls.__qualname__}); models that fit this data: {', '.join(models_for(spec.task))}."
        )
    resolved = resolve(model, spec, cls, load_task)
    task = task_cls(
        model=resolved.model, spec=spec.to_dict(), data=to_plain(data), **resolved.extra
    )
    resolved.finish(task)
    return task


def own_task_module(model: dict, task: str, kind: str) -> type | None:
    """``model.task_module``: a task module from the user's package (a new task type)."""
    from seqlab.tasks.base import SeqlabTask

    path = model.get("task_module")
    if not path:
        return None
    try:
        cls = get_class(str(path))
    except Exception as err:
        raise SeqlabError(
            f"model.task_module={path}: cannot import it ({type(err).__name__}: {err}). Fix: a "
            "dotted path to a SeqlabTask subclass on the Python path."
        ) from err
    if not (isinstance(cls, type) and issubclass(cls, SeqlabTask)):
        raise SeqlabError(
            f"model.task_module={path} is not a seqlab task. Fix: subclass "
            "seqlab.tasks.base.SeqlabTask (README: Add your own task type)."
        )
    if (task, kind) not in {tuple(pair) for pair in cls.serves}:
        raise SeqlabError(
            f"model.task_module={path} serves {list(cls.serves)}, not ({task!r}, {kind!r}) "
            "(this data's task and the backbone's kind). Fix: add that pair to its `serves`."
        )
    return cls


def refuse_other_tasks(cls: type, task: str) -> None:
    """A backbone that declares other tasks: one line naming the models that fit."""
    tasks = tasks_for(cls)
    if task in TASKS and task not in tasks:
        raise SeqlabError(
            f"model={model_name(cls)} cannot do {task}; models that fit this data: "
            f"{', '.join(models_for(task))}."
        )


def read_checkpoint(ckpt_path: str | None, map_location: str = "cpu") -> tuple[Path, dict]:
    """A seqlab checkpoint as a plain dict, opened without running anything from it."""
    import torch

    if not ckpt_path:
        raise SeqlabError("ckpt_path is not set. Fix: ckpt_path=logs/.../checkpoints/last.ckpt")
    path = Path(str(ckpt_path))
    if not path.is_file():
        raise SeqlabError(
            f"ckpt_path: '{path}' does not exist. Fix: point it at a .ckpt file in a run's "
            "checkpoints/ folder (quote it: 'ckpt_path=\"...epoch=3.ckpt\"')."
        )
    try:
        # weights_only: unpickling is restricted to tensors and plain containers, so a
        # checkpoint file cannot run code when it is loaded.
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise SeqlabError(
            f"ckpt_path: '{path}' is not a PyTorch/Lightning checkpoint ({type(err).__name__}). "
            "Fix: use a .ckpt written by `python train.py` (checkpoints/best or last.ckpt)."
        ) from err
    if not isinstance(checkpoint, dict) or "seqlab_task" not in checkpoint:
        raise SeqlabError(
            f"ckpt_path: '{path}' is not a seqlab checkpoint (no 'seqlab_task' entry). "
            "Fix: use a .ckpt written by `python train.py`."
        )
    return path, checkpoint


def check_trusted_checkpoint(ckpt_path: str | Path) -> dict:
    """A checkpoint (as a dict) whose every named class passed the allowlist."""
    path, checkpoint = read_checkpoint(str(ckpt_path))
    check_checkpoint(checkpoint, str(path), user_trusted())
    return checkpoint


# modules that moved: checkpoints written before the move name the old paths
MOVED_MODULES = {
    "seqlab.nn.image_tokenizer.": "seqlab.nn.text_to_image.image_tokenizer.",
    "seqlab.nn.dalle.": "seqlab.nn.text_to_image.dalle.",
}


def moved_targets(value: Any) -> Any:
    """``_target_`` strings (at any depth) that name a moved module, renamed to its new path."""
    if isinstance(value, dict):
        return {k: moved_targets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [moved_targets(v) for v in value]
    if isinstance(value, str):
        for old, new in MOVED_MODULES.items():
            if value.startswith(old):
                return new + value[len(old) :]
    return value


def load_task(ckpt_path: str | None, map_location: str = "cpu"):
    """Rebuild the task (backbone, heads, weights) from a checkpoint written by seqlab."""
    path, checkpoint = read_checkpoint(ckpt_path, map_location)
    if isinstance(checkpoint.get("hyper_parameters"), dict):
        checkpoint["hyper_parameters"] = moved_targets(checkpoint["hyper_parameters"])
    # Nothing named in the file is imported or called before it passes the allowlist.
    task_cls = check_checkpoint(checkpoint, str(path), user_trusted())
    task = task_cls(**checkpoint["hyper_parameters"])
    task.load_state_dict(checkpoint["state_dict"])
    for note in differences(checkpoint.get("seqlab_provenance")):
        log.warning("%s: %s", path.name, note)
    return task, checkpoint
