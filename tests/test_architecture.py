"""The layout tells the path: records → screening → studies → effects → models → grade → report.

The import graph of ``src/metareview`` is built from the source with :mod:`ast` (every import,
also those inside functions). It must have no cycle between modules, and no module may import
a package of a higher layer. The layers are the ones ``docs/architecture.md`` draws.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "metareview"

#: Lowest first. A module may import its own package and packages of lower layers only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_util", "errors", "jsonable", "textfmt", "figures"),
    ("records",),
    ("screening",),
    ("studies",),
    ("store",),
    ("effects",),
    ("models",),
    ("diagnostics", "appraisal"),
    ("batch",),
    ("grade",),
    ("synthesis",),
    ("report",),
    ("analysis",),
    ("web",),
    ("cli", "screener", "examples"),
    ("__main__",),
)
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in SRC.rglob("*.py"):
        parts = p.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The metareview modules ``name`` imports (a package's ``__init__`` counts as a module)."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*up, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in mods:
                t = t.rpartition(".")[0]
            if t.startswith("metareview") and t != name:
                out.add(t)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, p, mods) for m, p in mods.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "metareview"


def test_every_package_has_a_layer(graph):
    missing = sorted({_package(m) for m in graph} - set(RANK) - {"metareview"})
    assert missing == [], f"packages without a layer in LAYERS: {missing}"


def test_no_upward_import(graph):
    upward = []
    for mod, targets in graph.items():
        src = _package(mod)
        if src == "metareview":
            continue  # the package root re-exports the public API from any layer
        for t in targets:
            dst = _package(t)
            if dst == "metareview":
                upward.append(f"{mod} -> {t} (the package root is the public API, the top)")
            elif dst != src and RANK[dst] >= RANK[src]:
                upward.append(f"{mod} -> {t}")
    assert upward == []


def test_no_import_cycle(graph):
    # Tarjan's strongly connected components over modules (package __init__ files included,
    # except the root's).
    g = {m: {t for t in ts if t != "metareview"} for m, ts in graph.items() if m != "metareview"}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert cycles == []


def test_util_imports_nothing_of_metareview(graph):
    bad = {m: sorted(t) for m, t in graph.items() if _package(m) == "_util" and t
           and any(_package(x) != "_util" for x in t)}
    assert bad == {}


def test_no_topic_words_in_library_code():
    """Topics live in reviews/ as data: no review's subject is named in src/ (bundled example
    datasets under data/ are data, not code)."""
    words = re.compile(r"ketamine|tubercul|bcg", re.IGNORECASE)
    found = [f"{p.relative_to(SRC)}:{i}" for p in [*SRC.rglob("*.py"), *SRC.rglob("*.j2")]
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if words.search(line)]
    assert found == []
