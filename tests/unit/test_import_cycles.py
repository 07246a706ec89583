"""Our modules import each other without cycles, counting imports made only for type checking."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("nbo", "sources", "features", "models", "training", "serving", "evaluation")


def _module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            files[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return files


def _imports(path: Path) -> set[str]:
    """Every absolute module name an `import` or `from ... import` in the file can refer to."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_module_imports_one_that_imports_it_back() -> None:
    files = _module_files()
    graph = {name: {m for m in _imports(path) if m in files and m != name} for name, path in files.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        raise AssertionError(f"import cycle: {' -> '.join(err.args[1])}") from None
    assert "sources.synthetic.simulate" in graph["sources.synthetic.bank"]  # the graph sees real imports
