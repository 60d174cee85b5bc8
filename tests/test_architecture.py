"""The package's shape: subpackages import one way (docs/architecture.md), no source
file is over 500 lines, and the package ships py.typed."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "mimir"

#: Layers, lowest first: a subpackage may import only from lower layers (and itself).
LAYERS = [
    {"errors", "limits", "_version", "logs", "atomic", "notes", "safeio", "home", "_kernels"},
    {"optspec", "native"},
    {"reading", "modules", "cache"},
    {"qc", "inference"},
    {"fusion", "output", "explain"},
    {"projection"},
    {"pipeline"},
    {"training", "report"},
    {"execution", "phantom"},
    {"demo"},
    {"api"},
    {"cli"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "mimir" and len(parts) > 1 else None


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(importing subpackage, imported subpackage) -> files, from every import statement
    (module level and inside functions) of the package."""
    edges: dict[tuple[str, str], list[str]] = {}
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC)
        if rel.parts == ("__init__.py",):
            continue  # the top-level facade re-exports mimir.api lazily
        src = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [_part(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "mimir":
                    targets = [a.name for a in node.names]
                else:
                    targets = [_part(node.module)]
            for dst in targets:
                if dst and dst != src:
                    edges.setdefault((src, dst), []).append(str(rel))
    return edges


def _cycle(edges) -> list[str] | None:
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}

    def visit(n, path):
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m):] + [m] if m in path else [n, m]
            if not state.get(m):
                found = visit(m, path + [m])
                if found:
                    return found
        state[n] = 2
        return None

    for n in sorted(graph):
        if not state.get(n):
            found = visit(n, [n])
            if found:
                return found
    return None


def test_no_import_loop_between_subpackages():
    assert _cycle(import_edges()) is None, _cycle(import_edges())


def test_subpackages_import_only_lower_layers():
    edges = import_edges()
    unknown = {p for e in edges for p in e if p not in RANK}
    assert not unknown, f"subpackages missing from LAYERS (and docs/architecture.md): {unknown}"
    upward = {f"{a} -> {b} ({', '.join(sorted(set(files))[:2])})"
              for (a, b), files in edges.items() if RANK[b] >= RANK[a]}
    assert not upward, sorted(upward)


def test_the_loop_detector_finds_a_loop():
    assert _cycle({("a", "b"): [], ("b", "c"): [], ("c", "a"): []}) is not None
    assert _cycle({("a", "b"): [], ("b", "c"): []}) is None


def _module_of(f: Path) -> str:
    rel = f.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def file_edges() -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from pkg import name`` counts as an
    import of ``pkg.name`` when that is a module), leaving out imports marked
    ``# lazy`` (made inside a function on purpose, for a heavy library)."""
    files = {_module_of(f): f for f in SRC.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for mod, f in files.items():
        text = f.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and "# lazy" in " ".join(
                    lines[node.lineno - 1:node.end_lineno]):
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files
                           else node.module for a in node.names]
            for t in targets:
                if t in files and t != mod:
                    edges.setdefault(mod, set()).add(t)
    return edges


def test_no_import_circle_between_files():
    edges = {(a, b): [] for a, bs in file_edges().items() for b in bs}
    assert _cycle(edges) is None, _cycle(edges)


def test_imports_sit_at_the_top_unless_made_lazy_on_purpose():
    """An import inside a function is a heavy library (torch, Dask, matplotlib, ...) or a
    module that imports one, loaded where it is used, with a comment saying so."""
    hidden = []
    for f in sorted(SRC.rglob("*.py")):
        text = f.read_text(encoding="utf-8")
        lines = text.splitlines()
        for fn in ast.walk(ast.parse(text)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    seg = " ".join(lines[node.lineno - 1:node.end_lineno])
                    if "# lazy" not in seg or not seg.split("# lazy", 1)[1].strip(" :"):
                        hidden.append(f"{f.relative_to(SRC)}:{node.lineno}")
    assert not hidden, hidden


def test_no_source_file_is_over_500_lines():
    long = {str(f.relative_to(SRC)): n for f in SRC.rglob("*.py")
            if (n := len(f.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, long


def test_the_package_ships_py_typed():
    assert (SRC / "py.typed").is_file()
