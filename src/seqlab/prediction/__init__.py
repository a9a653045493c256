"""Use what you trained: predictions on new data from a checkpoint alone.

``predict(task, spec, cfg) -> pandas.DataFrame`` (long format) routes by the data's task:

- ``classification`` of series (`seqlab.prediction.series`): a new ``.ts`` file or a long-format
  CSV; of images (`seqlab.prediction.images`): a folder of image files or a ``.npy`` array;
- ``forecasting``: `seqlab.prediction.forecasting` (its own room, imported by name);
- language models and text-to-image: `generate.py` does it; one line says how.

Everything a prediction needs travels in the checkpoint's ``DataSpec`` (class names, channel
statistics, image size, pixel range); new data that does not fit is refused in one line.
"""

from __future__ import annotations

import importlib
from typing import Any

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError

# the module per kind of data; forecasting's is written beside the forecasting data
MODULES = {
    "series": "seqlab.prediction.series",
    "images": "seqlab.prediction.images",
    "forecasting": "seqlab.prediction.forecasting",
}


def kind_of_prediction(task: Any, spec: DataSpec, ckpt_path: str = "") -> str:
    """Which prediction module serves this checkpoint, or a one-line refusal."""
    where = f"ckpt_path: '{ckpt_path}'" if ckpt_path else "ckpt_path"
    if hasattr(task, "score"):  # a CLIP (kind contrastive) on the caption data
        raise SeqlabError(
            f"{where} is a CLIP: it scores drawings against their captions. Fix: python "
            f"generate.py ckpt_path=<a DALL·E run>/checkpoints/last.ckpt "
            f'rerank_ckpt={ckpt_path or "..."} candidates=8 prompt="a handwritten 7"'
        )
    if spec.task in ("language_modeling", "text_to_image"):
        what = "a language model" if spec.task == "language_modeling" else "a text-to-image model"
        example = (
            'prompt="ROMEO:"' if spec.task == "language_modeling" else 'prompt="a handwritten 7"'
        )
        raise SeqlabError(
            f"{where} is {what}: it generates rather than labels new data. Fix: "
            f"python generate.py ckpt_path={ckpt_path or '...'} {example}"
        )
    if spec.task == "forecasting":
        return "forecasting"
    if spec.task == "classification":
        from seqlab.tasks.classification import ClassificationTask

        if not isinstance(task, ClassificationTask):
            raise SeqlabError(
                f"{where} is a {type(task).__name__} (it reconstructs images, it does not label "
                "them). Fix: a classifier checkpoint, e.g. from experiment=vit_mnist."
            )
        return "images" if spec.image_shape else "series"
    raise SeqlabError(
        f"{where}: predict.py has no prediction for task {spec.task!r}. Fix: eval.py scores "
        "it on its test split."
    )


def predict(task: Any, spec: DataSpec, cfg: Any) -> Any:
    """Predictions of ``task`` on the data at ``cfg.data.path`` as a long DataFrame."""
    kind = kind_of_prediction(task, spec, str(cfg.get("ckpt_path") or ""))
    try:
        module = importlib.import_module(MODULES[kind])
    except ModuleNotFoundError as err:
        if err.name != MODULES[kind]:
            raise
        raise SeqlabError(
            f"ckpt_path: a {kind} checkpoint, and this seqlab has no {MODULES[kind]} yet. "
            "Fix: update seqlab, or score the checkpoint with eval.py."
        ) from err
    return module.predict(task, spec, cfg)
