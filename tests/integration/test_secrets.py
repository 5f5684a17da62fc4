"""A password in the Redis URL never reaches any output: not `run --simulate`'s logs (text or
JSON), not a report command, not an error about a bad or unreachable URL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cliproc import ROOT, cli_env, interrupt_after, orders_argv
from tests.redis_server import free_port

pytestmark = pytest.mark.integration

SECRET = "pl4nted-S3cret"


def _env(**extra: str) -> dict[str, str]:
    return {**cli_env(), "COLUMNS": "200", **extra}


def _orders(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        orders_argv(*args),
        capture_output=True,
        cwd=ROOT,
        env=env or _env(),
        timeout=60,
        check=False,
    )
    return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


def _guarded(redis_server: Any) -> tuple[str, str]:
    """The server now asks for SECRET; the two URL forms that carry it."""
    redis_server.client().config_set("requirepass", SECRET)
    port = redis_server.port
    return (
        f"redis://:{SECRET}@127.0.0.1:{port}/0",
        f"redis://default:{SECRET}@127.0.0.1:{port}/0",
    )


def _run_simulate(url: str, *extra: str) -> str:
    proc = subprocess.Popen(
        [*orders_argv("run", "--simulate", "--redis-url", url),
         "--sim-symbols", "5", "--sim-rate", "50", "--no-panel", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=_env(),
    )  # fmt: skip
    text = interrupt_after(proc, b"check it while it runs")
    assert "check it while it runs" in text, text[-3000:]
    return text


@pytest.mark.parametrize("json_logs", [False, True])
def test_run_simulate_never_prints_the_redis_password(redis_server: Any, json_logs: bool) -> None:
    url, _ = _guarded(redis_server)
    text = _run_simulate(url, *(["--json-logs"] if json_logs else []))
    assert SECRET not in text, [line for line in text.splitlines() if SECRET in line]
    assert "***" in text  # the verify hint still names the store, redacted


def test_report_commands_never_print_the_redis_password(redis_server: Any) -> None:
    userinfo, with_user = _guarded(redis_server)
    rest = f"http://127.0.0.1:{free_port()}"  # nothing listens: verify's error path too
    outputs = []
    for url in (userinfo, with_user):
        for args in (
            ["status"],
            ["status", "--json"],
            ["stats", "BTCUSDT"],
            ["tail", "BTCUSDT", "--count", "1", "--since", "1m"],
            ["prune", "--dry-run"],
            ["verify", "BTCUSDT", "--rest-url", rest],
        ):
            outputs.append(_orders(*args, "--redis-url", url))
        outputs.append(_orders("status", env=_env(ORDERS_REDIS_URL=url)))
    leaked = [o for o in outputs if SECRET in o]
    assert not leaked, leaked[0][-2000:]


def test_url_errors_never_print_the_password(tmp_path: Path) -> None:
    closed = free_port()
    sock = tmp_path / "no.sock"
    urls = [
        f"redis://:{SECRET}@127.0.0.1:99999/0",  # bad port
        f"redis://:{SECRET}@127.0.0.1:{closed}/abc",  # bad db
        f"http://:{SECRET}@127.0.0.1:{closed}/0",  # bad scheme
        f"redis://:{SECRET}@127.0.0.1:{closed}/0?foo=1",  # unknown option
        f"unix://{sock}?password={SECRET}&bogus=1",
        f"rediss://:{SECRET}@127.0.0.1:{closed}/0?ssl_cert_reqs=bogus",
        f"rediss://:{SECRET}@127.0.0.1:{closed}/0?ssl_ca_certs={tmp_path}/none.pem",
        f"redis://:{SECRET}@127.0.0.1:{closed}/0",  # unreachable
        f"unix://{sock}?password={SECRET}",  # unreachable socket
    ]
    for url in urls:
        for text in (
            _orders("status", "--redis-url", url),
            _orders("status", env=_env(ORDERS_REDIS_URL=url)),
            _orders("run", "--redis-url", url, "--no-panel"),
        ):
            assert SECRET not in text, text
            assert "Traceback" not in text, text


def test_a_wrong_password_is_reported_without_echoing_it(redis_server: Any) -> None:
    _guarded(redis_server)
    wrong = f"redis://:{SECRET}-wrong@127.0.0.1:{redis_server.port}/0"
    text = _orders("status", "--redis-url", wrong)
    assert SECRET not in text
    assert "Traceback" not in text
