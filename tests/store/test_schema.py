"""The store's key layout version: written by the first run, checked by every command; a
layout this release does not know is refused in one line, before anything is read or
written."""

from __future__ import annotations

import subprocess

import pytest

from orders_cli.errors import StoreLayoutUnknown
from orders_cli.store.keys import Keyspace
from orders_cli.store.origin import claim
from orders_cli.store.schema import SCHEMA_VERSION, check_schema
from tests.integration.cliproc import ROOT, cli_env, orders_argv
from tests.redis_server import RedisServer

KS = Keyspace()


def test_the_first_claim_records_the_layout_and_a_second_accepts_it(
    redis_server: RedisServer,
) -> None:
    r = redis_server.client()
    assert check_schema(r, KS) is None
    claim(r, KS, "exchange")
    assert r.get(KS.schema()) == str(SCHEMA_VERSION).encode()
    claim(r, KS, "exchange")
    assert check_schema(r, KS) == SCHEMA_VERSION


def test_a_run_refuses_an_unknown_layout_before_writing_anything(
    redis_server: RedisServer,
) -> None:
    r = redis_server.client()
    r.set(KS.schema(), "2")
    before = sorted(r.keys("*"))
    with pytest.raises(StoreLayoutUnknown, match="store layout '2'"):
        claim(r, KS, "exchange")
    assert sorted(r.keys("*")) == before


def test_a_namespace_has_its_own_layout(redis_server: RedisServer) -> None:
    r = redis_server.client()
    r.set(Keyspace(namespace="old:").schema(), "0")
    claim(r, KS, "exchange")  # the default namespace is not concerned
    with pytest.raises(StoreLayoutUnknown, match="namespace 'old'"):
        check_schema(r, Keyspace(namespace="old:"))


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["stats", "BTCUSDT"],
        ["tail", "BTCUSDT", "--since", "1m", "--no-follow"],
        ["prune", "--dry-run"],
        ["verify", "BTCUSDT", "--rest-url", "http://127.0.0.1:9"],
    ],
)
def test_every_command_refuses_an_unknown_layout_in_one_line(
    redis_server: RedisServer, args: list[str]
) -> None:
    redis_server.client().set(KS.schema(), "99")
    env = cli_env()
    done = subprocess.run(
        orders_argv(*args, "--redis-url", redis_server.url),
        capture_output=True, cwd=ROOT, env=env, timeout=60, check=False,
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "store layout '99'" in lines[0], err
