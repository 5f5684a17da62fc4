"""The opt-in mypyc build of the synchronous hot modules, and which build runs.

``scripts/build-mypyc`` compiles :data:`MODULES` (frame reading, parsing, planning, bars,
their stored form and the apply script's arguments: plain functions and classes the writer
thread and the parser call, never a trio task) into ``build/mypyc/`` (git-ignored), with a
manifest of the sources it compiled. With ``ORDERS_MYPYC=1``, ``import orders_cli`` loads those
compiled modules instead of the ``.py`` files — all of them or none (compiled code calls
its group's classes directly: a mix would hold two ``Bar`` classes). A build that is
missing, made for another Python, stale (one of its sources, or a module they import,
changed since) or that fails to import is not used: the run is pure Python and
:data:`BUILD` says why (``orders run`` logs it as a warning). Without ``ORDERS_MYPYC``
nothing is checked and nothing is loaded.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

# (what the check needs is imported when it runs: without ORDERS_MYPYC, importing
# orders_cli costs nothing more)

MODULES: tuple[str, ...] = (
    "orders_cli.stats.bars",
    "orders_cli.stats.fixed",
    "orders_cli.stats.codec",
    "orders_cli.ws.wsframes",
    "orders_cli.sources.binance.wire",
    "orders_cli.store.gaps",
    "orders_cli.store.planner",
    "orders_cli.store.bar_cache",
    "orders_cli.store.rollup",
    "orders_cli.store.member",
    "orders_cli.store.script",
)
"""Compiled by ``scripts/build-mypyc``: synchronous, typed, on the hot path. (mypyc
compiles ``attr.s(auto_attribs=True)`` classes, not ``attrs.define`` ones.)"""

ENV = "ORDERS_MYPYC"
PACKAGE_DIR = Path(__file__).resolve().parent
BUILD_DIR = PACKAGE_DIR.parent / "build" / "mypyc"
MANIFEST = "manifest.json"
_GROUP_SUFFIX = "__mypyc"  # mypyc's shared library of a group: "<hash>__mypyc"


class Build(NamedTuple):
    """Which build runs: ``"mypyc"`` or ``"pure"``, and why when asked for and not used."""

    kind: str
    note: str = ""

    @property
    def describe(self) -> str:
        if self.kind == "mypyc":
            return f"build: mypyc-compiled ({len(MODULES)} hot modules, {BUILD_DIR})"
        if self.note:
            return f"build: pure Python ({ENV}=1 but {self.note}; run scripts/build-mypyc)"
        return "build: pure Python"


def source_of(module: str) -> Path:
    """The ``.py`` file of an ``orders_cli`` module."""
    return PACKAGE_DIR.parent.joinpath(*module.split(".")).with_suffix(".py")


def _imported(module: str) -> set[str]:
    """The ``orders_cli`` modules ``module`` imports (a compiled module relies on their
    types: a change there makes the build stale too)."""
    import ast

    tree = ast.parse(source_of(module).read_bytes())
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        out.update(n for n in names if n.startswith("orders_cli.") and source_of(n).is_file())
    return out


def fingerprint(modules: Sequence[str] = MODULES) -> dict[str, str]:
    """sha256 of each compiled module's source and of the modules they import."""
    import hashlib

    todo = set(modules)
    for m in modules:
        todo |= _imported(m)
    return {m: hashlib.sha256(source_of(m).read_bytes()).hexdigest() for m in sorted(todo)}


def ext_suffix() -> str:
    import sysconfig

    return str(sysconfig.get_config_var("EXT_SUFFIX"))


class _Finder:
    """Finds the compiled extension of each module of :data:`MODULES` (and the group's
    shared library) in the build directory, ahead of the ``.py`` files."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        import importlib.machinery
        import importlib.util

        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def _check(build_dir: Path) -> tuple[dict[str, Path], str]:
    """The compiled files to load, or why not."""
    import json

    try:
        manifest = json.loads((build_dir / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}, f"no build in {build_dir}"
    suffix = ext_suffix()
    if manifest.get("ext_suffix") != suffix or manifest.get("modules") != list(MODULES):
        return {}, "the build is for another Python or another module list"
    stale = [m for m, h in fingerprint().items() if manifest.get("sources", {}).get(m) != h]
    if stale:
        return {}, f"the build is stale ({', '.join(stale[:3])} changed since)"
    files = {m: build_dir.joinpath(*m.split(".")).with_name(m.rsplit(".", 1)[1] + suffix)
             for m in MODULES}  # fmt: skip
    files.update({p.name[: -len(suffix)]: p for p in build_dir.glob(f"*{_GROUP_SUFFIX}{suffix}")})
    missing = [m for m, p in files.items() if not p.is_file()]
    if missing or len(files) == len(MODULES):
        return {}, f"the build is incomplete ({', '.join(missing) or 'no shared library'})"
    loaded = [m for m in MODULES if m in sys.modules]
    if loaded:
        return {}, f"{loaded[0]} was imported before the build could be chosen"
    return files, ""


def activate(build_dir: Path = BUILD_DIR) -> Build:
    """Load the compiled modules when ``ORDERS_MYPYC=1`` and the build is usable."""
    if os.environ.get(ENV, "") in ("", "0"):
        return Build("pure")
    files, why = _check(build_dir)
    if not files:
        return Build("pure", why)
    import importlib

    finder = _Finder(files)
    before = set(sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        for m in MODULES:
            importlib.import_module(m)
    except Exception as exc:  # (once, at import: whatever fails, the run is pure Python)
        sys.meta_path.remove(finder)
        for m in set(sys.modules) - before:  # (their packages too: they hold compiled code)
            del sys.modules[m]
        return Build("pure", f"the build fails to import ({exc})")
    return Build("mypyc")


BUILD: Build = activate()
"""The build this process runs (chosen when ``orders_cli`` is first imported)."""
