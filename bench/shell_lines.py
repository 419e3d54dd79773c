"""Lines of the shell's setup code (settings, opening connections, creating our tables, wiring
the stores) at two commits, for [S11]'s "the shell is smaller" (docs/performance.md).

    python -m bench.shell_lines eb993d1 HEAD

Whole modules count whole ("*"); elsewhere only the named functions, classes and constants.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BEFORE: dict[str, str | set[str]] = {
    "server/settings.py": "*",
    "checkpointing/factory.py": "*",
    "checkpointing/pg.py": "*",
    "checkpointing/sql.py": {"open_database"},
    "checkpointing/redis_guard.py": {"redis_prefix", "connect_redis"},
    "checkpointing/locks.py": {"redis_prefix"},
    "checkpointing/memory_pipeline.py": {"redis_prefix", "connect", "open_memory", "run_worker"},
    "checkpointing/memory_store.py": {
        "PostgresFactStore.setup",
        "PostgresFactStore._create_vector_extension",
        "SqliteFactStore.setup",
        "open_fact_store",
    },
    "checkpointing/identity.py": {"_SCHEMA", "IdentityStore.setup"},
    "checkpointing/fenced.py": {
        "_CREATE",
        "PostgresFences.setup",
        "fence_checkpointer",
        "_is_postgres",
        "fences_for",
        "_classes",
    },
    "server/session_stack.py": "*",
    "server/app.py": "*",
    "server/gate.py": {"open_gate"},
}
AFTER: dict[str, str | set[str]] = {
    "core/settings.py": "*",
    "checkpointing/stores.py": "*",
    "checkpointing/sql.py": {"postgres_pool", "sqlite_connection"},
    "checkpointing/memory_pipeline.py": {"open_memory", "open_fact_store", "run_worker"},
    "checkpointing/fenced.py": {"fences_for"},
    "checkpointing/migrations.py": "*",
    "server/session_stack.py": "*",
    "server/app.py": "*",
    "server/gate.py": {"open_gate"},
}


def _source(commit: str, path: str) -> str | None:
    shown = subprocess.run(
        ["git", "show", f"{commit}:{path}"], capture_output=True, text=True, cwd=ROOT
    )
    return shown.stdout if shown.returncode == 0 else None


def _name(node: ast.stmt, prefix: str) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return prefix + node.name
    if isinstance(node, ast.Assign | ast.AnnAssign):
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        return prefix + target.id if isinstance(target, ast.Name) else None
    return None


def lines(source: str, names: str | set[str]) -> int:
    """Lines of the named top-level (or `Class.method`) definitions, or all of `source`."""
    if names == "*":
        return len(source.splitlines())
    total = 0

    def visit(body: list[ast.stmt], prefix: str = "") -> None:
        nonlocal total
        for node in body:
            name = _name(node, prefix)
            if name in names:
                decorators = [d.lineno for d in getattr(node, "decorator_list", [])]
                total += (node.end_lineno or node.lineno) - min([node.lineno, *decorators]) + 1
            elif isinstance(node, ast.ClassDef):
                visit(node.body, node.name + ".")

    visit(ast.parse(source).body)
    return total


def main() -> None:
    before, after = sys.argv[1:3]
    for label, commit, table in (("before", before, BEFORE), ("after", after, AFTER)):
        total = 0
        for path, names in table.items():
            source = _source(commit, path)
            count = lines(source, names) if source else 0
            print(f"  {label} {path}: {count}")
            total += count
        print(f"{label} ({commit}): {total}")


if __name__ == "__main__":
    main()
