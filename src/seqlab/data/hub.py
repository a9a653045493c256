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
    """Download a hub text dataset once and keep it as one UTF-8 file (its splits in order)."""
    reason = hub_unreachable_reason()
    if reason:
        raise SeqlabError(
            f"data.hub_dataset={name!r} needs the Hugging Face hub, which is unavailable: {reason}. "
            f"Fix: go online, or use {offline_hint}."
        )
    from datasets import load_dataset

    folder = Path(cache_dir or Path.home() / ".cache" / "seqlab").expanduser()
    target = folder / f"hub-{name.replace('/', '--')}-{field}.txt"
    if target.is_file():
        return target
    dataset = load_dataset(name)
    order = [s for s in ("train", "validation", "test") if s in dataset] + [
        s for s in dataset if s not in ("train", "validation", "test")
    ]
    if any(field not in dataset[s].column_names for s in order):
        raise SeqlabError(
            f"data.hub_text_field={field!r} is not a column of {name!r} "
            f"(columns: {dataset[order[0]].column_names})."
        )
    text = "\n".join(str(row) for s in order for row in dataset[s][field])
    return atomic_write_text(target, text)
