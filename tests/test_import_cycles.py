"""No import cycles among cnnstudio's modules.

A cycle makes the order of imports matter (whichever module Python reaches first sees the other half
built), and it says two modules are one job split in two files: the shared piece belongs in a module
both can import. The graph is read from the source with `ast` (nothing is imported), one edge per
import statement that names a cnnstudio module:

- `import a.b` and `from a.b import c` are an edge to `a.b`, or to `a.b.c` when `c` is a module;
  the packages above the one named (`a`) are not counted: Python runs their `__init__` first, but they
  only re-export what lies below them.
- Imports under `if TYPE_CHECKING:` are not edges: they never run, and they are how a type names a class
  from a module that imports this one.
- Imports inside a function count too: a lazy import only delays the cycle to the first call (the
  cycle issue 30 names was one: `training/config.py` imported `recommend` inside a function while
  `recommend.py` imports `config`). The core and the UI import torch, pages and dialogs lazily to start
  fast, and none of those imports needs to close a cycle, so there is no exception for them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import cnnstudio

Graph = dict[str, set[str]]


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package whose folder is `root`, by dotted name (a package by its __init__)."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join([package, *parts])] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(nodes: Iterable[ast.AST], lazy: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run: anywhere at module level (in if/try/with/class bodies too), and
    inside functions when `lazy`."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.orelse, lazy)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or lazy:
            yield from _imports(ast.iter_child_nodes(node), lazy)


def import_graph(root: Path, package: str, lazy: bool = True) -> Graph:
    """Edges between the modules under `root`; imports inside functions count when `lazy`."""
    names = module_names(root, package)
    graph: Graph = {name: set() for name in names}
    for name, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _imports(tree.body, lazy):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:  # relative: from the module's own package, up level - 1 packages
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in names else source
                           for alias in node.names]
            graph[name].update(t for t in targets if t in names and t != name)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle (as a closed path) for every strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph has ~200 nodes, recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(_path_through(graph, set(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _path_through(graph: Graph, component: set[str]) -> list[str]:
    """A shortest cycle from the component's first module back to itself, to name in the failure."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected component always has one


def describe(found: list[list[str]]) -> str:
    return "\n".join(" -> ".join(cycle) for cycle in found)


# Edges allowed to close a cycle while the change that removes them waits, each with what removes it
# (the test below fails once the edge is gone, so an entry cannot outlive it). None wait now.
WAITING: dict[tuple[str, str], str] = {}


def package_graph() -> Graph:
    return import_graph(Path(cnnstudio.__file__).parent, "cnnstudio", lazy=True)


def test_cnnstudio_has_no_import_cycle() -> None:
    graph = package_graph()
    assert len(graph) > 100 and "cnnstudio.ui.main_window" in graph  # the whole package was read
    for source, target in WAITING:
        graph[source].discard(target)
    found = cycles(graph)
    assert not found, "import cycles:\n" + describe(found)


def test_every_waiting_edge_still_exists() -> None:
    graph = package_graph()
    gone = [f"{s} -> {t} ({why})" for (s, t), why in WAITING.items() if t not in graph[s]]
    assert not gone, "no longer imported, remove from WAITING:\n" + "\n".join(gone)


# The check above is worth only what its detector finds: a small package written here with each kind of
# import it must see, and the ones it must not.

def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "fake" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "fake"


def test_detects_a_module_level_cycle(tmp_path: Path) -> None:
    root = _write(tmp_path, {"__init__.py": "", "a.py": "from fake.b import x\n", "b.py": "import fake.c\nx = 1\n",
                             "c.py": "from fake import a\n"})
    assert cycles(import_graph(root, "fake")) == [["fake.a", "fake.b", "fake.c", "fake.a"]]


def test_detects_a_relative_import_cycle(tmp_path: Path) -> None:
    root = _write(tmp_path, {"__init__.py": "", "sub/__init__.py": "from .one import f\n",
                             "sub/one.py": "from ..two import g\ndef f(): ...\n",
                             "two.py": "from .sub import f\ng = 1\n"})
    assert describe(cycles(import_graph(root, "fake"))) == "fake.sub -> fake.sub.one -> fake.two -> fake.sub"


def test_a_lazy_import_counts(tmp_path: Path) -> None:
    """The shape of the cycle issue 30 named: a function imports the module that imports its own."""
    root = _write(tmp_path, {"__init__.py": "", "core/__init__.py": "",
                             "core/config.py": "def build():\n    from fake.core.recommend import r\n    return r\n",
                             "core/recommend.py": "from fake.core.config import build\nr = 1\n",
                             "ui/__init__.py": "",
                             "ui/page.py": ("class Page:\n    async def show(self):\n"
                                            "        from fake.ui.window import W\n"),
                             "ui/window.py": "import fake.ui.page\nW = 1\n"})
    assert cycles(import_graph(root, "fake", lazy=False)) == []
    assert describe(cycles(import_graph(root, "fake"))) == (
        "fake.core.config -> fake.core.recommend -> fake.core.config\n"
        "fake.ui.page -> fake.ui.window -> fake.ui.page")


def test_imports_that_never_run_are_not_edges(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nimport typing\nif TYPE_CHECKING:\n    from fake.b import B\n"
                "if typing.TYPE_CHECKING:\n    import fake.b\nelse:\n    import os\n",
        "b.py": "from fake.a import A\nclass B: ...\n"})
    assert cycles(import_graph(root, "fake")) == []


def test_imports_nested_in_blocks_and_classes_count(tmp_path: Path) -> None:
    root = _write(tmp_path, {"__init__.py": "",
                             "a.py": "try:\n    import fake.b\nexcept ImportError:\n    pass\n",
                             "b.py": "class K:\n    from fake import a\n"})
    assert describe(cycles(import_graph(root, "fake"))) == "fake.a -> fake.b -> fake.a"
