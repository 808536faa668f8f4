"""The package's import graph follows its layers: stages import only lower layers, no circles.

Layers (lowest first); a module may import its own subpackage and any lower layer:

-1. ``errors`` — the package's exception family, importable from everywhere (``utils`` raises it too)
0. ``conventions``, ``semantics``, ``paths``, ``utils`` — shared facts, no stage logic
1. ``audio``, ``flame``, ``render``, ``eval`` — stages (and metrics) that need nothing but layer 0
2. ``decoupling``, ``gaussians``, ``inpaint`` — built on audio / flame + render
3. ``motion`` — audio features -> FLAME parameters
4. ``data`` — loaders of the bundled data and of your own video
5. ``synth``, ``pipeline`` — the synthetic world that makes the data; the stages chained
6. ``recipes``, ``bench``, ``teach``, ``cli`` — drivers and teaching aids on top

Imports are read with :mod:`ast` from the source, including imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "talkinghead_edu"

LAYERS = {
    "errors": -1,
    "conventions": 0,
    "semantics": 0,
    "paths": 0,
    "utils": 0,
    "audio": 1,
    "flame": 1,
    "render": 1,
    "eval": 1,
    "decoupling": 2,
    "gaussians": 2,
    "inpaint": 2,
    "motion": 3,
    "data": 4,
    "synth": 5,
    "pipeline": 5,
    "recipes": 6,
    "bench": 6,
    "teach": 6,
    "cli": 6,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _internal_imports(path: Path) -> set[str]:
    """Fully qualified ``talkinghead_edu.*`` modules (or names in them) that ``path`` imports."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("talkinghead_edu")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("talkinghead_edu"):
                target = node.module
            else:
                continue
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        graph[name] = {target for target in _internal_imports(path) if target in files and target != name}
    return graph


def _layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    if len(parts) == 1:
        return "talkinghead_edu", 7  # the package's __init__ re-exports everything
    top = parts[1]
    assert top in LAYERS, f"{module}: top-level module {top!r} has no layer; add it to LAYERS in this test"
    return top, LAYERS[top]


def test_every_stage_imports_only_lower_layers():
    upward = []
    for module, targets in _graph().items():
        top, layer = _layer(module)
        for target in targets:
            target_top, target_layer = _layer(target)
            if target_top != top and target_layer >= layer:
                upward.append(f"{module} (layer {layer}) imports {target} (layer {target_layer})")
    assert not upward, "imports that go up or sideways between layers:\n" + "\n".join(sorted(upward))


def test_no_import_circles():
    graph = _graph()
    # Packages' __init__ files import their children by design; a circle is between modules.
    edges = {
        m: {t for t in ts if not (m == t.rsplit(".", 1)[0] or t == m.rsplit(".", 1)[0])} for m, ts in graph.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_layer_table_covers_the_tree():
    tops = {
        p.name.removesuffix(".py")
        for p in PACKAGE_DIR.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert tops <= set(LAYERS), f"modules without a layer: {sorted(tops - set(LAYERS))}"
