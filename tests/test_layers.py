"""Layers import one way — pipeline -> export -> models -> edge_runtime — with no cycles.

Every `import` / `from ... import` in the source, lazy ones inside functions included, is read with
`ast`; a module may import its own layer or a layer below it, and the module graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from prognos.edge_runtime.configfile import tomllib

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["edge_runtime", "models", "export", "pipeline"]  # bottom to top


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return "prognos." + ".".join(parts)


def imports_of(path: Path, modules) -> set[str]:
    """The prognos modules imported anywhere in `path` (function bodies included). `from pkg import x`
    is an edge to pkg.x when that is a module, else to pkg."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("prognos.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("prognos."):
            out |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names
            }
    return out


def sources(layer: str):
    """The layer's Python files, without build leftovers (setuptools' build/, *.egg-info)."""
    return [p for p in (ROOT / layer).rglob("*.py") if not {"build", "__pycache__"} & set(p.parts)]


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for layer in LAYERS for p in sources(layer)}
    return {mod: {m for m in imports_of(path, files) if m in files and m != mod} for mod, path in files.items()}


def layer(mod: str) -> int:
    return LAYERS.index(mod.split(".")[1])


def test_layers_import_one_way():
    back = [f"{m} -> {d}" for m, deps in graph().items() for d in deps if layer(d) > layer(m)]
    assert not back, "imports against the layer order (pipeline -> export -> models -> edge_runtime):\n" + "\n".join(
        sorted(back)
    )


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state and (c := visit(d)):
                return c
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(edges):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_can_fail():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert (
        layer("prognos.pipeline.cli")
        > layer("prognos.export.run")
        > layer("prognos.models.rnn")
        > layer("prognos.edge_runtime.dsp")
    )


def test_every_subpackage_is_in_a_distribution():
    """A folder with an __init__.py that no pyproject lists would be missing from the installed wheel."""
    main = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    edge = tomllib.loads((ROOT / "edge_runtime/pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    folders = {module_name(p) for layer_ in LAYERS for p in sources(layer_) if p.name == "__init__.py"}
    assert folders == set(main) | set(edge)
    assert edge == ["prognos.edge_runtime"] and not any(p.startswith("prognos.edge_runtime") for p in main)
