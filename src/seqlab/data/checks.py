"""Checks of datamodule arguments; each error names the ``data.*`` field and the fix."""

from __future__ import annotations

from typing import Any

from seqlab.errors import SeqlabError
from seqlab.nn.checks import require_int


def check_int(field: str, value: Any, least: int = 1, *, allow_none: bool = False) -> Any:
    """``value`` as an int ``>= least`` (``None`` passes through when ``allow_none``)."""
    if value is None and allow_none:
        return None
    return require_int(field, value, least)


def check_frac(field: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a float in (0, 1), or in [0, 1) when ``allow_zero``."""
    low_ok = value >= 0 if allow_zero else value > 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not (low_ok and value < 1):
        bound = "[0, 1)" if allow_zero else "(0, 1)"
        raise SeqlabError(f"{field}={value!r} must be a fraction in {bound}, e.g. 0.1")
    return float(value)


def check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SeqlabError(f"{field}={value!r} must be true or false")
    return value
