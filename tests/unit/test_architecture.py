"""The package reads one way: spec → topology → checks → render → plan → analysis → runtime → apply → verify →
accept → cli. Every import statement of ffinfra (lazy ones inside functions included, `if TYPE_CHECKING:` ones
left out) goes to a module of its own layer or one to its left, and no set of modules imports itself in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ffinfra"
LAYERS = ["spec", "topology", "checks", "render", "plan", "analysis", "runtime", "apply", "verify", "accept", "cli"]
# Top-level modules: the leaves every layer may use, the compiler front half, and the generated docs (which read
# the whole front half and the plan).
TOP = {"__init__": 0, "errors": 0, "atomic": 0, "assets": 0, "stack": 0, "compile": 2, "docs": 10}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else "__init__"
    return LAYERS.index(part) if part in LAYERS else TOP[part]


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def _imports() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "_assets" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        out: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for t in targets:
                if t.startswith("ffinfra") and t in modules and t != name:
                    out.add(t)
        graph[name] = out
    return graph


def test_no_import_goes_against_the_flow() -> None:
    graph = _imports()
    against = sorted(f"{a} → {b}" for a, deps in graph.items() for b in deps if _layer(b) > _layer(a))
    assert against == []


def test_no_import_cycles() -> None:
    graph = _imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                cycles.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []
