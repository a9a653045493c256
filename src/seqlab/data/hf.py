"""Hugging Face ``datasets`` as a source, offline first.

``load_hf(source)`` reads, in this order, without touching the network when it need not:

- a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``;
- data files: ``.parquet``, ``.arrow``, ``.csv``, ``.json``/``.jsonl`` (a file, a glob, or a
  folder of them), through the matching ``datasets`` builder;
- a hub name (``owner/name``): its copy in the local cache when there is one (always so with
  ``HF_HUB_OFFLINE=1`` / ``HF_DATASETS_OFFLINE=1``), else the hub. Only a hub dataset that is
  not cached needs the network, and then the error says so in one line with the offline fix.

The result is always a ``DatasetDict`` (a single ``Dataset`` becomes its ``train`` split).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError

BUILDERS = {".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".csv": "csv"}
BUILDERS |= {".json": "json", ".jsonl": "json"}
_TRUE = {"1", "true", "yes", "on"}


def is_hf_source(source: str | os.PathLike[str]) -> bool:
    """A source only ``datasets`` reads: a save_to_disk folder, an .arrow file, ``hf:name``."""
    text = str(source)
    if text.startswith("hf:"):
        return True
    path = Path(text).expanduser()
    return _saved_folder(path) or path.suffix.lower() == ".arrow"


def _saved_folder(path: Path) -> bool:
    markers = ("dataset_dict.json", "dataset_info.json", "state.json")
    return path.is_dir() and any((path / m).is_file() for m in markers)


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def load_hf(
    source: str | os.PathLike[str],
    *,
    field: str,
    cache_dir: str | None = None,
    probe_timeout: float = 3.0,
) -> Any:
    """``source`` as a ``datasets.DatasetDict`` (see the module docstring)."""
    import datasets

    text = str(source)
    name = text[3:] if text.startswith("hf:") else text
    path = Path(name).expanduser()
    try:
        if _saved_folder(path):
            loaded = datasets.load_from_disk(str(path))
        elif path.is_dir() or path.suffix.lower() in BUILDERS or any(c in name for c in "*?"):
            loaded = _data_files(path, name, field)
        else:
            loaded = _hub(name, field, cache_dir, probe_timeout)
    except SeqlabError:
        raise
    except Exception as err:  # a corrupt folder, an unreadable file
        raise SeqlabError(
            f"{field}={text!r}: datasets could not read it ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}). Fix: a save_to_disk folder, .parquet/.arrow/"
            ".csv/.jsonl files, or a hub name."
        ) from err
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    return loaded


def _data_files(path: Path, name: str, field: str) -> Any:
    import datasets

    files = (
        [p for p in sorted(path.iterdir()) if p.suffix.lower() in BUILDERS] if path.is_dir() else []
    )
    if path.is_dir() and not files:
        raise SeqlabError(
            f"{field}={name!r} is a folder with no data files and no save_to_disk dataset. Fix: "
            "point at a save_to_disk folder or .parquet/.arrow/.csv/.jsonl files."
        )
    suffix = (files[0] if files else path).suffix.lower()
    if not path.is_dir() and not any(c in name for c in "*?") and not path.is_file():
        raise SeqlabError(f"{field}: file '{path}' does not exist. Fix: check the path.")
    data_files = [str(p) for p in files] if files else name
    return datasets.load_dataset(BUILDERS[suffix], data_files=data_files)


def _hub(name: str, field: str, cache_dir: str | None, probe_timeout: float) -> Any:
    import datasets

    offline = _offline()
    if not offline:
        from seqlab.data.hub import hub_unreachable_reason

        reason = hub_unreachable_reason(timeout=probe_timeout)
        if reason is None:
            return datasets.load_dataset(name, cache_dir=cache_dir)
        why = f"the hub is unreachable ({reason})"
    else:
        why = "HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set"
    # offline (or no network): the local cache, if this dataset was ever downloaded
    import huggingface_hub.constants as hub_constants

    saved = (datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        return datasets.load_dataset(name, cache_dir=cache_dir)
    except Exception as err:
        raise SeqlabError(
            f"{field}={name!r} is not a local folder or file, and no copy of it is in the "
            f"Hugging Face cache while {why}. Fix: run once with the network (unset "
            "HF_HUB_OFFLINE) to cache it, or save it with save_to_disk and point "
            f"{field} at that folder."
        ) from err
    finally:
        datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved
