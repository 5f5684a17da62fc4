"""Live control messages of Binance WebSocket Streams (docs/binance.md §1.4): parsing and the
exact reply / error shapes. Pure functions; the connection applies the result."""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
import orjson

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_ID_STR = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_MISSING = object()


@attrs.frozen
class Command:
    method: str
    params: list[Any]
    id: int | str | None


@attrs.frozen
class ControlError:
    code: int
    msg: str
    id: int | str | None = None
    with_id: bool = True

    def encode(self) -> bytes:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.with_id:
            body["id"] = self.id
        return orjson.dumps(body)


def reply(result: Any, req_id: int | str | None) -> bytes:
    return orjson.dumps({"result": result, "id": req_id})


def normalize_stream(name: str) -> str:
    """Lowercase the symbol part (no-op on CJK); the stream type keeps its case."""
    sym, sep, kind = name.partition("@")
    return f"{sym.lower()}{sep}{kind}"


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and bool(_ID_STR.match(value))


def parse(text: str | bytes) -> Command | ControlError:
    """One incoming text frame -> a validated command or the error frame to send."""
    raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ControlError(
            3,
            f"Invalid JSON: expected value at line {exc.lineno} column {exc.colno}",
            with_id=False,
        )
    if not isinstance(obj, dict):
        return ControlError(2, "Invalid request: expected a JSON object", None)
    method = obj.get("method", _MISSING)
    req_id = obj.get("id", _MISSING)
    if req_id is _MISSING or not _valid_id(req_id):
        return ControlError(2, "Invalid request: request ID must be an unsigned integer", None)
    if method is _MISSING:
        return ControlError(
            2, f"Invalid request: missing field `method` at line 1 column {len(raw)}", req_id
        )
    if method not in METHODS:
        shown = method if isinstance(method, str) else json.dumps(method)
        pos = raw.find(json.dumps(method, ensure_ascii=False))
        col = pos + len(json.dumps(method, ensure_ascii=False)) if pos >= 0 else len(raw)
        return ControlError(
            2,
            f"Invalid request: unknown variant `{shown}`, expected one of `SUBSCRIBE`, "
            f"`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` "
            f"at line 1 column {col}",
            req_id,
        )
    params = obj.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list):
        return ControlError(2, "Invalid request: params must be a list", req_id)
    return _check_params(Command(method, params, req_id))


def _check_params(cmd: Command) -> Command | ControlError:
    p, rid = cmd.params, cmd.id
    if cmd.method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not all(isinstance(x, str) for x in p):
            return ControlError(2, "Invalid request: stream names must be strings", rid)
    elif cmd.method == "LIST_SUBSCRIPTIONS":
        if p:
            return ControlError(2, "Invalid request: too many parameters", rid)
    elif cmd.method == "SET_PROPERTY":
        if len(p) > 2:
            return ControlError(2, "Invalid request: too many parameters", rid)
        if not p or not isinstance(p[0], str):
            return ControlError(2, "Invalid request: property name must be a string", rid)
        if p[0] != "combined":
            return ControlError(0, "Unknown property", rid)
        if len(p) < 2 or not isinstance(p[1], bool):
            return ControlError(1, "Invalid value type: expected Boolean", rid)
    else:  # GET_PROPERTY
        if len(p) > 1:
            return ControlError(2, "Invalid request: too many parameters", rid)
        if not p or not isinstance(p[0], str):
            return ControlError(2, "Invalid request: property name must be a string", rid)
        if p[0] != "combined":
            return ControlError(0, "Unknown property", rid)
    return cmd
