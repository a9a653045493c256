"""Hugging Face hub sources are opt-in: check reachability up front and fail in seconds.

Without ``HF_HUB_OFFLINE=1`` a hub name fails only after ~27 s of retries when there is no
network; these checks answer at once with how to go online or what to use offline.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from seqlab.errors import SeqlabError
from seqlab.utils.files import atomic_write_text

HUB_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "true", "yes", "on"}


def hub_unreachable_reason(endpoint: str | None = None, timeout: float = 3.0) -> str | None:
    """Why the hub cannot be used now (offline switch set, host unreachable), else None.

    Checks ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` first, then opens a TCP connection to
    the hub host (``HF_ENDPOINT`` or huggingface.co) with a short timeout.
    """
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        value = os.environ.get(var, "")
        if value.strip().lower() in _TRUE:
            return f"{var}={value} is set; unset it (`unset {var}`) to go online"
    url = urlparse(endpoint or os.environ.get("HF_ENDPOINT") or HUB_ENDPOINT)
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    outcome: dict[str, BaseException | None] = {}

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome["error"] = None
        except OSError as err:
            outcome["error"] = err

    # in a thread: a hanging DNS lookup is not bounded by the socket timeout
    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout + 0.5)
    if "error" not in outcome:
        return f"cannot reach {host}:{port} (no answer within {timeout:g} s); check the network"
    err = outcome["error"]
    if err is not None:
        return f"cannot reach {host}:{port} ({err or type(err).__name__}); check the network"
    return None


def hub_text_file(name: str, *, field: str, cache_dir: str | None, offline_hint: str) -> Path:
    """A ``datasets`` text source (hub name, save_to_disk folder, parquet/arrow/json files) kept
    once as one UTF-8 file (its splits in order). What is on disk is used first: this file,
    then the local Hugging Face cache; only a hub dataset never downloaded needs the network."""
    from seqlab.data.hf import load_hf

    folder = Path(cache_dir or Path.home() / ".cache" / "seqlab").expanduser()
    local = Path(name).expanduser().exists()
    key = name if not local else f"{Path(name).expanduser().resolve()}@{_mtime(Path(name))}"
    target = folder / f"hub-{_slug(key)}-{field}.txt"
    if target.is_file():
        return target
    try:
        dataset = load_hf(name, field="data.hub_dataset", cache_dir=None)
    except SeqlabError as err:
        raise SeqlabError(f"{err} Offline alternative: {offline_hint}.") from err
    order = [s for s in ("train", "validation", "test") if s in dataset] + [
        s for s in dataset if s not in ("train", "validation", "test")
    ]
    if any(field not in dataset[s].column_names for s in order):
        raise SeqlabError(
            f"data.hub_text_field={field!r} is not a column of {name!r} "
            f"(columns: {dataset[order[0]].column_names}). Fix: set data.hub_text_field."
        )
    text = "\n".join(str(row) for s in order for row in dataset[s][field])
    return atomic_write_text(target, text)


def _mtime(path: Path) -> int:
    path = path.expanduser()
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return max((int(p.stat().st_mtime) for p in files), default=0)


def _slug(text: str) -> str:
    import hashlib

    readable = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[-60:]
    return f"{readable}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"
