"""The simulator is an independent fake exchange: it imports nothing from orders_cli
outside orders_cli.sim."""

from __future__ import annotations

import ast
from pathlib import Path

import orders_cli.sim

SIM_DIR = Path(orders_cli.sim.__file__).parent


def _bad_imports(source: str) -> list[str]:
    bad = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names = ["<relative>"]  # relative imports could escape the package
            elif node.module:
                names = [node.module]
        for name in names:
            if name == "<relative>" or (
                (name == "orders_cli" or name.startswith("orders_cli."))
                and not (name == "orders_cli.sim" or name.startswith("orders_cli.sim."))
            ):
                bad.append(name)
    return bad


def test_checker_catches_a_forbidden_import() -> None:
    assert _bad_imports("from orders_cli.models import Trade") == ["orders_cli.models"]
    assert _bad_imports("import orders_cli.errors") == ["orders_cli.errors"]
    assert _bad_imports("from orders_cli.sim.book import Book") == []


def test_sim_imports_only_itself() -> None:
    files = sorted(SIM_DIR.rglob("*.py"))
    assert len(files) >= 5
    offenders = {
        str(f.relative_to(SIM_DIR)): bad
        for f in files
        if (bad := _bad_imports(f.read_text(encoding="utf-8")))
    }
    assert offenders == {}
