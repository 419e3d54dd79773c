"""The folders' dependency rules, checked on the source: a violating import fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("core", "graphs", "llm", "nodes", "checkpointing", "server", "finance")

# (importer folder, imported folder): why it is forbidden
FORBIDDEN = {
    ("nodes", "server"): "graph nodes never depend on the HTTP layer",
    ("graphs", "server"): "the compiler never depends on the HTTP layer",
    ("checkpointing", "server"): "stores never depend on the HTTP layer",
    ("checkpointing", "graphs"): "stores sit under the graph, not beside it",
    ("checkpointing", "nodes"): "stores sit under the graph nodes",
    ("core", "graphs"): "core is a leaf",
    ("core", "nodes"): "core is a leaf",
    ("core", "checkpointing"): "core is a leaf",
    ("core", "server"): "core is a leaf",
    ("core", "llm"): "core is a leaf",
    **{
        ("finance", folder): "finance is pure arithmetic and law, under everything"
        for folder in ("server", "graphs", "nodes", "checkpointing", "llm", "tools")
    },
    **{(folder, "bench"): "product code never imports the benchmark" for folder in PRODUCT},
    **{(folder, "fakes"): "product code never imports test fakes" for folder in PRODUCT},
    **{(folder, "tests"): "product code never imports tests" for folder in PRODUCT},
}

# Modules that must import nothing of ours (beyond the listed ones).
LEAVES = {"graphs/state.py": set(), "core/settings.py": set(), "core/ids.py": set()}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _product_files() -> list[Path]:
    return sorted(p for folder in PRODUCT for p in (ROOT / folder).rglob("*.py"))


def test_product_folders_exist() -> None:
    assert len(_product_files()) > 40


@pytest.mark.parametrize("path", _product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path) -> None:
    importer = path.relative_to(ROOT).parts[0]
    problems = []
    for line, module in _imports(path):
        imported = module.split(".")[0]
        reason = FORBIDDEN.get((importer, imported))
        if reason:
            problems.append(f"{path.relative_to(ROOT)}:{line} imports {module}: {reason}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_leaf_modules_import_nothing_of_ours(leaf: str) -> None:
    ours = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    bad = [
        f"{leaf}:{line} imports {module}"
        for line, module in _imports(ROOT / leaf)
        if module.split(".")[0] in ours and module not in LEAVES[leaf]
    ]
    assert not bad, "\n".join(bad)


def test_every_library_the_product_imports_is_declared() -> None:
    """A direct import must be a declared dependency, not something another package brings."""
    import re
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {
        re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower().replace("_", "-")
        for spec in project["dependencies"]
    }
    ours = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    distributions = packages_distributions()
    missing = set()
    for path in _product_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in ours or top in sys.stdlib_module_names or top == "__future__":
                    continue
                dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                if not dists & declared:
                    missing.add(f"{top} ({', '.join(sorted(dists))}) in {path.relative_to(ROOT)}")
    assert not missing, "undeclared direct imports:\n" + "\n".join(sorted(missing))
