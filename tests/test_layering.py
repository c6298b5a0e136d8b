"""The package's layering, read from the source: no import cycles, no private cross-imports, and a
neutral core that names no engine and no runner.

Every ``import`` statement under ``lbgen/`` counts, wherever it stands: at module level, inside
``if TYPE_CHECKING:`` and inside functions (a function-level import hides a cycle from Python but
not from a reader). Only the import *statements* are read: :func:`lbgen.engine.get_engine` finds
engine packages with ``importlib`` by design, and importing ``lbgen.a.b`` is an edge to
``lbgen.a.b`` only, not to the package ``lbgen.a`` that Python runs first.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lbgen"

#: The neutral core: it must not depend on an engine package or a runner.
CORE = (
    "lbgen.spec",
    "lbgen.effective",
    "lbgen.resolve",
    "lbgen.units",
    "lbgen.diagnostics",
    "lbgen.directives",
    "lbgen.engine",
    "lbgen.view",
    "lbgen.confparse.tree",
)
#: What the core must not import.
ENGINE_SIDE = ("lbgen.haproxy", "lbgen.nginx", "lbgen.runners")


@dataclass(frozen=True)
class Edge:
    """One import statement from one lbgen module of another."""

    source: str
    target: str
    names: tuple[str, ...]
    line: int
    nested: bool  # inside a function (or a class), not at module level

    def __str__(self) -> str:
        where = "function-level" if self.nested else "module-level"
        names = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.source} -> {self.target}{names} [{where}, {_path(self.source)}:{self.line}]"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _path(module: str) -> str:
    return str(_modules()[module].relative_to(PACKAGE.parent))


def _nested_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes that stand inside a function or class body."""
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            nested.update(id(inner) for inner in ast.walk(node) if inner is not node)
    return nested


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module name of a ``from`` import (relative ones included)."""
    if not node.level:
        return node.module or ""
    is_package = _modules()[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


@functools.cache
def edges() -> tuple[Edge, ...]:
    """Every import of one lbgen module by another, as written."""
    modules = _modules()
    out: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        nested = _nested_nodes(tree)
        for node in ast.walk(tree):
            inner = id(node) in nested
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        out.append(Edge(module, alias.name, (), node.lineno, inner))
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, node)
                if base not in modules:
                    continue
                plain: list[str] = []
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    if submodule in modules:  # from lbgen.haproxy import command
                        out.append(Edge(module, submodule, (), node.lineno, inner))
                    else:
                        plain.append(alias.name)
                if plain:
                    out.append(Edge(module, base, tuple(plain), node.lineno, inner))
    return tuple(e for e in out if e.source != e.target)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for edge in edges():
        graph.setdefault(edge.source, set()).add(edge.target)
    report = []
    for component in _cycles(graph):
        members = set(component)
        inside = [str(e) for e in edges() if e.source in members and e.target in members]
        report.append(f"cycle among {', '.join(component)}:\n    " + "\n    ".join(inside))
    assert not report, "import cycles (every edge inside each cycle):\n" + "\n".join(report)


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = [
        f"{edge}: {name}"
        for edge in edges()
        for name in edge.names
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
    ]
    assert not offenders, "private names imported across modules:\n" + "\n".join(offenders)


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_neutral_core_imports_no_engine_package_and_no_runner() -> None:
    offenders = [
        str(edge) for edge in edges() if _in(edge.source, CORE) and _in(edge.target, ENGINE_SIDE)
    ]
    assert not offenders, "the core imports engine code:\n" + "\n".join(offenders)


def test_the_reader_sees_every_kind_of_import() -> None:
    # The checks above are only as good as the edges they read: a module-level, a function-level
    # and a `from package import submodule` import must each be found.
    found = {(e.source, e.target, e.nested) for e in edges()}
    assert ("lbgen.runners.local", "lbgen.runners.base", False) in found
    assert ("lbgen.runners", "lbgen.runners.docker", True) in found
    assert ("lbgen.runners.base", "lbgen.haproxy.command", False) in found
    assert not _in("lbgen.haproxy.command", CORE) and _in("lbgen.spec.load", CORE)
