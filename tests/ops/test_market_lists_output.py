"""Commands over several markets keep the output rule: `prune -o json` writes one
document per market, each naming it; `status` counts what the store holds in each
market asked and in total."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from orders_cli.ops.symbols import keyspace_for
from tests.ops.helpers import run_main, store, trade

NOW_MS = 1_760_000_000_000


def _two_markets(r: Any) -> None:
    store(r, keyspace_for("spot", ""), [trade("BTCUSDT", i, NOW_MS + i) for i in (1, 2, 3)])
    store(r, keyspace_for("usdm", ""), [trade("ETHUSDT", i, NOW_MS + i) for i in (1, 2)])


def test_prune_of_every_market_writes_one_json_document_per_market_naming_it(
    redis_server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    _two_markets(redis_server.client())
    code, out, err = run_main(
        capfd, "prune", "--market", "all", "--dry-run", "-o", "json",
        "--redis-url", redis_server.url,
    )  # fmt: skip
    assert code == 0, err
    docs = [orjson.loads(line) for line in out.splitlines()]
    assert [d["market"] for d in docs] == ["spot", "usdm"]
    assert all("totals" in d for d in docs)


def test_prune_as_tables_over_several_markets_heads_each_report_with_its_market(
    redis_server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    _two_markets(redis_server.client())
    code, out, err = run_main(
        capfd, "prune", "--market", "spot,usdm", "--dry-run", "-o", "table",
        "--redis-url", redis_server.url,
    )  # fmt: skip
    assert code == 0, err
    assert out.index("market spot") < out.index("market usdm")


def test_status_counts_the_store_of_each_market_asked_and_in_total(
    redis_server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    _two_markets(redis_server.client())
    _code, out, _err = run_main(capfd, "status", "-o", "json", "--redis-url", redis_server.url)
    store_doc = orjson.loads(out)["store"]
    assert (store_doc["symbols"], store_doc["trades"]) == (2, 5)
    assert store_doc["markets"] == {
        "spot": {"symbols": 1, "trades": 3},
        "usdm": {"symbols": 1, "trades": 2},
    }
    _code, out, _err = run_main(
        capfd, "status", "-o", "json", "--market", "usdm", "--redis-url", redis_server.url
    )
    assert orjson.loads(out)["store"] == {"symbols": 1, "trades": 2}
