"""The package's shape: no import cycle, and every import points down the pipeline.

Imports are read from the source (function-local ones included), so a cycle hidden inside a function body
fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ambig_lib

PACKAGE_DIR = Path(ambig_lib.__file__).parent
#: The pipeline, in order: a module may import only from its own layer or an earlier one.
LAYERS: tuple[str, ...] = ("core", "models", "data", "teachers", "generation", "inspection", "runs", "training",
                           "evaluation", "serving", "compare", "study", "cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_imports() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in its source)."""
    modules = {module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            found.update(t for t in targets if t in modules and t != name)
        graph[name] = found
    return graph


def layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else -1


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_walker_sees_function_local_imports_and_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "ambig_lib.teachers.vllm_engine" in package_imports()["ambig_lib.teachers.registry"]  # a local import


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle(package_imports()) is None


def test_every_import_points_down_the_pipeline() -> None:
    graph = package_imports()
    assert all(layer_of(m) >= 0 for m in graph if m.count(".") >= 1 and m != "ambig_lib.__main__"), \
        sorted(m for m in graph if layer_of(m) < 0)
    upward = sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                    if layer_of(t) > layer_of(m) >= 0)
    assert upward == []
