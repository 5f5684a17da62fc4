"""Binance wire schema (one-letter keys) and the pure parsers of frames and REST bodies.

Same aggTrade shape on spot, USD-M and COIN-M: ``e,E,s,a,p,q,f,l,T,m`` (+ ``M`` on spot,
``nq``/``st`` on futures, all ignored). Hand validation on purpose: this is the hot path
(``bench/parse_bench.py``); no cattrs, no Decimal construction per frame.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from orders_cli.errors import BadExchangeReply, ExchangeRejected
from orders_cli.models import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    ControlReply,
    Event,
    Ignored,
    Rejection,
    ServerShutdown,
    SymbolInfo,
    Trade,
    new_trade,
)

# A non-negative decimal string as Binance sends it: "0.35280000", "369". No sign, no
# exponent, no NaN/Infinity, ASCII digits only (``\d`` would accept other scripts' digits).
_is_decimal = re.compile(r"[0-9]+(?:\.[0-9]+)?").fullmatch
# Two of them joined by one NUL (price NUL quantity): matches iff both are decimals, since a
# NUL inside either one would make two. One regex call instead of two on the hot path.
_are_decimals = re.compile(r"[0-9]+(?:\.[0-9]+)?\x00[0-9]+(?:\.[0-9]+)?").fullmatch

# Bounds of a storable trade, checked without the host clock (its clock may be wrong);
# the time bounds (MIN_TIME_MS, MAX_TIME_MS) are the models' own.
MAX_SKEW_MS = 86_400_000  # |T - E| of a live frame: an event is not a day off its trade
MAX_ID = 2**53  # ids, first and last trade ids: exact in every JSON reader
# decimal128(38, 18), the archive's type: at most 18 digits after the point, 20 before
MAX_FRACTION_DIGITS = 18
MAX_WHOLE_DIGITS = 20
# a decimal of at most this many characters fits whatever its shape ("d." + 18 digits)
_SURELY_FITS = MAX_WHOLE_DIGITS

#: keys a live aggTrade must carry, in the order reasons are reported
LIVE_KEYS: tuple[str, ...] = ("e", "E", "s", "a", "p", "q", "f", "l", "T", "m")
#: keys one element of a REST aggTrades list must carry
REST_KEYS: tuple[str, ...] = ("a", "p", "q", "f", "l", "T", "m")

RAW_SAMPLE_MAX = 2048  # a Rejection keeps at most this many characters of the frame
_REASON_MAX = 40  # cap on free text (event names) inside a reason: bounded label sets


def _text(raw: str | bytes) -> str:
    if isinstance(raw, str):
        return raw[:RAW_SAMPLE_MAX]
    return raw[:RAW_SAMPLE_MAX].decode("utf-8", "replace")


_OUT_OF_RANGE = ("range:", "precision:")


def _reject(reason: str, raw: str | bytes) -> list[Event]:
    return [Rejection(reason, _text(raw), reason.startswith(_OUT_OF_RANGE))]


def _fits_decimal128(text: str) -> bool:
    """A well-formed decimal string fits decimal128(38, 18) exactly."""
    if len(text) <= _SURELY_FITS:
        return True
    whole, _, fraction = text.partition(".")
    return len(fraction) <= MAX_FRACTION_DIGITS and len(whole.lstrip("0")) <= MAX_WHOLE_DIGITS


def _first_missing(d: dict[str, Any], keys: tuple[str, ...]) -> str:
    for k in keys:
        if k not in d:
            return k
    return "?"  # pragma: no cover - only called after a KeyError


def _is_int(v: object) -> bool:
    return type(v) is int  # excludes bool (a subclass of int) and float


def check_core(d: dict[str, Any]) -> str | None:
    """Reason why the shared fields ``a,p,q,f,l,T,m`` of ``d`` are invalid, or None.
    The keys must be present (checked by the caller). ``range:``/``precision:`` reasons
    are values out of a storable trade's bounds (see ``MIN_TIME_MS`` and below)."""
    a = d["a"]
    if type(a) is not int:
        return "type:a"
    if not 0 <= a < MAX_ID:
        return "range:a"
    p = d["p"]
    if type(p) is not str:
        return "type:p"
    if _is_decimal(p) is None:
        return "bad_decimal:p"
    if not _fits_decimal128(p):
        return "precision:p"
    q = d["q"]
    if type(q) is not str:
        return "type:q"
    if _is_decimal(q) is None:
        return "bad_decimal:q"
    if not _fits_decimal128(q):
        return "precision:q"
    first = d["f"]
    if type(first) is not int:
        return "type:f"
    last = d["l"]
    if type(last) is not int:
        return "type:l"
    if first < 0:
        return "range:f"
    if first > last:
        return "order:f>l"
    if last >= MAX_ID:
        return "range:l"
    t = d["T"]
    if type(t) is not int:
        return "type:T"
    if not MIN_TIME_MS <= t < MAX_TIME_MS:
        return "range:T"
    if type(d["m"]) is not bool:
        return "type:m"
    return None


