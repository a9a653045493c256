"""The test split's fingerprint: eval.py checks it sees the data the model was tested on."""

from __future__ import annotations

import hashlib

import torch


def fingerprint(*tensors: torch.Tensor) -> str:
    """16 hex digits of the SHA-1 of the tensors' bytes, in order."""
    digest = hashlib.sha1()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
