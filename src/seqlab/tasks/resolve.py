"""Values that depend on the data, resolved once, before a task is built.

The model config says what the user chose; the data's `DataSpec` says what the data is. Here,
and only here, the one is completed from the other (no task writes into its own config):

- image backbones and tokenizers: ``image_size`` and ``channels`` from the images;
- AR(τ) with ``order`` left unset (null): for forecasting the window, else the class default;
- any backbone with a ``max_len``: left unset (null) it becomes the data's sequence length;
  set, it must be at least that long;
- a backbone that ``reads_raw_inputs`` (no input projection: MiniROCKET): ``input_size`` is
  the data's channel count (a value set by hand must agree);
- CLIP (kind ``contrastive``): the caption vocabulary, length and pad id from the data;
- text-to-image (DALL·E): the frozen stage-1 VQ-VAE is read from ``model.tokenizer_ckpt``
  (through the checkpoint allowlist), and the sizes it implies (image vocabulary, code grid)
  plus the caption sizes go into the backbone config; its weights are loaded into the built
  task by `Resolved.finish`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch

from seqlab.data.spec import DataSpec
from seqlab.errors import SeqlabError
from seqlab.nn.checks import field as config_field
from seqlab.nn.contract import kind_of
from seqlab.tasks.base import to_plain

IMAGE_FIELDS = ("image_size", "channels")


@dataclass
class Resolved:
    model: dict
    extra: dict[str, Any] = field(default_factory=dict)  # more task constructor arguments
    tokenizer_weights: dict[str, torch.Tensor] | None = None

    def finish(self, task: Any) -> None:
        if self.tokenizer_weights is not None:
            task.image_tokenizer.load_state_dict(self.tokenizer_weights)


def resolve(model: Any, spec: DataSpec, backbone_cls: type, load_task: Any = None) -> Resolved:
    """``load_task`` (a checkpoint path -> (task, checkpoint)) reads the stage-1 model of
    text-to-image; the registry passes its own, so this module imports nothing above it."""
    model = dict(to_plain(model))
    backbone = dict(model["backbone"])
    params = inspect.signature(backbone_cls).parameters
    kind = kind_of(backbone_cls)
    if spec.image_shape and kind in ("image", "image_tokenizer", "contrastive"):
        backbone.update(image_fields(backbone, spec))
    if "order" in params and backbone.get("order") is None:
        backbone.update(order_field(spec))
        if backbone["order"] is None:
            backbone.pop("order")  # the class default
    if "max_len" in params:
        backbone.update(max_len_field(backbone, spec))
        if backbone.get("max_len") is None:
            backbone.pop("max_len", None)  # no length in the data: the class default
    if getattr(backbone_cls, "reads_raw_inputs", False) and spec.num_features:
        backbone.update(raw_input_field(backbone, spec))
    if kind == "contrastive":
        backbone.update(caption_fields(spec))
    resolved = Resolved(model=model)
    if kind == "text_to_image":
        tokenizer, weights, vqvae = stage_one_tokenizer(model.get("tokenizer_ckpt"), load_task)
        backbone.update(text_to_image_fields(vqvae, spec))
        resolved.extra["tokenizer"] = tokenizer
        resolved.tokenizer_weights = weights
    model["backbone"] = backbone
    return resolved


def image_fields(backbone: dict, spec: DataSpec) -> dict:
    """image_size/channels from the data; a value set by hand must agree with it."""
    C, H, W = spec.image_shape
    wanted = {"image_size": H if H == W else [H, W], "channels": C}
    for name, value in wanted.items():
        given = backbone.get(name)
        if given is not None and _normalised(name, given) != _normalised(name, value):
            raise SeqlabError(
                f"{config_field(name)}={given} does not match the data's images "
                f"({C}x{H}x{W}, channels x height x width). Fix: leave {config_field(name)} "
                f"unset (it is taken from the data) or set it to {value}."
            )
    return wanted


def raw_input_field(backbone: dict, spec: DataSpec) -> dict:
    """input_size of a backbone that reads the raw channels: the data's channel count."""
    given = backbone.get("input_size")
    if given is not None and int(given) != spec.num_features:  # null: from the data
        raise SeqlabError(
            f"{config_field('input_size')}={given}: this backbone reads the raw channels, and "
            f"the data has {spec.num_features}. Fix: leave {config_field('input_size')}=null "
            "(taken from the data)."
        )
    return {"input_size": spec.num_features}


