"""What may be rebuilt from a checkpoint (or a run folder someone else wrote).

``torch.load(weights_only=True)`` stops pickle payloads, but a seqlab checkpoint also names
the task class to rebuild and stores configs whose ``_target_`` entries are instantiated.
A crafted checkpoint that is a perfectly valid dict of tensors and strings could name
``subprocess.Popen`` or ``pathlib.Path.write_text`` there. So nothing named in a checkpoint is
imported, let alone called, unless it is on this allowlist:

- the task class: a subclass of ``seqlab.tasks.base.SeqlabTask`` under ``seqlab.tasks``;
- every ``_target_`` anywhere in the stored hyper-parameters (backbone, data, optimiser,
  scheduler, anything nested, in dicts and lists): a **class** under one of
  ``DEFAULT_TRUSTED`` (seqlab's models and data, torch's optimisers and schedulers).
  Functions, methods and other callables are refused, and so is ``_partial_`` on them;
- plus what the user trusts explicitly: ``trusted_targets=[mypkg.models, mypkg.data]`` on the
  command line of ``eval.py``/``generate.py``/``train.py`` (or the environment variable
  ``SEQLAB_TRUSTED_TARGETS=mypkg.models,mypkg.data``). A trusted prefix admits classes and
  functions under it (your own code, which you vouch for).

The check runs on the strings before anything is imported: a target outside the allowlist is
never even imported (importing a module can run code).
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Iterable, Iterator
from typing import Any

from seqlab.errors import SeqlabError

# Module prefixes whose classes may be rebuilt from a checkpoint without asking.
DEFAULT_TRUSTED: tuple[str, ...] = (
    "seqlab.nn",
    "seqlab.data",
    "seqlab.optim",
    "seqlab.tasks",
    "torch.optim",  # includes torch.optim.lr_scheduler
)
TASK_PREFIX = "seqlab.tasks"
TASK_BASE = "seqlab.tasks.base.SeqlabTask"
ENV_VAR = "SEQLAB_TRUSTED_TARGETS"
SETTING = "trusted_targets"


class UntrustedTargetError(SeqlabError):
    """A checkpoint or stored config names something seqlab will not build."""


def user_trusted(extra: Iterable[str] | str | None = None) -> tuple[str, ...]:
    """Prefixes the user trusts: ``trusted_targets`` from the config plus the environment."""
    prefixes: list[str] = []
    if isinstance(extra, str):
        extra = extra.split(",")
    for source in (extra or [], os.environ.get(ENV_VAR, "").split(",")):
        prefixes.extend(str(p).strip() for p in source if str(p).strip())
    return tuple(dict.fromkeys(prefixes))


def _under(name: str, prefixes: Iterable[str]) -> bool:
    """Dotted-prefix match: ``seqlab.nn`` admits ``seqlab.nn.x.Y``, not ``seqlab.nnx.Y``."""
    return any(name == p or name.startswith(p.rstrip(".") + ".") for p in prefixes)


def _locate(name: str) -> Any:
    """Import ``a.b.C`` (or ``a.b.C.method``) once the string has passed the prefix check."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise ImportError(name)


def _refuse(where: str, name: str, why: str) -> UntrustedTargetError:
    prefix = name.rsplit(".", 1)[0] if "." in name else name
    return UntrustedTargetError(
        f"{where}: refusing to build {name!r} ({why}). seqlab only rebuilds classes from "
        f"{', '.join(DEFAULT_TRUSTED)} out of a checkpoint. If this is your own code and you "
        f"trust this file, allow it with {SETTING}=[{prefix}] (or {ENV_VAR}={prefix})."
    )


