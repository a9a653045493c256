"""Imports only go down: the plotting library and the CLI helpers are modules of their own."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "seqlab"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_only_callbacks_import_callbacks_and_nothing_imports_the_train_entry_point():
    sideways = []
    for path in sorted(SRC.rglob("*.py")):
        name = str(path.relative_to(SRC))
        imports = _imports(path)
        if not name.startswith("callbacks/"):
            # figures live in seqlab.figures.worker; callbacks are only targeted from configs
            sideways += [f"{name} -> {m}" for m in imports if m.startswith("seqlab.callbacks")]
        if name != "cli/train.py" and "seqlab.cli.train" in imports:
            sideways.append(f"{name} -> seqlab.cli.train (use seqlab.cli.results)")
    assert not sideways, sideways


def test_task_types_are_listed_once_and_a_spec_outside_the_list_is_refused():
    import pytest

    from seqlab.data.spec import DataSpec
    from seqlab.errors import SeqlabError
    from seqlab.nn.contract import TASKS
    from seqlab.tasks.registry import task_classes

    assert {task for task, _ in task_classes()} == set(TASKS)  # every type has a module
    with pytest.raises(SeqlabError, match=r"DataSpec.task='seq2seq' is not a task"):
        DataSpec(task="seq2seq")
