"""What produced a run: the code (git commit, uncommitted changes), the versions, the
command line and the host. Recorded in ``summary.json``, every checkpoint and the W&B config,
so months later a checkpoint still says which seqlab wrote it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("seqlab", "torch", "lightning", "hydra-core", "omegaconf", "torchmetrics", "wandb")
DIFF_FILE = "code.diff"


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def code_state(root: Path) -> tuple[dict[str, Any], str]:
    """({commit, dirty, diff_sha256} or {commit: None, note}, the diff text)."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "note": f"{root} is not a git checkout"}, ""
    status = _git(root, "status", "--porcelain", "--untracked-files=normal") or ""
    diff = ""
    if status.strip():
        diff = (_git(root, "diff", "HEAD") or "") + "".join(
            f"# untracked: {line[3:]}\n" for line in status.splitlines() if line.startswith("??")
        )
    state = {"commit": commit.strip(), "dirty": bool(status.strip())}
    if diff:
        state["diff_sha256"] = hashlib.sha256(diff.encode()).hexdigest()
    return state, diff


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    torch = sys.modules.get("torch")
    if torch is not None:
        found["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            found["device"] = torch.cuda.get_device_name(0)
    return found


def collect(root: str | os.PathLike | None = None, run_dir: str | os.PathLike | None = None):
    """Provenance as plain values; writes ``<run_dir>/code.diff`` when the tree is dirty."""
    root = Path(root or os.environ.get("SEQLAB_ROOT", ".")).resolve()
    code, diff = code_state(root)
    if diff and run_dir is not None:
        from seqlab.utils.files import atomic_write_text

        path = atomic_write_text(Path(run_dir) / DIFF_FILE, diff)
        code["diff_file"] = str(path)
    return {
        "code": code,
        "versions": versions(),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "cwd": os.getcwd(),
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def differences(recorded: dict | None, root: str | os.PathLike | None = None) -> list[str]:
    """How the code loading a checkpoint differs from the code that wrote it."""
    if not recorded:
        return ["the checkpoint records no provenance (written before seqlab recorded it)"]
    now, _ = code_state(Path(root or os.environ.get("SEQLAB_ROOT", ".")).resolve())
    then = recorded.get("code", {})
    notes = []
    if then.get("commit") != now.get("commit") or then.get("diff_sha256") != now.get("diff_sha256"):
        notes.append(f"code: written by {_describe(then)}, loaded by {_describe(now)}")
    old, new = recorded.get("versions", {}), versions()
    for package in ("seqlab", "torch", "lightning"):
        if old.get(package) and old.get(package) != new.get(package):
            notes.append(f"{package} {old.get(package)} -> {new.get(package)}")
    return notes


def _describe(code: dict) -> str:
    if not code.get("commit"):
        return "code outside a git checkout"
    return code["commit"][:12] + (" with uncommitted changes" if code.get("dirty") else "")