def _trade(d: dict[str, Any], raw: str | bytes) -> list[Event]:
    try:
        s, e_time, a, p, q = d["s"], d["E"], d["a"], d["p"], d["q"]
        first, last, t, m = d["f"], d["l"], d["T"], d["m"]
    except KeyError:
        return _reject(f"missing:{_first_missing(d, LIVE_KEYS)}", raw)
    x = d.get("X")
    if x is not None and x != "MARKET":
        if type(x) is not str:
            return _reject("type:X", raw)
        return [Ignored(f"non_market:{x[:_REASON_MAX]}")]
    # the common, valid frame in one expression; any failure takes the checks below, which
    # name the first broken rule in the documented order
    if (
        type(s) is str
        and s
        and type(e_time) is int
        and type(a) is int
        and type(p) is str
        and type(q) is str
        and type(first) is int
        and type(last) is int
        and type(t) is int
        and type(m) is bool
        and 0 <= a < MAX_ID
        and 0 <= first <= last < MAX_ID
        and MIN_TIME_MS <= t < MAX_TIME_MS
        and MIN_TIME_MS <= e_time < MAX_TIME_MS
        and -MAX_SKEW_MS < t - e_time < MAX_SKEW_MS
        and len(p) <= _SURELY_FITS
        and len(q) <= _SURELY_FITS
        and _are_decimals(f"{p}\x00{q}") is not None
    ):
        return [new_trade(s, a, p, q, first, last, t, m, e_time)]
    if type(s) is not str:
        return _reject("type:s", raw)
    if not s:
        return _reject("empty:s", raw)
    if type(e_time) is not int:
        return _reject("type:E", raw)
    reason = check_core(d)
    if reason is not None:
        return _reject(reason, raw)
    if not MIN_TIME_MS <= e_time < MAX_TIME_MS:
        return _reject("range:E", raw)
    if not -MAX_SKEW_MS < t - e_time < MAX_SKEW_MS:
        return _reject("range:E-T", raw)
    return [new_trade(s, a, p, q, first, last, t, m, e_time)]  # long decimals that fit


def _control(d: dict[str, Any], raw: str | bytes) -> list[Event]:
    """A reply: ``{"result":…,"id":N}``, an error ``{"code":…,"msg":…,"id":N}`` (the
    documented form) or ``{"error":{"code":…,"msg":…},"id":N}`` (seen from the spot
    streams), or a bare ``{"id":N}`` (``result: null`` left out by the server)."""
    rid = d.get("id")
    if rid is not None and type(rid) is not int and type(rid) is not str:
        return _reject("type:id", raw)
    if "error" in d and "code" not in d:
        inner: object = d["error"]  # (typed object: the compiled build checks dict types)
        if type(inner) is not dict:
            return _reject("type:error", raw)
        d = inner
        if "code" not in d:
            return _reject("missing:code", raw)
    if "code" in d:
        code = d["code"]
        msg = d.get("msg")
        if type(code) is not int:
            return _reject("type:code", raw)
        if msg is not None and type(msg) is not str:
            return _reject("type:msg", raw)
        return [ControlReply(request_id=rid, result=None, error_code=code, error_msg=msg)]
    return [ControlReply(request_id=rid, result=d.get("result"))]


def _event(d: dict[str, Any], raw: str | bytes) -> list[Event]:
    e = d["e"]
    if e == "aggTrade":
        return _trade(d, raw)
    if type(e) is not str:
        return _reject("type:e", raw)
    if e == "serverShutdown":
        if "E" not in d:
            return _reject("missing:E", raw)
        e_time = d["E"]
        if type(e_time) is not int:
            return _reject("type:E", raw)
        return [ServerShutdown(event_time=e_time)]
    return [Ignored(f"event:{e[:_REASON_MAX]}")]


def parse_frame(raw: str | bytes) -> list[Event]:
    """One WebSocket text frame -> events. Pure; never raises (bad input -> Rejection)."""
    try:
        obj = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return _reject("bad_json", raw)
    if type(obj) is not dict:
        return _reject("not_object", raw)
    if "data" in obj and "stream" in obj:  # combined-stream wrapper
        obj = obj["data"]
        if type(obj) is not dict:
            return _reject("type:data", raw)
    if "e" in obj:
        return _event(obj, raw)
    if "id" in obj and ("result" in obj or "code" in obj or "error" in obj or len(obj) == 1):
        return _control(obj, raw)
    if ("code" in obj and "msg" in obj) or "error" in obj:  # error frame whose id is absent
        return _control(obj, raw)
    return _reject("unknown_shape", raw)


def _load_body(body: bytes, what: str) -> Any:
    """A page that is not JSON (a CDN's HTML, truncated JSON) is not the exchange's answer."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadExchangeReply(f"{what}: body is not JSON ({exc})") from None


def _error_body(obj: Any, what: str) -> ExchangeRejected | None:
    """The exchange's own error answer ``{"code": int, "msg": str}``, else None."""
    if type(obj) is dict and type(obj.get("code")) is int and type(obj.get("msg")) is str:
        return ExchangeRejected(f"{what}: {obj['msg']}", code=obj["code"], status=None)
    return None