def _normalised(name: str, value: Any) -> Any:
    if name != "image_size" or isinstance(value, int):
        return (value, value) if name == "image_size" else value
    try:
        return tuple(value)
    except TypeError:
        return value


def order_field(spec: DataSpec) -> dict:
    """AR(τ) left at order=null: τ is the forecasting window (the inputs it is given), else
    the class default."""
    if spec.task == "forecasting" and spec.seq_len:
        return {"order": spec.seq_len}
    return {"order": None}


def max_len_field(backbone: dict, spec: DataSpec) -> dict:
    given = backbone.get("max_len")
    if given is None:
        return {"max_len": spec.seq_len} if spec.seq_len else {}
    if spec.seq_len and spec.seq_len > int(given):
        raise SeqlabError(
            f"{config_field('max_len')}={given} is shorter than the data's sequences "
            f"({spec.seq_len} steps: data.block_size or data.window). Fix: "
            f"{config_field('max_len')}=null (the data's length) or shorter data sequences."
        )
    return {}


def stage_one_tokenizer(
    ckpt_path: str | None, load_task: Any
) -> tuple[dict, dict[str, torch.Tensor], Any]:
    """The stage-1 VQ-VAE's config, weights and the model itself, from its checkpoint."""
    if not ckpt_path:
        raise SeqlabError(
            "model.tokenizer_ckpt is not set: the DALL·E stage needs the stage-1 VQ-VAE. Fix: "
            "train it with `python train.py experiment=vqvae_mnist`, then pass "
            "model.tokenizer_ckpt=<that run>/checkpoints/last.ckpt (or run `make dalle`)."
        )
    stage1, _ = load_task(ckpt_path)
    if kind_of(type(stage1.backbone)) != "image_tokenizer":
        raise SeqlabError(
            f"model.tokenizer_ckpt: '{ckpt_path}' is a {type(stage1).__name__} checkpoint, "
            "not a VQ-VAE (stage 1). Fix: use the checkpoint of experiment=vqvae_mnist."
        )
    weights = {k: v.clone() for k, v in stage1.backbone.state_dict().items()}
    return stage1.hparams["model"]["backbone"], weights, stage1.backbone


def text_to_image_fields(image_tokenizer: Any, spec: DataSpec) -> dict:
    """The DALL·E sizes the caption data and the stage-1 VQ-VAE imply."""
    return {
        "text_vocab_size": spec.vocab_size,
        "text_len": spec.seq_len,
        "image_vocab_size": image_tokenizer.codebook_size,
        "image_tokens": image_tokenizer.num_tokens,
        "grid_size": list(image_tokenizer.grid_size),
        "pad_id": spec.extra.get("pad_id", 0),
    }


def caption_fields(spec: DataSpec) -> dict:
    """The caption sizes a CLIP's text encoder reads (vocabulary, length, padding id)."""
    if not spec.vocab_size or not spec.seq_len or not spec.image_shape:
        raise SeqlabError(
            f"data: a CLIP (kind contrastive) learns from image-caption pairs; this data has "
            f"vocab_size={spec.vocab_size}, seq_len={spec.seq_len}, image_shape="
            f"{spec.image_shape}. Fix: data=mnist_captions."
        )
    return {
        "text_vocab_size": spec.vocab_size,
        "text_len": spec.seq_len,
        "pad_id": spec.extra.get("pad_id", 0),
    }
