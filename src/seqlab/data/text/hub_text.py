"""A ``datasets`` text source (hub name, save_to_disk folder, parquet/arrow/json files) kept
once as one UTF-8 file, its splits in order: what ``data.hub_dataset`` trains on."""

from __future__ import annotations

from pathlib import Path

from seqlab.data.hf import load_hf
from seqlab.errors import SeqlabError
from seqlab.utils.files import atomic_write_text


def hub_text_file(name: str, *, field: str, cache_dir: str | None, offline_hint: str) -> Path:
    """A ``datasets`` text source (hub name, save_to_disk folder, parquet/arrow/json files) kept
    once as one UTF-8 file (its splits in order). What is on disk is used first: this file,
    then the local Hugging Face cache; only a hub dataset never downloaded needs the network."""
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
