"""DataSpec: what a datamodule produces, so a task can size its heads.

The data decides the task; the model decides the backbone. A task module reads the
spec to build its input layer (projection, embedding, patching) and its output head.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.nn.contract import TASKS

TaskName = str  # one of seqlab.nn.contract.TASKS: the one list of task types


@dataclass(frozen=True)
class DataSpec:
    task: TaskName
    # Continuous inputs: features per time step (forecasting, image rows read as a sequence).
    num_features: int = 0
    # Outputs per example: forecast horizon (forecasting) or number of classes (classification).
    num_targets: int = 0
    # Token inputs (language modelling): vocabulary size; 0 when inputs are continuous.
    vocab_size: int = 0
    # Sequence length the datamodule emits (window for prices, block size for text).
    seq_len: int = 0
    # Images: (channels, height, width); empty for non-image data.
    image_shape: tuple[int, ...] = ()
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    # reference scores the task logs beside the model's, per split: {"val": {"majority_acc":
    # 0.11, "dtw_acc": 0.93}, "test": {...}} -> val/baseline_majority_acc, ... (forecasting
    # scores its references itself, per series: seqlab.evaluation.forecasting)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task.isidentifier():
            raise SeqlabError(
                f"DataSpec.task={self.task!r} is not a task name. Fix: one of {list(TASKS)}, "
                "or your own task type's name (a Python identifier, README: Add your own task "
                "type)."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        d = dict(d)
        for key in ("image_shape", "class_names", "feature_names"):
            if key in d and d[key] is not None:
                d[key] = tuple(d[key])
        if "baselines" not in d:  # a checkpoint from before: "baseline_<name>_<split>" extras
            d["extra"], d["baselines"] = split_baselines(dict(d.get("extra") or {}))
        return cls(**d)


def split_baselines(extra: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Flat ``baseline_<name>_<split>`` numbers (old checkpoints, the n-gram cache) -> the
    extras without them, and ``{split: {name: value}}``."""
    baselines: dict[str, dict[str, float]] = {}
    for key in list(extra):
        name, _, split = key.rpartition("_")
        if key.startswith("baseline_") and split in ("val", "test") and name != "baseline":
            value = extra.pop(key)
            if isinstance(value, int | float):
                baselines.setdefault(split, {})[name.removeprefix("baseline_")] = float(value)
    return extra, baselines