def check_target(name: Any, where: str, trusted: Iterable[str] = ()) -> None:
    """Refuse ``name`` unless it is an allowed class (or under a prefix the user trusts)."""
    trusted = tuple(trusted)
    if not isinstance(name, str) or not name:
        raise _refuse(where, repr(name), "not a dotted class name")
    by_user = _under(name, trusted)
    if not (by_user or _under(name, DEFAULT_TRUSTED)):
        raise _refuse(where, name, "outside the allowed modules")
    try:
        obj = _locate(name)
    except ImportError as err:
        raise _refuse(where, name, "it cannot be imported") from err
    if not by_user and not inspect.isclass(obj):
        raise _refuse(where, name, f"a {type(obj).__name__}, not a class")
    # `seqlab.data.text.datamodule.subprocess.Popen` passes the prefix test by walking through an
    # imported module: what is reached must itself be defined under the allowed prefix.
    home = getattr(obj, "__module__", None) or ""
    if not _under(home, trusted if by_user else DEFAULT_TRUSTED):
        raise _refuse(where, name, f"it is defined in {home or 'an unknown module'!r}")


def _targets(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every ``_target_`` in a nested dict/list, with its dotted config path."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield path or "<root>", node["_target_"]
        for key, value in node.items():
            yield from _targets(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _targets(value, f"{path}[{index}]")


def check_config(config: Any, where: str, trusted: Iterable[str] = ()) -> None:
    """Check every ``_target_`` reachable in ``config`` (plain containers)."""
    for path, target in _targets(config, ""):
        check_target(target, f"{where} {path}._target_", trusted)


def _is_task_class(cls: type) -> bool:
    """A subclass of seqlab's task base class, read from the class's MRO by name (security sits
    below the tasks: it does not import them)."""
    return any(f"{c.__module__}.{c.__qualname__}" == TASK_BASE for c in inspect.getmro(cls))


def check_checkpoint(checkpoint: dict, source: str, trusted: Iterable[str] = ()) -> type:
    """The task class a seqlab checkpoint may be rebuilt as, after checking all it names."""
    trusted = tuple(trusted)
    name = checkpoint.get("seqlab_task")
    where = f"ckpt_path: '{source}' seqlab_task"
    if not isinstance(name, str) or not (_under(name, (TASK_PREFIX,)) or _under(name, trusted)):
        raise _refuse(where, str(name), "not one of seqlab's task classes")
    check_target(name, where, trusted)
    task_cls = _locate(name)
    if not (inspect.isclass(task_cls) and _is_task_class(task_cls)):
        raise _refuse(where, name, "not a seqlab task (SeqlabTask subclass)")
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, dict):
        raise UntrustedTargetError(
            f"ckpt_path: '{source}' has no hyper_parameters dict. Fix: use a .ckpt written by "
            "`python train.py`."
        )
    check_config(hparams, f"ckpt_path: '{source}' hyper_parameters", trusted)
    return task_cls


def check_overrides(overrides: Iterable[str], source: str, trusted: Iterable[str] = ()) -> None:
    """Stored command-line overrides (``.hydra/overrides.yaml`` of a run being resumed):
    no ``hydra.*`` settings (a search path could bring any config), and every ``_target_``
    they set, directly or inside a dict value, passes :func:`check_target`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    trusted = tuple(trusted)
    try:
        parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides])
    except Exception as err:
        raise UntrustedTargetError(
            f"{source}: cannot parse the stored overrides ({err}). Fix: repair or delete that file."
        ) from err
    for override in parsed:
        key = override.key_or_group
        if key == "hydra" or key.startswith("hydra."):
            raise _refuse(
                f"{source}: {override.input_line}", key, "hydra settings are not replayed"
            )
        value = override.value()
        if key.endswith("_target_"):
            check_target(value, f"{source}: {key}", trusted)
        check_config(value, f"{source}: {key}", trusted)


def trust(prefixes: Iterable[str] | str | None) -> tuple[str, ...]:
    """Make ``trusted_targets`` from a config visible to every check in this process and its
    children (DDP ranks), through the environment variable."""
    merged = user_trusted(prefixes)
    if merged:
        os.environ[ENV_VAR] = ",".join(merged)
    return merged
