"""Argument checks shared by the architectures: errors name the config field to fix."""

from __future__ import annotations

from collections.abc import Sequence

from seqlab.errors import SeqlabError


def field(name: str) -> str:
    """Where a constructor argument lives in the Hydra config."""
    return f"model.backbone.{name}"


def require_int(setting: str, value: object, least: int = 1) -> int:
    """The one integer check: ``value`` as an int ``>= least``, or an error naming the full
    config field (``data.window``, ``model.backbone.num_layers``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SeqlabError(f"{setting}={value!r} must be an integer >= {least}")
    return int(value)


def check_int(name: str, value: object, least: int = 1) -> int:
    """A backbone constructor argument (``model.backbone.<name>``)."""
    return require_int(field(name), value, least)


def image_hw(image_size: object) -> tuple[int, int]:
    """``image_size`` as (height, width): an int for square images or [height, width]."""
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    elif isinstance(image_size, Sequence) and not isinstance(image_size, str):
        size = tuple(image_size)
    else:
        size = ()
    if len(size) != 2:
        raise SeqlabError(
            f"{field('image_size')} must be an integer or [height, width], got {image_size!r}"
        )
    for value in size:
        check_int("image_size", value)
    return int(size[0]), int(size[1])


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SeqlabError(f"{field(name)} must be true or false, got {value!r}")
    return value


def check_fraction(name: str, value: object) -> float:
    """A probability-like number in [0, 1) (dropout)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise SeqlabError(f"{field(name)} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise SeqlabError(f"{field(name)} must be one of {list(choices)}, got {value!r}")
    return str(value)


def check_heads(width_name: str, width: int, heads_name: str, heads: int) -> None:
    """Multi-head attention splits the width evenly across heads."""
    if width % heads:
        divisors = [h for h in range(1, width + 1) if width % h == 0]
        raise SeqlabError(
            f"{field(width_name)} ({width}) must be divisible by {field(heads_name)} ({heads}): "
            f"set {field(heads_name)} to one of {divisors} or change {field(width_name)}"
        )
