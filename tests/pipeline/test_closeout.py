"""Which held symbols a start closes out: stored trades, no longer TRADING (halted or gone
from the listing), within ``--symbols``; the gone ones are marked DELISTED."""

from __future__ import annotations

from typing import Any

from orders_cli.models import SymbolInfo
from orders_cli.pipeline.closeout import Closeout, find_closeout
from orders_cli.store.info import DELISTED, mark_delisted
from orders_cli.store.keys import Keyspace

KS = Keyspace()


def _info(symbol: str, status: str) -> SymbolInfo:
    return SymbolInfo(symbol, symbol[:3], "USDT", status)


def _hold(r: Any, symbol: str, watermark: int | None) -> None:
    r.sadd(KS.symbols(), symbol)
    if watermark is not None:
        r.hset(KS.state(symbol), mapping={"revision": 3, "watermark": watermark})


def test_held_symbols_with_trades_that_left_trading_are_closed_out(redis_shared: Any) -> None:
    r = redis_shared.client()
    _hold(r, "BTCUSDT", 10)  # still trading: not ours to close
    _hold(r, "ETHUSDT", 20)  # halted while down
    _hold(r, "BNBUSDT", 30)  # gone from the listing
    _hold(r, "XRPUSDT", None)  # listed as BREAK, never traded: nothing to close
    _hold(r, "LTCUSDT", 40)  # CANCEL_ONLY
    listed = [
        _info("BTCUSDT", "TRADING"),
        _info("ETHUSDT", "BREAK"),
        _info("XRPUSDT", "BREAK"),
        _info("LTCUSDT", "CANCEL_ONLY"),
    ]
    assert find_closeout(r, KS, listed) == Closeout(
        symbols=("BNBUSDT", "ETHUSDT", "LTCUSDT"), delisted=("BNBUSDT",)
    )


def test_with_symbols_only_the_wanted_ones_are_closed_out(redis_shared: Any) -> None:
    r = redis_shared.client()
    _hold(r, "ETHUSDT", 20)
    _hold(r, "BNBUSDT", 30)
    listed = [_info("ETHUSDT", "HALT")]
    assert find_closeout(r, KS, listed, ("ETHUSDT",)) == Closeout(symbols=("ETHUSDT",))


def test_mark_delisted_updates_the_info_status(redis_shared: Any) -> None:
    r = redis_shared.client()
    r.hset(KS.symbol_info("BNBUSDT"), mapping={"status": "TRADING", "base_asset": "BNB"})
    mark_delisted(r, KS, ["BNBUSDT"], "spot", 123)
    info = r.hgetall(KS.symbol_info("BNBUSDT"))
    assert info[b"status"] == DELISTED.encode()
    assert info[b"base_asset"] == b"BNB" and info[b"updated_at"] == b"123"
