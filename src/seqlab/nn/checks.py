"""Argument checks shared by the architectures: errors name the config field to fix."""

from __future__ import annotations

from collections.abc import Sequence

from seqlab.errors import SeqlabError


def field(name: str) -> str:
    """Where a constructor argument lives in the Hydra config."""
    return f"model.backbone.{name}"


def check_int(name: str, value: object, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SeqlabError(f"{field(name)} must be an integer >= {least}, got {value!r}")
    return value


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
