"""Every run owns its folder, also when many start in the same second.

``hydra.run.dir`` and ``hydra.sweep.dir`` are ``${seqlab_run_dir:<parent>}``: the resolver
creates ``<parent>/<YYYY-MM-DD_HH-MM-SS>-<ms>_<4 hex>`` with ``os.mkdir`` (atomic: it fails
when the name exists, and then another name is drawn), so two runs started together in
two terminals, a shell loop with ``&`` or a job array never share a folder.

The processes of **one** distributed job must share one folder, yet each composes its own
config. They agree through the launcher:

- Lightning's own launcher (``python train.py trainer=ddp_cpu``) re-runs the script with
  ``hydra.run.dir`` set, so the resolver runs once;
- ``torchrun`` (one or many nodes): global rank 0 creates the folder and publishes it in the
  job's TCP store (the one ``init_process_group`` uses next); the other ranks read it there;
- ``srun`` with several tasks: the folder is named after the job, ``slurm-<job id>[_<array
  task>].<step>``, which a requeued job finds again.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

RESOLVER = "seqlab_run_dir"
_STORE_KEY = "seqlab/run_dir"
_chosen: dict[str, str] = {}  # one folder per parent per process: resolving twice is stable
_store = None  # the TCP store client/server must outlive the call (its server is shared)


def unique_child(parent: str | os.PathLike) -> str:
    """Create and return a new folder under ``parent`` that no other process has."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        now = dt.datetime.now()
        name = f"{now:%Y-%m-%d_%H-%M-%S}-{now.microsecond // 1000:03d}_{secrets.token_hex(2)}"
        try:
            (parent / name).mkdir()
        except FileExistsError:
            continue
        return str(parent / name)


def _slurm_job_folder(parent: Path) -> str | None:
    env = os.environ
    if int(env.get("SLURM_NTASKS", "1") or 1) <= 1 or "SLURM_PROCID" not in env:
        return None
    name = f"slurm-{env.get('SLURM_JOB_ID', 'job')}"
    if env.get("SLURM_ARRAY_TASK_ID"):
        name += f"_{env['SLURM_ARRAY_TASK_ID']}"
    name += f".{env.get('SLURM_STEP_ID', '0')}"
    (parent / name).mkdir(parents=True, exist_ok=True)
    return str(parent / name)


def _torchrun_folder(parent: Path) -> str | None:
    """Rank 0 decides, the others follow, through the job's own TCP store."""
    global _store
    env = os.environ
    if "TORCHELASTIC_RUN_ID" not in env or int(env.get("WORLD_SIZE", "1")) <= 1:
        return None
    from datetime import timedelta

    from torch.distributed import TCPStore

    rank = int(env["RANK"])
    agent_store = env.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    _store = TCPStore(
        host_name=env["MASTER_ADDR"],
        port=int(env["MASTER_PORT"]),
        world_size=int(env["WORLD_SIZE"]),
        is_master=rank == 0 and not agent_store,
        timeout=timedelta(minutes=10),
        wait_for_workers=False,
        multi_tenant=True,  # init_process_group later reuses this server in rank 0
    )
    key = f"{_STORE_KEY}/{env.get('TORCHELASTIC_RESTART_COUNT', '0')}/{parent}"
    if rank == 0:
        folder = unique_child(parent)
        _store.set(key, folder)
        return folder
    return _store.get(key).decode()


def run_dir(parent: str) -> str:
    """The OmegaConf resolver: this process's (or this distributed job's) run folder."""
    if parent not in _chosen:
        path = Path(parent)
        _chosen[parent] = _torchrun_folder(path) or _slurm_job_folder(path) or unique_child(path)
    return _chosen[parent]


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, run_dir)
