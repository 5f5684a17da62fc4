"""`orders status --redis-url redis+sentinel://…`: the primary the sentinels name is the
Redis status reads and judges; the report says so (mode sentinel, which primary) and shows
where a run writes (its health record)."""

from __future__ import annotations

import orjson
import pytest

from orders_cli.health import snapshot
from orders_cli.redis_conn import connect, ingester_name, name_connections
from orders_cli.store.keys import Keyspace
from orders_cli.telemetry import Telemetry
from tests.ops.test_status_redis import status, status_text
from tests.redis_topologies import MASTER_NAME, SentinelSet

pytestmark = pytest.mark.integration
KS = Keyspace()


def test_status_through_the_sentinels_reports_mode_sentinel_and_the_primary_written_to(
    redis_sentinel: SentinelSet, capfd: pytest.CaptureFixture[str]
) -> None:
    url = redis_sentinel.url
    primary = f"{MASTER_NAME} at 127.0.0.1:{redis_sentinel.primary.port}"
    ingester = connect(url)
    name_connections(ingester, ingester_name("host-1"))
    tel = Telemetry()
    tel.connection("spot#0").set("live")
    tel.redis_state, tel.redis_primary = "ok", primary
    ingester.set(KS.health("host-1"), orjson.dumps(snapshot(tel, "host-1")), ex=60)

    rc, doc = status(capfd, url)
    assert rc == 0, doc["problems"]
    assert doc["redis"]["mode"] == "sentinel"
    assert doc["redis"]["primary"] == primary
    assert doc["redis"]["role"] == "master"
    assert doc["redis"]["connected_ingesters"] == ["host-1"]
    assert doc["ingesters"][0]["redis"]["primary"] == primary

    rc, text = status_text(capfd, url)
    assert rc == 0
    assert f"redis (sentinel, {primary}): master, taking writes" in text
    assert f"primary {primary}" in text  # the run's own row: where it writes
