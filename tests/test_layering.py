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
    with pytest.raises(SeqlabError, match=r"DataSpec.task='not a name' is not a task name"):
        DataSpec(task="not a name")  # a user's own type is any identifier with a task module


# room -> the seqlab rooms it may never import (at any depth, also inside functions)
FORBIDDEN = {
    "nn": ("data", "baselines", "evaluation", "tasks", "callbacks", "figures", "prediction", "cli"),
    "baselines": ("data", "evaluation", "tasks", "callbacks", "figures", "prediction", "cli"),
    "data": ("evaluation", "tasks", "callbacks", "figures", "prediction", "cli"),
    "evaluation": ("tasks", "callbacks", "figures", "prediction", "cli"),
    "figures": ("tasks", "callbacks", "prediction", "cli"),
    "utils": ("tasks", "callbacks", "figures", "prediction", "cli", "evaluation"),
    "security.py": ("tasks", "callbacks", "figures", "prediction", "cli"),
    "tasks": ("callbacks", "prediction", "cli"),
    "callbacks": ("prediction", "cli"),
}


def test_imports_only_go_down_and_no_room_imports_in_a_circle():
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        room = path.relative_to(SRC).parts[0]
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "seqlab" or len(parts) < 2:
                continue
            target = parts[1] if parts[1] != "security" else "security.py"
            if target in FORBIDDEN.get(room, ()):
                upward.append(f"{path.relative_to(SRC)} -> {module}")
    assert not upward, upward
    # the one circle there was: the resolver reading stage-1 checkpoints through the registry
    assert "seqlab.tasks.registry" not in _imports(SRC / "tasks" / "resolve.py")


def test_reference_scores_travel_typed_and_old_checkpoints_still_read():
    from seqlab.data.spec import DataSpec

    old = {
        "task": "classification",
        "extra": {"baseline_majority_acc_test": 0.25, "lengths": [3, 9]},
    }
    spec = DataSpec.from_dict(old)  # a checkpoint written before DataSpec.baselines
    assert spec.baselines == {"test": {"majority_acc": 0.25}} and spec.extra == {"lengths": [3, 9]}
    assert DataSpec.from_dict(spec.to_dict()) == spec


def test_no_two_modules_import_each_other_in_a_circle():
    modules = {
        "seqlab." + ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): p
        for p in SRC.rglob("*.py")
    }
    graph = {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}
    seen, on_path, circles = set(), [], []

    def visit(node: str) -> None:
        if node in on_path:
            circles.append([*on_path[on_path.index(node) :], node])
            return
        if node in seen:
            return
        seen.add(node)
        on_path.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        on_path.pop()

    for module in sorted(graph):
        visit(module)
    assert not circles, circles
