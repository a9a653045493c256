"""The backbone contract: what a model must offer so that any seqlab task can wrap it.

A **backbone** is a plain ``torch.nn.Module`` (no Lightning, no Hydra). The task around it
adds what the data asks for (an input projection or token embedding, the output head) and
reads only the attributes below. A backbone declares on its **class** what it *is*, never a
list of tasks that must be kept in step with the task modules:

- ``kind``: which interface it has (see `KINDS`; required: no silent guess);
- its capabilities, below (``causal``, ``carries_state``, ...).

The tasks a backbone serves are **derived** (`seqlab.tasks.registry.tasks_for`): every task
whose task module serves its kind (each module's ``serves`` pairs), less language modelling
when the class says ``causal = False`` (or says nothing). A backbone that can do less than
its kind may narrow that with ``tasks`` (a tuple from `TASKS`); a ``pooled`` one (one vector per
series, MiniROCKET) serves classification only. DLinear and N-BEATS summarise
a fixed window into one forecast, so they set ``tasks = ("forecasting",)``.

**Sequence backbones** (``kind = "sequence"``) — RNN, LSTM, GRU, AR, GPT, Transformer encoder:

- ``forward(x, state=None) -> (output, state)``: x ``(B, T, input_size)`` -> output
  ``(B, T, output_size)``; ``state`` is what a later call continues from (a recurrent state,
  a KV cache) or passes through unchanged (None) when the model carries none;
- attributes ``input_size`` and ``output_size`` (ints, after construction);
- ``forward(x, state=None, *, lengths=None)``: with ``lengths`` (B,), the true lengths of
  right-padded sequences, padding never changes a valid step's output (recurrent models pack
  or mask, attention masks padded keys; a causal model can ignore it). A backbone whose
  forward takes no ``lengths`` is fed variable-length data only if it is causal;
- optional: ``carries_state`` (True if chunks fed one after another with the returned state
  equal one full pass: truncated BPTT and stateful streams need it), ``causal`` (True if
  output t depends on inputs <= t only: language modelling needs it), ``max_len`` (longest
  sequence it accepts, None = any), ``new_cache()`` (a fresh state for step-by-step
  generation), ``attention_maps(x)`` (per-layer weights, for plots).
- optional, for fixed-feature models (MiniROCKET, `seqlab.nn.minirocket`): ``pooled`` (True:
  ``forward(x, state=None, *, lengths=None) -> ((B, output_size), None)``, one vector per
  series, pooled over its own steps; the classification task reads it as is);
  ``reads_raw_inputs`` (True: no input projection, x is the data's raw channels and
  ``input_size`` their count, filled in from the data); ``fit(x, lengths)`` with a bool buffer
  ``fitted`` (`fits_on_data`: fitted once by the task on the training split before training,
  returning the training features; never again once ``fitted``, so a resumed run keeps what
  its checkpoint holds).

**Image backbones** (``kind = "image"``) — ViT: constructor arguments ``image_size`` and
``channels`` (filled in from the data when left unset), ``forward(images (B, C, H, W)) ->
features (B, output_size)`` and the attribute ``output_size``.

Specialised kinds pair with one task module each: ``"encoder_decoder"`` (`EncoderDecoder`:
``encode``/``decode``, forecasting by generation), ``"image_tokenizer"`` (VQ-VAE) and
``"text_to_image"`` (DALL·E), and ``"contrastive"`` (CLIP: ``encode_image``/``encode_text``
into one embedding space; it serves the caption data's ``text_to_image`` task through
`seqlab.tasks.contrastive.ContrastiveTask`, since the data is the same image–caption pairs
and the backbone's kind, not the data, says what is learnt from them).

A class from your own package follows the same contract and is used with
``model.backbone._target_=mypkg.MyNet``; `check_backbone_class` and `check_backbone` refuse
one that does not, naming what is missing.
"""

from __future__ import annotations

import inspect
from typing import Any

from seqlab.errors import SeqlabError

TASKS = ("forecasting", "language_modeling", "classification", "text_to_image")
KINDS = (
    "sequence",
    "image",
    "encoder_decoder",
    "image_tokenizer",
    "text_to_image",
    "contrastive",
)


