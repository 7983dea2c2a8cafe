"""The package's shape (docs/architecture.md): TVM only in the compiler, rooms that depend one way,
no import circles, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aotgen"
MAX_LINES = 550
# Which rooms each room may import (besides the shared top-level modules errors, ui, jsonfile, toolchain).
SHARED = {"aotgen.version", "aotgen.outputs", "aotgen.errors", "aotgen.ui", "aotgen.jsonfile", "aotgen.toolchain"}
MAY_IMPORT = {
    "compiler": {"compiler"},
    "firmware": {"firmware", "compiler", "harness", "verify"},
    "harness": {"harness", "compiler", "firmware", "verify"},
    "verify": {"verify", "compiler"},
    "cli": {"cli", "api", "compiler", "firmware", "harness", "verify"},
    "api": {"compiler", "firmware"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, bool]]:
    """(absolute module, at module level?) for every import in the file, nested ones included."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            submodules = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES]
            # `from . import x` of a module x takes nothing from the package itself
            found += [(m, id(node) in top) for m in submodules or [mod]]
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def graph(top_level_only: bool) -> dict[str, set[str]]:
    return {m: {i for i, top in imports(p) if i in MODULES and i != m and (top or not top_level_only)}
            for m, p in MODULES.items()}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_tvm_is_imported_only_in_the_compiler():
    offenders = [(m, i) for m, p in MODULES.items() for i, _ in imports(p)
                 if i.split(".")[0] in ("tvm", "tvm_ffi") and room(m) != "compiler"]
    assert offenders == []


def test_rooms_depend_one_way():
    offenders = []
    for m, deps in graph(top_level_only=False).items():
        if room(m) in MAY_IMPORT:
            offenders += [(m, d) for d in deps if d not in SHARED and room(d) not in MAY_IMPORT[room(m)]]
    assert offenders == []


def test_no_import_circles():
    """No module imports, directly or through others, a module that imports it back."""
    g = graph(top_level_only=False)
    circles = []
    for start in g:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in g[node]:
                if nxt == start:
                    circles.append(path)
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    assert circles == []


def test_modules_are_small():
    big = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}
