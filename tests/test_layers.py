"""The library's layers: no import cycle in ``utils`` (imports inside functions count too), no module importing a
higher layer, a runner that imports no track, and short functions and classes (``docs/ARCHITECTURE.md``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import utils

ROOT = Path(utils.__file__).parent
MAX_LINES = 80  # of a function or class, its docstrings not counted
MODEL_DEFINITIONS = {"utils/lm_model.py": {"make_lm"}, "utils/text_model.py": {"make_encoder"}}  # may be longer
# bottom to top: a module imports from its own layer or below (``docs/ARCHITECTURE.md`` draws them)
LAYERS = [
    ("shared", {"common", "paths", "metrics", "env"}),
    ("catalogue", {"catalog"}),
    ("models", {"models", "runtime", "quantize"}),
    ("tasks", {"tasks"}),
    ("tracks", {"image_data", "text_model", "text_data", "lm_model", "lm_data", "user_data"}),
    ("methods", {"methods"}),
    ("runner", {"heads", "results", "checkpoint", "pool", "train"}),
    ("builders", {"zoo", "examples"}),  # the instruction-tuned model is built through the runner
    ("experiments", {"suites", "compare", "lm_experiments", "on_policy", "merging", "evidence", "costs", "plots", "report",
                     "robust", "finetune_cli"}),
    ("course", {"exercise", "interview", "curriculum", "lab"}),
]
TRACKS = dict(LAYERS)["tracks"]
RUNNER = dict(LAYERS)["runner"] | {"runtime", "methods.base"}


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


def layer_of(module: str) -> int:
    """The index in ``LAYERS`` of a ``utils`` module (a method file is in the methods layer)."""
    name = module.removeprefix("utils.").split(".")[0]
    for i, (_, names) in enumerate(LAYERS):
        if name in names:
            return i
    raise KeyError(f"{module} is in no layer of tests/test_layers.py: add it to LAYERS (and to docs/ARCHITECTURE.md)")


def upward_imports(graph) -> list[str]:
    return [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
            for m, targets in sorted(graph.items()) if m != "utils" for t in sorted(targets) if layer_of(t) > layer_of(m)]


def test_the_walk_sees_lazy_imports_and_finds_a_planted_cycle():
    graph = import_graph()
    assert "utils.models" in graph["utils.methods.base"]  # imported inside a function
    assert "utils.catalog" in graph["utils.models"]
    planted = {k: set(v) for k, v in graph.items()}
    planted["utils.catalog"].add("utils.train")
    assert find_cycle(planted) is not None
    assert upward_imports(planted) == ["utils.catalog (catalogue) imports utils.train (runner)"]


def test_utils_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_imports_only_its_own_layer_or_below():
    graph = import_graph()
    for m in graph:
        if m != "utils":
            layer_of(m)  # every module has a layer
    assert not upward_imports(graph), "; ".join(upward_imports(graph))


def test_the_runner_imports_no_track():
    graph = import_graph()
    runner = {m for m in graph if m.removeprefix("utils.") in RUNNER}
    assert runner >= {"utils.train", "utils.pool", "utils.heads", "utils.methods.base"}
    found = [f"{m} imports {t}" for m in sorted(runner) for t in sorted(graph[m]) if t.removeprefix("utils.") in TRACKS]
    assert not found, "; ".join(found)


def _docstring_lines(node) -> int:
    """Lines of the docstrings inside ``node`` (its own and its members')."""
    total = 0
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if (isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            total += body[0].end_lineno - body[0].lineno + 1
    return total


def long_definitions(source: str, path: str = "") -> list[str]:
    """Functions and classes (at any depth: a class inside a function too) of more than ``MAX_LINES`` lines,
    docstrings not counted, except the model definitions named in ``MODEL_DEFINITIONS``."""
    long = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            n = node.end_lineno - node.lineno + 1 - _docstring_lines(node)
            if n > MAX_LINES and node.name not in MODEL_DEFINITIONS.get(path, ()):
                long.append(f"{path}:{node.lineno} {node.name} ({n} lines)")
    return long


def test_the_size_rule_sees_classes_and_classes_inside_functions():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    assert long_definitions(f"class Big:\n{body}\n") == [":1 Big (81 lines)"]
    nested = "\n".join("    " + line for line in f"class Big:\n{body}".splitlines())
    assert [d.split()[1] for d in long_definitions(f"def f():\n{nested}\n    return Big\n")] == ["f", "Big"]
    doc = "\n".join(['    """'] + ["    a line of documentation"] * MAX_LINES + ['    """'])
    assert long_definitions(f"class Documented:\n{doc}\n    x = 1\n") == []  # docstrings do not count


def test_no_function_or_class_in_utils_is_longer_than_80_lines():
    long = [item for path in sorted(ROOT.rglob("*.py"))
            for item in long_definitions(path.read_text(), path.relative_to(ROOT.parent).as_posix())]
    assert not long, "split these: " + "; ".join(long)


def test_the_architecture_page_names_every_module_in_its_layer():
    """docs/ARCHITECTURE.md's layer table stays true: each row names exactly the modules of its layer here."""
    page = (ROOT.parent / "docs" / "ARCHITECTURE.md").read_text()
    rows = {line.split("|")[1].strip(): set(re.findall(r"`([\w/]+?)/?`", line.split("|")[2]))
            for line in page.splitlines() if line.startswith("| ") and line.count("|") == 4}
    for layer, names in LAYERS:
        assert rows.get(layer) == names, (layer, rows.get(layer), names)