def kind_of(cls: type) -> str:
    return getattr(cls, "kind", "sequence")


def tasks_of(cls: type) -> tuple[str, ...]:
    """The tasks a class narrows itself to (``tasks``), or () when it does not narrow."""
    return tuple(getattr(cls, "tasks", ()) or ())


def may_be_causal(cls: type) -> bool:
    """Whether instances of ``cls`` can be causal: ``causal = True`` on the class, or a
    property decided per instance (an LSTM unless bidirectional); absent means not causal."""
    causal = inspect.getattr_static(cls, "causal", False)
    return causal is True or isinstance(causal, property)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def check_backbone_class(cls: Any, task: str) -> None:
    """Before construction: the class declares what it is and that it serves ``task``."""
    if not inspect.isclass(cls):
        raise SeqlabError(
            f"model.backbone._target_ names {cls!r}, not a class. Fix: point it at an "
            "nn.Module subclass that follows the backbone contract (seqlab.nn.contract)."
        )
    name = _name(cls)
    if not isinstance(getattr(cls, "kind", None), str):
        raise SeqlabError(
            f"model.backbone._target_={name} does not declare its kind. Fix: add a class "
            f"attribute `kind = 'sequence'` (or one of {list(KINDS)}) and, for a sequence "
            "model whose output t reads inputs <= t only, `causal = True`; the contract is in "
            "seqlab.nn.contract (README: Add your own model)."
        )
    tasks = tasks_of(cls)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or kind_of(cls) not in KINDS:
        raise SeqlabError(
            f"{name}: tasks {list(tasks)} / kind {kind_of(cls)!r} are not known. Fix: tasks "
            f"from {list(TASKS)}, kind from {list(KINDS)}."
        )
    forward = getattr(cls, "forward", None)
    params = list(inspect.signature(forward).parameters) if forward else []
    if kind_of(cls) == "sequence" and len(params) < 3 and not _takes_varargs(forward):
        raise SeqlabError(
            f"{name}.forward{inspect.signature(forward) if forward else '()'} must accept "
            "(x, state=None) and return (output, state) (the contract: seqlab.nn.contract's docstring)."
        )


def _takes_varargs(fn: Any) -> bool:
    kinds = {p.kind for p in inspect.signature(fn).parameters.values()}
    return inspect.Parameter.VAR_POSITIONAL in kinds


def check_backbone(backbone: Any, task: str) -> None:
    """After construction: the attributes a task reads are there."""
    cls = type(backbone)
    wanted = {"sequence": ("input_size", "output_size"), "image": ("output_size",)}
    missing = [
        attr
        for attr in wanted.get(kind_of(cls), ())
        if not isinstance(getattr(backbone, attr, None), int)
    ]
    if missing:
        raise SeqlabError(
            f"{_name(cls)} lacks the integer attribute(s) {missing} that the {task} task reads "
            "to size its input and output layers. Fix: set them in __init__ "
            "(seqlab.nn.contract)."
        )
    if task == "language_modeling" and getattr(backbone, "causal", None) is not True:
        if getattr(backbone, "bidirectional", False):
            raise SeqlabError(
                "model.backbone.bidirectional=true reads the future, so it cannot be a language "
                "model (it would see the token it predicts). Fix: "
                "model.backbone.bidirectional=false."
            )
        raise SeqlabError(
            f"{_name(cls)} is not causal (its output at step t may see later steps), so it "
            "cannot be a language model. Fix: a causal model (`causal = True` when output t "
            "depends on inputs <= t only), or a forecasting/classification dataset."
        )


def accepts_lengths(backbone: Any) -> bool:
    """Whether ``forward`` takes the ``lengths`` of right-padded sequences."""
    forward = getattr(type(backbone), "forward", None)
    return forward is not None and "lengths" in inspect.signature(forward).parameters


def fits_on_data(backbone: Any) -> bool:
    """Whether the backbone is fitted from the training data before training (``fit`` and a
    ``fitted`` buffer: fixed features such as MiniROCKET's)."""
    return callable(getattr(backbone, "fit", None)) and hasattr(backbone, "fitted")
