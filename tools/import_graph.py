"""The import graph of the rtstyle package, drawn from its source with `ast` (every import counts, also those inside
functions): prints each module with what it imports, in dependency order, and exits non-zero on a circle or on an
import of training or export code from the runtime.

    python tools/import_graph.py            # text, bottom layer first
    python tools/import_graph.py --dot      # Graphviz: python tools/import_graph.py --dot | dot -Tpng > graph.png
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rtstyle"
FORBIDDEN = ("rtstyle_train", "rtstyle_export")  # the runtime never imports them (cli.py names them as strings)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules `path` imports (`from rtstyle.x import y` counts as rtstyle.x.y when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] in FORBIDDEN:
                found.add(name)
            elif name in modules:
                found.add(name)
    return found - {module_name(path)}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    edges = {name: imports_of(path, modules) for name, path in files.items()}
    for name in edges:  # importing rtstyle.a.b also runs rtstyle.a's __init__: not counted as an edge of its own
        edges[name] = {d for d in edges[name] if not (d in modules and files[d].name == "__init__.py"
                                                      and any(o.startswith(d + ".") for o in edges[name]))}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each once (Tarjan's strongly connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges.get(node, ()):
            if other not in edges:
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layers(edges: dict[str, set[str]]) -> list[list[str]]:
    """Modules in dependency order: layer 0 imports nothing of the package, layer n only from layers < n."""
    placed: dict[str, int] = {}
    remaining = dict(edges)
    while remaining:
        ready = [m for m, deps in remaining.items() if all(d in placed or d not in edges for d in deps)]
        if not ready:
            break
        for module in ready:
            placed[module] = 1 + max((placed[d] for d in edges[module] if d in placed), default=-1)
            del remaining[module]
    result: list[list[str]] = [[] for _ in range(max(placed.values(), default=-1) + 1)]
    for module, layer in placed.items():
        result[layer].append(module)
    return [sorted(layer) for layer in result]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dot", action="store_true", help="print Graphviz DOT instead of text")
    args = parser.parse_args()
    edges = graph()
    if args.dot:
        print("digraph rtstyle {\n  rankdir=BT; node [shape=box, fontsize=10];")
        for module, deps in sorted(edges.items()):
            for dep in sorted(deps):
                print(f'  "{module}" -> "{dep}";')
        print("}")
    else:
        for number, layer in enumerate(layers(edges)):
            print(f"layer {number}:")
            for module in layer:
                print(f"  {module:32s} ← {', '.join(sorted(edges[module])) or '-'}")
    problems = [f"import circle: {' ↔ '.join(c)}" for c in cycles(edges)]
    problems += [f"{m} imports {d}" for m, deps in edges.items() for d in deps if d.split('.')[0] in FORBIDDEN]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
