"""The data decides the task, the model decides the backbone.

``build_task`` picks the LightningModule for the data's ``DataSpec.task`` and checks that
the backbone named by the model config can serve it; ``load_task`` rebuilds a task from
a checkpoint path alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.utils import get_class

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.provenance import differences
from seqlab.security import check_checkpoint, user_trusted
from seqlab.tasks.base import to_plain

log = logging.getLogger(__name__)

TASKS: dict[str, str] = {
    "forecasting": "seqlab.tasks.forecasting.ForecastingTask",
    "language_modeling": "seqlab.tasks.language_modeling.LanguageModelingTask",
    "classification": "seqlab.tasks.classification.ClassificationTask",
    "text_to_image": "seqlab.tasks.text_to_image.TextToImageTask",
}

# backbone class -> tasks it can serve (sequence backbones read (B, T, C) inputs).
SEQUENCE_TASKS = ("forecasting", "language_modeling", "classification")
BACKBONE_TASKS: dict[str, tuple[str, ...]] = {
    "seqlab.nn.recurrent.RNN": SEQUENCE_TASKS,
    "seqlab.nn.recurrent.LSTM": SEQUENCE_TASKS,
    "seqlab.nn.recurrent.GRU": SEQUENCE_TASKS,
    "seqlab.nn.ar.AR": SEQUENCE_TASKS,
    "seqlab.nn.transformer.GPTBackbone": SEQUENCE_TASKS,
    # bidirectional: it sees the whole window, so it cannot be a language model
    "seqlab.nn.transformer.TransformerEncoder": ("forecasting", "classification"),
    "seqlab.nn.transformer.EncoderDecoder": ("forecasting",),
    "seqlab.nn.vit.ViT": ("classification",),
    # stage 1 of text-to-image trains on any image data; stage 2 needs captions
    "seqlab.nn.image_tokenizer.VQVAE": ("text_to_image", "classification"),
    "seqlab.nn.dalle.DALLE": ("text_to_image",),
}


# (task, backbone) pairs served by a specialised task module.
_SEQ2SEQ = "seqlab.tasks.seq2seq.Seq2SeqForecastingTask"
_TOKENIZER = "seqlab.tasks.image_tokenizer.ImageTokenizerTask"
TASK_FOR_BACKBONE: dict[tuple[str, str], str] = {
    ("forecasting", "seqlab.nn.transformer.EncoderDecoder"): _SEQ2SEQ,
    ("text_to_image", "seqlab.nn.image_tokenizer.VQVAE"): _TOKENIZER,
    ("classification", "seqlab.nn.image_tokenizer.VQVAE"): _TOKENIZER,
}


# backbone class -> its `model=` config name, for error messages
MODEL_NAMES: dict[str, str] = {
    "seqlab.nn.recurrent.RNN": "rnn",
    "seqlab.nn.recurrent.LSTM": "lstm",
    "seqlab.nn.recurrent.GRU": "gru",
    "seqlab.nn.ar.AR": "ar",
    "seqlab.nn.transformer.GPTBackbone": "gpt",
    "seqlab.nn.transformer.TransformerEncoder": "transformer",
    "seqlab.nn.transformer.EncoderDecoder": "seq2seq",
    "seqlab.nn.vit.ViT": "vit",
    "seqlab.nn.image_tokenizer.VQVAE": "vqvae",
    "seqlab.nn.dalle.DALLE": "dalle",
}


def models_for(task: str) -> list[str]:
    return sorted(
        MODEL_NAMES.get(t, t.rsplit(".", 1)[-1].lower())
        for t, tasks in BACKBONE_TASKS.items()
        if task in tasks
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
            f"model={MODEL_NAMES.get(target, target)} cannot do {spec.task}; models that fit this data: "
            f"{', '.join(models_for(spec.task))}."
        )
    block = model["backbone"].get("block_size")
    if block is not None and spec.seq_len > int(block):
        raise SeqlabError(
            f"model.backbone.block_size={block} is shorter than the data's sequences "
            f"({spec.seq_len} steps: data.block_size or data.window). Fix: "
            f"model.backbone.block_size={spec.seq_len} or shorter data sequences."
        )
    task_cls = get_class(TASK_FOR_BACKBONE.get((spec.task, target), TASKS[spec.task]))
    return task_cls(model=model, spec=spec.to_dict(), data=to_plain(data))


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


def load_task(ckpt_path: str | None, map_location: str = "cpu"):
    """Rebuild the task (backbone, heads, weights) from a checkpoint written by seqlab."""
    path, checkpoint = read_checkpoint(ckpt_path, map_location)
    # Nothing named in the file is imported or called before it passes the allowlist.
    task_cls = check_checkpoint(checkpoint, str(path), user_trusted())
    task = task_cls(**checkpoint["hyper_parameters"])
    task.load_state_dict(checkpoint["state_dict"])
    for note in differences(checkpoint.get("seqlab_provenance")):
        log.warning("%s: %s", path.name, note)
    return task, checkpoint
