"""REST endpoints of one market (paths exactly Binance's, under the market's prefix):
ping, time, exchangeInfo, aggTrades, klines; and the front that picks the market of a
path and answers with the weight used in that market's pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from orders_cli.sim.fixture import symbol_object, top_level, visible_by_default
from orders_cli.sim.klines import INTERVALS, klines
from orders_cli.sim.markets import HOUR_MS
from orders_cli.sim.restserver import Response, WeightLimiter, error

if TYPE_CHECKING:
    from collections.abc import Sequence

    from orders_cli.sim.book import Book
    from orders_cli.sim.engine import Engine

MAX_LIMIT = 1000


class BadRequest(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _mandatory(name: str) -> BadRequest:
    return BadRequest(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def _int(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        raise BadRequest(-1105, f"Parameter '{name}' was empty.")
    try:
        return int(value)
    except ValueError:
        raise BadRequest(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        ) from None


def _limit(params: dict[str, str], default: int = 500) -> int:
    limit = _int(params, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= MAX_LIMIT:
        # Conservative: reject instead of clamping, so clients never depend on clamping.
        raise BadRequest(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


class RestFront:
    """Maps (method, target, ip) to the Routes of the market whose prefix the path has
    (``/api/v3``, ``/fapi/v1``, ``/dapi/v1``); ``used`` is the weight of its pool."""

    def __init__(self, routes: Sequence[Routes]) -> None:
        self.routes = list(routes)

    def _pick(self, target: str) -> Routes:
        path = urlsplit(target).path
        for r in self.routes:
            if path.startswith(r.prefix + "/"):
                return r
        return self.routes[0]

    def __call__(self, method: str, target: str, ip: str) -> Response:
        return self._pick(target)(method, target, ip)

    def used(self, target: str, ip: str) -> int:
        return self._pick(target).limiter.used(ip)


class Routes:
    """One market's endpoints: (method, target, ip) -> Response, charging the weight first."""

    def __init__(self, engine: Engine, limiter: WeightLimiter) -> None:
        self.engine = engine
        self.limiter = limiter
        self.rules = engine.rules
        self.prefix = self.rules.rest_prefix

    def __call__(self, method: str, target: str, ip: str) -> Response:
        parts = urlsplit(target)
        path = parts.path
        weight = None
        if path.startswith(self.prefix):
            weight = self.rules.weights.get(path[len(self.prefix) :])
        if weight is None:
            return error(404, -1000, "Not found.")
        self.engine.stats[f"rest:{path}"] += 1
        limited = self.limiter.charge(ip, weight)
        if limited is not None:
            return limited
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(pairs)
        try:
            if len(params) != len(pairs):
                raise BadRequest(-1101, "Duplicate values for a parameter detected.")
            body = self._dispatch(path, params)
        except BadRequest as exc:
            return error(400, exc.code, exc.msg)
        return Response(200, orjson.dumps(body))

    def _dispatch(self, path: str, params: dict[str, str]) -> Any:
        name = path[len(self.prefix) :]
        if name == "/ping":
            return {}
        if name == "/time":
            return {"serverTime": self.engine.now_ms()}
        if name == "/exchangeInfo":
            if self.rules.futures:  # futures take no parameters
                return self.futures_exchange_info()
            return self.exchange_info(params)
        if name == "/aggTrades":
            return self.agg_trades(params)
        return self.klines(params)

    def _book(self, params: dict[str, str]) -> Book:
        symbol = params.get("symbol")
        if not symbol:
            raise _mandatory("symbol")
        book = self.engine.books.get(symbol)
        if book is None:
            raise BadRequest(-1121, "Invalid symbol.")
        return book

    # -- exchangeInfo ------------------------------------------------------------------------
    def futures_exchange_info(self) -> dict[str, Any]:
        engine = self.engine
        body = top_level(engine.now_ms(), engine.cfg.weight_budget, engine.instance, self.rules)
        body["symbols"] = [
            symbol_object(b.spec, b.status, self.rules)
            for b in (engine.books[s] for s in engine.order)
        ]
        return body

    def exchange_info(self, params: dict[str, str]) -> dict[str, Any]:
        books = self.engine.books
        names: list[str] | None = None
        if "symbol" in params and "symbols" in params:
            raise BadRequest(-1128, "Combination of optional parameters invalid.")
        if "symbol" in params:
            names = [params["symbol"]]
        elif "symbols" in params:
            names = _json_list(params["symbols"], "symbols")
        perms = (
            _json_list(params["permissions"], "permissions") if "permissions" in params else None
        )
        status = params.get("symbolStatus")
        if status is not None and names is not None:
            raise BadRequest(-1128, "Combination of optional parameters invalid.")
        show_sets = params.get("showPermissionSets", "true").lower() != "false"
        if names is not None:
            if any(n not in books for n in names):
                raise BadRequest(-1121, "Invalid symbol.")
            chosen = [books[n] for n in dict.fromkeys(names)]
        else:
            chosen = [books[s] for s in self.engine.order]
        objs = []
        for book in chosen:
            obj = symbol_object(book.spec, book.status)
            if names is None:
                if perms is not None:
                    have = {p for g in obj["permissionSets"] for p in g}
                    if not have & set(perms):
                        continue
                elif not visible_by_default(obj):
                    continue
                if status is not None and obj["status"] != status:
                    continue
            if not show_sets:
                obj["permissionSets"] = []
            objs.append(obj)
        engine = self.engine
        body = top_level(engine.now_ms(), engine.cfg.weight_budget, engine.instance)
        body["symbols"] = objs
        return body

    # -- aggTrades ---------------------------------------------------------------------------
    def agg_trades(self, params: dict[str, str]) -> list[dict[str, Any]]:
        book = self._book(params)
        limit = _limit(params)
        from_id = _int(params, "fromId")
        start = _int(params, "startTime")
        end = _int(params, "endTime")
        self._check_futures_rules(from_id, start, end)
        n = len(book)
        floor = self._history_floor(book)
        holes = self.engine.holes.get(book.symbol)
        if from_id is not None:
            i = max(floor, from_id - book.first_id)
        elif start is not None:
            i = max(floor, book.index_at_time(start))
        elif end is not None:
            return self._backwards(book, book.index_after_time(end), limit, holes, floor)
        else:
            return self._backwards(book, n, limit, holes, floor)
        rows: list[dict[str, Any]] = []
        while i < n and len(rows) < limit:
            t = book.t[i]
            if end is not None and t > end:
                break
            if (start is None or t >= start) and not (
                holes and self.engine.in_hole(book.symbol, book.first_id + i)
            ):
                rows.append(book.rest_row(i))
            i += 1
        return rows

    def _check_futures_rules(self, from_id: int | None, start: int | None, end: int | None) -> None:
        """Futures: ``fromId`` alone or times alone; both times span under an hour."""
        if not self.rules.futures:
            return
        if from_id is not None and (start is not None or end is not None):
            raise BadRequest(-1128, "Combination of optional parameters invalid.")
        span = self.rules.max_span_ms
        if span is not None and start is not None and end is not None and end - start >= span:
            raise BadRequest(
                -1127, f"More than {span // HOUR_MS} hours between startTime and endTime."
            )

    def _history_floor(self, book: Book) -> int:
        """The first index REST still serves (futures keep 48 h / 24 h)."""
        keep_s = self.engine.cfg.rest_history_s
        if keep_s is None:
            return 0
        return book.index_at_time(self.engine.now_ms() - int(keep_s * 1000))

    def _backwards(
        self,
        book: Book,
        stop: int,
        limit: int,
        holes: list[tuple[int, int]] | None,
        floor: int,
    ) -> list[dict[str, Any]]:
        out: list[int] = []
        i = stop - 1
        while i >= floor and len(out) < limit:
            if not (holes and self.engine.in_hole(book.symbol, book.first_id + i)):
                out.append(i)
            i -= 1
        return [book.rest_row(j) for j in reversed(out)]

    # -- klines ------------------------------------------------------------------------------
    def klines(self, params: dict[str, str]) -> list[list[Any]]:
        book = self._book(params)
        interval = params.get("interval")
        if not interval:
            raise _mandatory("interval")
        if interval not in INTERVALS:
            raise BadRequest(-1120, "Invalid interval.")
        return klines(
            book,
            INTERVALS[interval],
            _int(params, "startTime"),
            _int(params, "endTime"),
            _limit(params),
            self.engine.now_ms(),
        )


def _json_list(value: str, name: str) -> list[str]:
    if not value.startswith("["):
        return [value]  # a single bare value, e.g. permissions=SPOT
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
        raise BadRequest(-1100, f"Illegal characters found in parameter '{name}'.")
    return parsed
