"""The package's import structure: no import circles between ``hodgnn`` modules, and library code
never imports the test support in :mod:`hodgnn.testing`.

Every ``import`` statement counts, wherever it stands (module level, inside functions or classes):
a function-level import is how a circle is usually hidden, and it still runs.
"""

from __future__ import annotations

import ast
import pkgutil
import sys
from pathlib import Path

import pytest

import hodgnn

PACKAGE = "hodgnn"
TESTING = "hodgnn.testing"


def package_modules() -> dict[str, Path]:
    """Every module of the ``hodgnn`` package (packages by their ``__init__.py``) and its file.

    ``pkgutil`` lists the modules; a folder without ``__init__.py`` (a namespace package, which
    ``pkgutil`` does not descend into) is reported by :func:`test_every_folder_is_a_regular_package`.
    """
    root = Path(hodgnn.__file__).parent
    modules = {PACKAGE: root / "__init__.py"}
    for info in pkgutil.walk_packages([str(root)], prefix=f"{PACKAGE}."):
        relative = Path(*info.name.split(".")[1:])
        modules[info.name] = root / relative / "__init__.py" if info.ispkg else root / f"{relative}.py"
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """Absolute dotted names that ``module`` imports anywhere in its file: ``import a.b`` gives
    ``a.b``; ``from a.b import c`` gives ``a.b`` and ``a.b.c`` (``c`` may be a submodule)."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts[: len(parts) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """``module -> the hodgnn modules it imports``: an imported name that is a module of the package is
    an edge to it; ``from package import name`` where ``name`` is not a submodule is an edge to the
    package's ``__init__``."""
    modules = package_modules()
    graph = {}
    for module, path in modules.items():
        edges = set()
        for name in imported_names(module, path):
            if name in modules and name != module:
                edges.add(name)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        state[start] = 1
        stack = [iter(sorted(graph[start]))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph.get(child, ()))))
    return None


def test_every_folder_is_a_regular_package():
    """Each source folder has an ``__init__.py``: ``setuptools.packages.find`` installs only those, and
    :func:`package_modules` sees only those."""
    root = Path(hodgnn.__file__).parent
    folders = {path.parent for path in root.rglob("*.py") if "__pycache__" not in path.parts}
    missing = sorted(str(f.relative_to(root.parent)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, f"folders without __init__.py: {missing}"
    listed = {path.resolve() for path in package_modules().values()}
    files = [path for path in root.rglob("*.py") if "__pycache__" not in path.parts]
    unlisted = sorted(str(p.relative_to(root.parent)) for p in files if p.resolve() not in listed)
    assert not unlisted, f"modules pkgutil does not list: {unlisted}"


def test_find_cycle_finds_a_planted_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    # hodgnn.cli imports the training modules inside its command functions only
    assert {"hodgnn.train.runner", "hodgnn.train.config"} <= graph["hodgnn.cli"]
    assert len(graph) >= 40 and all(edges <= set(graph) for edges in graph.values())


def test_no_import_cycles_between_package_modules():
    graph = import_graph()
    cycles = []
    while (cycle := find_cycle(graph)) is not None:
        cycles.append(" -> ".join(cycle))
        graph[cycle[-2]].discard(cycle[-1])  # break it and look for more, to report them all
    assert not cycles, "import cycles (function-level imports count):\n" + "\n".join(cycles)


def test_library_code_does_not_import_the_test_support():
    offenders = []
    for module, edges in sorted(import_graph().items()):
        if module == TESTING or module.startswith(f"{TESTING}."):
            continue
        bad = sorted(name for name in edges if name == TESTING or name.startswith(f"{TESTING}."))
        if bad:
            offenders.append(f"{module} imports {', '.join(bad)}")
    assert not offenders, "library modules importing hodgnn.testing:\n" + "\n".join(offenders)


# The layer table of docs/architecture.md, package by package: what each may import from ``hodgnn``.
ALLOWED_IMPORTS: dict[str, set[str]] = {
    "hodgnn.checks": set(),
    "hodgnn.io": set(),
    "hodgnn.environment": set(),
    "hodgnn.reference": set(),
    "hodgnn.derivatives": {"hodgnn.checks"},
    "hodgnn.data": {"hodgnn.checks", "hodgnn.io"},
    "hodgnn.nn": {"hodgnn.checks", "hodgnn.derivatives", "hodgnn.data", "hodgnn.transforms"},
    "hodgnn.transforms": {"hodgnn.checks", "hodgnn.derivatives", "hodgnn.nn"},
    "hodgnn.train": {"hodgnn.data", "hodgnn.nn", "hodgnn.io", "hodgnn.environment"},
    "hodgnn.demo": {"hodgnn.data", "hodgnn.derivatives", "hodgnn.nn", "hodgnn.reference"},
    "hodgnn.expressivity": {
        "hodgnn.train",
        "hodgnn.nn",
        "hodgnn.data",
        "hodgnn.derivatives",
        "hodgnn.io",
        "hodgnn.environment",
    },
    "hodgnn.cli": {"hodgnn.train", "hodgnn.derivatives", "hodgnn.io"},
}
# ``nn`` may read only ``data.info`` of the data package (no loader, no OGB or RDKit at import).
NN_DATA_MODULES = {"hodgnn.data", "hodgnn.data.info"}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_imports_follow_the_layer_table():
    offenders = []
    for module, edges in sorted(import_graph().items()):
        source = _package(module)
        if source in (PACKAGE, TESTING):
            continue
        assert source in ALLOWED_IMPORTS, f"{source} is not in the layer table (docs/architecture.md)"
        for target in sorted(edges):
            if _package(target) != source and _package(target) not in ALLOWED_IMPORTS[source]:
                offenders.append(f"{module} -> {target}")
            if source == "hodgnn.nn" and _package(target) == "hodgnn.data" and target not in NN_DATA_MODULES:
                offenders.append(f"{module} -> {target} (nn reads data.info only)")
    assert not offenders, "imports against the layer table:\n" + "\n".join(offenders)


def test_the_layer_check_catches_an_upward_import(monkeypatch):
    graph = import_graph()
    graph["hodgnn.derivatives.engine"] = graph["hodgnn.derivatives.engine"] | {"hodgnn.nn.hod_gnn"}
    monkeypatch.setattr(sys.modules[__name__], "import_graph", lambda: graph)
    with pytest.raises(AssertionError, match=r"hodgnn.derivatives.engine -> hodgnn.nn.hod_gnn"):
        test_imports_follow_the_layer_table()
