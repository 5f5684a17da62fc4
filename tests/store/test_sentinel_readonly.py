"""The writer's packed round over a ``redis+sentinel://`` client when its primary turns into
a replica under it: the READONLY reply drops the connection (the next one asks the
sentinels where the primary is), the round is a lost connection to retry, never a refusal
waited out on a connection to a replica."""

from __future__ import annotations

import pytest

from orders_cli.errors import RedisUnavailable
from orders_cli.redis_conn import connect
from tests.redis_topologies import SentinelSet
from tests.store.test_processor import Clock, make, stored_ids, trade

pytestmark = pytest.mark.integration


def test_a_primary_demoted_under_the_writer_loses_its_connections_and_the_round_is_retried(
    redis_sentinel: SentinelSet,
) -> None:
    client = connect(redis_sentinel.url)
    p = make(client, Clock())
    p.process([trade(a) for a in range(10, 20)])
    # the roles swapped by hand, clients kept (REPLICAOF does not cut them off, unlike the
    # sentinel's own reconfiguration): the writer's pooled connection now reaches a replica
    with redis_sentinel.replica.client() as r:
        r.replicaof("NO", "ONE")
    with redis_sentinel.primary.client() as old:
        old.replicaof("127.0.0.1", redis_sentinel.replica.port)
        with pytest.raises(RedisUnavailable, match="previous master is now a slave"):
            p.process([trade(a) for a in range(20, 30)])
        mine = old.client_id()
        kept = [
            c
            for c in old.client_list(_type="normal")
            if int(c["id"]) != mine and not c["name"].startswith("sentinel-")
        ]
        assert not kept, [(c["name"], c["cmd"], c["age"]) for c in kept]
    with redis_sentinel.replica.client() as r:
        assert stored_ids(r) == list(range(10, 20))
    client.close()
