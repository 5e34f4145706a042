"""The library's layers: no import cycle in ``utils`` (imports inside functions count too), short functions,
and the bottom modules stay free of the upper ones."""

from __future__ import annotations

import ast
from pathlib import Path

import utils

ROOT = Path(utils.__file__).parent
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def import_graph() -> dict[str, set[str]]:
    """{module: the utils modules it imports}, at any depth of its code; a package also imports every module
    in it (``utils.methods`` discovers its methods)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets += [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        own = set(_ancestors(name)) | ({name} if path.name == "__init__.py" else set())
        for t in targets:
            if t in modules and t != name:
                graph[name].add(t)
                graph[name] |= {a for a in _ancestors(t) if a not in own and a in modules}
        if path.name == "__init__.py":
            graph[name] |= {m for m in modules if m.startswith(name + ".") and m.count(".") == name.count(".") + 1}
    return graph


def find_cycle(graph) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_walk_sees_lazy_imports_and_finds_a_planted_cycle():
    graph = import_graph()
    assert "utils.hub" in graph["utils.methods.base"]  # imported inside a function
    assert "utils.catalog" in graph["utils.hub"]
    planted = {k: set(v) for k, v in graph.items()}
    planted["utils.catalog"].add("utils.train")
    assert find_cycle(planted) is not None


def test_utils_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_bottom_layers_import_no_upper_module():
    graph = import_graph()
    assert graph["utils.common"] == set()
    assert graph["utils.catalog"] <= {"utils.paths"}
    assert "utils.methods" not in graph["utils.hub"] | graph["utils.zoo"] | graph["utils.catalog"]


def test_no_function_in_utils_is_longer_than_80_lines():
    long = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n >= MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "split these functions: " + "; ".join(long)
