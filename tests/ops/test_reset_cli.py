"""`orders reset`: says what it deletes (keys by kind), asks on a terminal, needs --yes
elsewhere, refuses while an ingester reports in the namespace, touches nothing else."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from orders_cli.cli import cmd_reset
from orders_cli.store.keys import Keyspace
from orders_cli.store.origin import claim, simulator
from tests.ops.helpers import run_main

DEMO = Keyspace(namespace="demo:")


def _fill(r: Any, ks: Keyspace) -> None:
    claim(r, ks, simulator("x"))
    for sym in ("BTCUSDT", "ETHUSDT"):
        r.sadd(ks.symbols(), sym)
        r.zadd(ks.trades_latest(sym), {"m": 1})
        r.hset(ks.state(sym), "watermark", 1)


def test_reset_off_a_terminal_needs_yes_and_names_what_it_would_delete(
    redis_shared: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_shared.client()
    _fill(r, DEMO)
    before = r.dbsize()
    rc, _out, err = _main(capfd, redis_shared.url, "--namespace", "demo")
    assert rc == 2, err
    assert "7 keys (2 trades, 2 ingest state, 3 orders meta)" in err
    assert "namespace 'demo'" in err and "--yes" in err
    assert r.dbsize() == before


def test_reset_yes_deletes_the_namespace_only(
    redis_shared: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_shared.client()
    _fill(r, DEMO)
    _fill(r, Keyspace())
    r.set("unrelated", 1)
    rc, _out, err = _main(capfd, redis_shared.url, "--namespace", "demo", "--yes")
    assert rc == 0, err
    assert "deleted 7 keys" in err
    assert not r.keys("demo:*")
    assert r.exists("unrelated") and r.scard(Keyspace().symbols()) == 2
    rc, _out, err = _main(capfd, redis_shared.url, "--namespace", "demo", "--yes")
    assert rc == 0 and "nothing to delete" in err


def test_reset_refuses_while_an_ingester_reports_in_the_namespace(
    redis_shared: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = redis_shared.client()
    _fill(r, DEMO)
    r.set(DEMO.health("ing-1"), "{}", ex=10)
    rc, _out, err = _main(capfd, redis_shared.url, "--namespace", "demo", "--yes")
    assert rc == 2 and "in use by 1 other running ingester" in err, err
    assert r.scard(DEMO.symbols()) == 2


@pytest.mark.parametrize(("answer", "rc", "left"), [("y\n", 0, 0), ("n\n", 1, 2), ("\n", 1, 2)])
def test_reset_on_a_terminal_asks_and_defaults_to_no(
    redis_shared: Any,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    rc: int,
    left: int,
) -> None:
    r = redis_shared.client()
    _fill(r, DEMO)
    monkeypatch.setattr(cmd_reset, "on_terminal", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer))
    got, _out, err = _main(capfd, redis_shared.url, "--namespace", "demo")
    assert got == rc, err
    assert "[y/N]" in err
    assert r.scard(DEMO.symbols()) == left
    if rc:
        assert "nothing deleted" in err


def _main(capfd: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    return run_main(capfd, "reset", *args, "--redis-url", url)
