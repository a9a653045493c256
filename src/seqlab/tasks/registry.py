"""The data decides the task, the model decides the backbone.

``build_task`` picks the LightningModule for the data's ``DataSpec.task`` and checks that
the backbone named by the model config can serve it; ``load_task`` rebuilds a task from
a checkpoint path alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import get_class

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.tasks.base import to_plain

TASKS: dict[str, str] = {
    "forecasting": "seqlab.tasks.forecasting.ForecastingTask",
    "language_modeling": "seqlab.tasks.language_modeling.LanguageModelingTask",
}

# backbone class -> tasks it can serve (sequence backbones read (B, T, C) inputs).
SEQUENCE_TASKS = ("forecasting", "language_modeling", "classification")
BACKBONE_TASKS: dict[str, tuple[str, ...]] = {
    "seqlab.nn.recurrent.RNN": SEQUENCE_TASKS,
    "seqlab.nn.recurrent.LSTM": SEQUENCE_TASKS,
    "seqlab.nn.recurrent.GRU": SEQUENCE_TASKS,
    "seqlab.nn.ar.AR": SEQUENCE_TASKS,
    "seqlab.nn.transformer.GPTBackbone": SEQUENCE_TASKS,
}


def models_for(task: str) -> list[str]:
    return sorted(
        t.rsplit(".", 1)[-1].lower() for t, tasks in BACKBONE_TASKS.items() if task in tasks
    )


def build_task(model: Any, spec: DataSpec, data: Any = None):
    model = to_plain(model)
    target = model["backbone"]["_target_"]
    if spec.task not in TASKS:
        raise SeqlabError(
            f"data: task {spec.task!r} has no task module yet; known: {sorted(TASKS)}."
        )
    supported = BACKBONE_TASKS.get(target)
    if supported is not None and spec.task not in supported:
        raise SeqlabError(
            f"model: backbone {target} cannot do {spec.task}; models that fit this data: "
            f"{', '.join(models_for(spec.task))}."
        )
    task_cls = get_class(TASKS[spec.task])
    return task_cls(model=model, spec=spec.to_dict(), data=to_plain(data))


def load_task(ckpt_path: str | None, map_location: str = "cpu"):
    """Rebuild the task (backbone, heads, weights) from a checkpoint written by seqlab."""
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
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
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
    task_cls = get_class(checkpoint["seqlab_task"])
    task = task_cls(**checkpoint["hyper_parameters"])
    task.load_state_dict(checkpoint["state_dict"])
    return task, checkpoint
