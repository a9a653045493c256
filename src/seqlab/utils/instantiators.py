"""Instantiate the callbacks and loggers groups of the config (name -> object config)."""

from __future__ import annotations

import logging
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None, what: str) -> list[Any]:
    objects: list[Any] = []
    if not group:
        return objects
    if not isinstance(group, DictConfig):
        raise TypeError(f"{what} config must be a mapping of name -> object config")
    for name, conf in group.items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            log.debug("instantiating %s %s <%s>", what, name, conf._target_)
            objects.append(instantiate(conf))
    return objects
