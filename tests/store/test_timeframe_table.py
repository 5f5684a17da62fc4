"""The timeframe table is the one list: key names, settings, retention, cache depth and
the apply script's layout all follow it."""

from __future__ import annotations

from typing import Any

from orders_cli.store.keys import Keyspace
from orders_cli.store.script import APPLY_LUA


def test_the_apply_script_writes_bars_for_as_many_timeframes_as_it_gets_keys(
    redis_shared: Any,
) -> None:
    r = redis_shared.client()
    fixed = ["st", "latest", "stream", "cur", "info"]
    tf_keys = ["bars:a", "bars:b"]  # a table of two timeframes
    argv = [0, 0, 1, 1, 0, 0, 0]  # revision, trades, bars per timeframe, NC, NI, NS
    argv += [1000, "bar-a", "0", 2000, "bar-b", "0"]
    res = r.eval(APPLY_LUA, len(fixed) + len(tf_keys), *fixed, *tf_keys, *argv)
    assert res == [1, b"1"]
    assert r.zrange("bars:a", 0, -1, withscores=True) == [(b"bar-a", 1000.0)]
    assert r.zrange("bars:b", 0, -1, withscores=True) == [(b"bar-b", 2000.0)]


def test_a_symbol_has_five_fixed_keys_and_one_per_timeframe() -> None:
    from orders_cli.store.keys import SYMBOL_KEY_COUNT
    from orders_cli.timeframes import TIMEFRAMES

    keys = Keyspace().symbol_keys("BTCUSDT")
    assert len(keys) == SYMBOL_KEY_COUNT == 5 + len(TIMEFRAMES)
    assert keys[5:] == [Keyspace().bars("BTCUSDT", tf) for tf in TIMEFRAMES]


def test_every_per_timeframe_setting_comes_from_the_table() -> None:
    from orders_cli.config import RunConfig
    from orders_cli.stats.retention import DEFAULT_BAR_RETENTION_S
    from orders_cli.store.bar_cache import KEEP_WINDOWS
    from orders_cli.timeframes import TABLE, TF_MS, TIMEFRAMES

    assert tuple(tf.name for tf in TABLE) == TIMEFRAMES
    assert {tf.name: tf.ms for tf in TABLE} == TF_MS
    assert {tf.name: tf.retention_s for tf in TABLE} == DEFAULT_BAR_RETENTION_S
    assert {tf.name: tf.cache_windows for tf in TABLE} == KEEP_WINDOWS
    assert RunConfig(redis_url="redis://h").timeframes == TIMEFRAMES
    assert [tf.ms for tf in TABLE] == sorted(tf.ms for tf in TABLE)