def parse_agg_trades(
    symbol: str, body: bytes, rejected: list[Rejection] | None = None
) -> list[Trade]:
    """REST ``aggTrades`` list -> trades (``event_time`` = ``T``). Raises
    ``ExchangeRejected`` for the exchange's error body or naming the first bad element and
    the reason; ``BadExchangeReply`` when the body is not an exchange answer at all. An
    element whose values are out of range (a well-formed page, one poisoned trade) is left
    out and appended to ``rejected``: its id is then missing from the page, an exchange-side
    hole, never fetched again."""
    obj = _load_body(body, "aggTrades")
    err = _error_body(obj, "aggTrades")
    if err is not None:
        raise err
    if type(obj) is not list:
        raise BadExchangeReply("aggTrades: body is neither a list nor an exchange error")
    out: list[Trade] = []
    for i, d in enumerate(obj):
        if type(d) is not dict:
            raise ExchangeRejected(f"aggTrades[{i}]: not_object")
        for k in REST_KEYS:
            if k not in d:
                raise ExchangeRejected(f"aggTrades[{i}]: missing:{k}")
        reason = check_core(d)
        if reason is not None:
            if not reason.startswith(_OUT_OF_RANGE):
                raise ExchangeRejected(f"aggTrades[{i}]: {reason}")
            if rejected is not None:
                rejected.append(Rejection(reason, _text(orjson.dumps(d)), out_of_range=True))
            continue
        t = d["T"]
        out.append(new_trade(symbol, d["a"], d["p"], d["q"], d["f"], d["l"], t, d["m"], t))
    return out


def _symbols(body: bytes) -> list[Any]:
    obj = _load_body(body, "exchangeInfo")
    err = _error_body(obj, "exchangeInfo")
    if err is not None:
        raise err
    if type(obj) is not dict or type(obj.get("symbols")) is not list:
        raise ExchangeRejected("exchangeInfo: no 'symbols' list")
    symbols: list[Any] = obj["symbols"]
    return symbols


def parse_exchange_info_report(body: bytes) -> tuple[list[SymbolInfo], int]:
    """exchangeInfo body -> (instruments, number of malformed entries skipped).

    The status key is ``status`` (spot, USD-M) or ``contractStatus`` (COIN-M). Symbols stay
    UTF-8 text (non-ASCII names exist). One bad entry is skipped, never fatal (a collector
    must not lose its whole universe to one odd symbol). A body that is
    not an exchangeInfo object raises ``ExchangeRejected``."""
    out: list[SymbolInfo] = []
    skipped = 0
    for s in _symbols(body):
        if type(s) is not dict:
            skipped += 1
            continue
        status = s.get("status", s.get("contractStatus"))
        sym, base, quote = s.get("symbol"), s.get("baseAsset"), s.get("quoteAsset")
        if not (
            type(sym) is str
            and sym
            and type(base) is str
            and type(quote) is str
            and type(status) is str
            and status
        ):
            skipped += 1
            continue
        out.append(SymbolInfo(symbol=sym, base_asset=base, quote_asset=quote, status=status))
    return out, skipped


def parse_exchange_info(body: bytes) -> list[SymbolInfo]:
    """exchangeInfo body -> instruments (malformed entries skipped; see the report form)."""
    return parse_exchange_info_report(body)[0]


def permissions_seen(body: bytes) -> frozenset[str]:
    """Every permission name that appears in an exchangeInfo body (flat ``permissions``
    and ``permissionSets``). Lets discovery widen the next exchangeInfo request when the
    exchange adds ``TRD_GRP_*`` groups beyond the ones we know."""
    seen: set[str] = set()
    for s in _symbols(body):
        if type(s) is not dict:
            continue
        flat = s.get("permissions")
        if type(flat) is list:
            seen.update(p for p in flat if type(p) is str)
        sets = s.get("permissionSets")
        if type(sets) is list:
            for group in sets:
                if type(group) is list:
                    seen.update(p for p in group if type(p) is str)
    return frozenset(seen)


def request_weight_limit(body: bytes) -> int | None:
    """The REQUEST_WEIGHT per minute an exchangeInfo body advertises (``rateLimits``), or
    None. The exchange's own figure beats our default: a test net or a proxy may differ."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    limits = obj.get("rateLimits") if isinstance(obj, dict) else None
    for lim in limits if isinstance(limits, list) else ():
        if (
            isinstance(lim, dict)
            and lim.get("rateLimitType") == "REQUEST_WEIGHT"
            and lim.get("interval") == "MINUTE"
            and type(lim.get("limit")) is int
            and lim["limit"] > 0
        ):
            per = lim.get("intervalNum", 1)
            if type(per) is int and per >= 1:
                return int(lim["limit"]) // per
    return None


SIMULATOR_MARK = "ordersSimulator"
"""The top-level exchangeInfo field `orders sim` names its instance in (the simulator
defines the same name on its side: sim imports nothing of ours). Binance never sends it."""


def simulator_id(body: bytes) -> str | None:
    """The simulator instance an exchangeInfo body names, or None (the real exchange)."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    mark = obj.get(SIMULATOR_MARK) if isinstance(obj, dict) else None
    return mark if isinstance(mark, str) and mark else None
