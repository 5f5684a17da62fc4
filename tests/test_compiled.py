"""The opt-in mypyc build: used only when asked for and usable, otherwise pure Python with
the reason (orders_cli/compiled.py); the CI stage that asks for it really runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orders_cli import compiled
from orders_cli.compiled import ENV, MANIFEST, MODULES, Build, activate


def _manifest(build_dir: Path, **over: object) -> None:
    build_dir.mkdir(parents=True, exist_ok=True)
    m = {"modules": list(MODULES), "ext_suffix": compiled.ext_suffix()}
    m["sources"] = compiled.fingerprint()
    m.update(over)
    (build_dir / MANIFEST).write_text(json.dumps(m), "utf-8")


def test_without_the_variable_the_build_is_pure_and_nothing_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert activate(tmp_path / "none") == Build("pure")
    monkeypatch.setenv(ENV, "0")
    assert activate(tmp_path / "none") == Build("pure")
    assert Build("pure").describe == "build: pure Python"


@pytest.mark.parametrize(
    ("over", "why"),
    [
        (None, "no build in"),
        ({"ext_suffix": ".cpython-99-x.so"}, "another Python"),
        ({"modules": ["orders_cli.models"]}, "another module list"),
        ({"sources": {"orders_cli.stats.fixed": "0" * 64}}, "stale (orders_cli."),
        ({}, "incomplete"),  # a manifest but no compiled file
    ],
)
def test_an_unusable_build_falls_back_to_pure_python_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, over: dict[str, object] | None, why: str
) -> None:
    monkeypatch.setenv(ENV, "1")
    if over is not None:
        _manifest(tmp_path, **over)
    build = activate(tmp_path)
    assert build.kind == "pure" and why in build.note
    assert build.describe.startswith(f"build: pure Python ({ENV}=1 but ")
    assert "scripts/build-mypyc" in build.describe


def test_a_build_that_fails_to_import_leaves_pure_python_modules_only(tmp_path: Path) -> None:
    # a fresh interpreter, so the hot modules are not imported yet: every compiled file
    # is present but garbage, the import fails, and the .py modules load instead
    suffix = compiled.ext_suffix()
    _manifest(tmp_path)
    for m in MODULES:
        f = tmp_path.joinpath(*m.split(".")).with_name(m.rsplit(".", 1)[1] + suffix)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"not a shared library")
    (tmp_path / f"0123__mypyc{suffix}").write_bytes(b"nor this")
    code = (
        "import os, sys\n"
        "from orders_cli import compiled\n"
        f"os.environ[{ENV!r}] = '1'\n"
        f"b = compiled.activate(compiled.Path({str(tmp_path)!r}))\n"
        "import orders_cli.stats.fixed as f, orders_cli.stats as s\n"
        "print(b.kind, f.__file__.endswith('.py'), s.bars_for_batch.__module__)\n"
        "print(b.note)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    first, note = out.stdout.splitlines()
    assert first == "pure True orders_cli.stats.fixed"
    assert note.startswith("the build fails to import")


@pytest.mark.skipif(os.environ.get(ENV) != "1", reason="runs in CI's mypyc stage")
def test_the_compiled_stage_runs_every_hot_module_compiled() -> None:
    assert compiled.BUILD.kind == "mypyc", compiled.BUILD.describe
    for m in MODULES:
        assert sys.modules[m].__file__.endswith(compiled.ext_suffix()), m  # type: ignore[union-attr]  # a loaded module has a file
