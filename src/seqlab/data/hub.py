"""Whether the Hugging Face hub can be reached, answered in seconds (`seqlab.data.hf` asks
only for a hub dataset that is not already on disk or in the cache).

Without ``HF_HUB_OFFLINE=1`` a hub name fails only after ~27 s of retries when there is no
network; these checks answer at once with how to go online or what to use offline.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

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
