"""Scenario files (JSON or TOML) -> SimConfig. The format is documented in SCENARIO.md."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import attrs
import orjson

from orders_cli.sim.config import Faults, FaultSpec, SimConfig, SymbolSpec


class ScenarioError(ValueError):
    """The scenario file cannot be read or does not describe a valid configuration."""


_SPEC_FIELDS = {f.name for f in attrs.fields(SymbolSpec)} - {"info"}
_CFG_FIELDS = {f.name for f in attrs.fields(SimConfig)} - {"symbols", "faults"}
_FAULT_SWITCHES = (
    "drop",
    "duplicate",
    "malformed",
    "reorder_burst",
    "stall",
    "abort",
    "rest_error",
)


def load_scenario(path: str | Path, market: str | None = None) -> SimConfig:
    """The scenario's configuration; ``market`` (from the command line) overrides the
    file's ``market`` key."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        data = tomllib.loads(raw.decode()) if p.suffix == ".toml" else orjson.loads(raw)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, orjson.JSONDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario {p}: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario {p}: the top level must be an object/table")
    if market is not None:
        data = {**data, "market": market}
    try:
        return scenario_config(data)
    except (TypeError, ValueError, KeyError) as exc:
        raise ScenarioError(f"scenario {p}: {exc}") from None


def scenario_config(data: dict[str, Any]) -> SimConfig:
    unknown = set(data) - _CFG_FIELDS - {"symbols", "faults", "fixture"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    scalars = {k: v for k, v in data.items() if k in _CFG_FIELDS}
    seed = int(scalars.get("seed", 1))
    market = str(scalars.get("market", "spot"))
    symbols: list[SymbolSpec] = []
    fixture = data.get("fixture")
    if fixture is not None:
        if not isinstance(fixture, dict):
            raise ValueError("fixture must be an object")
        base = SimConfig.from_fixture(seed=seed, market=market, **fixture)
        symbols.extend(base.symbols)
    symbols.extend(_spec(s) for s in data.get("symbols", []))
    if not symbols:
        symbols.extend(SimConfig.from_fixture(seed=seed, market=market).symbols)
    faults = _faults(data.get("faults", {}))
    return SimConfig(symbols=tuple(symbols), faults=faults, **scalars)


def _spec(obj: Any) -> SymbolSpec:
    if not isinstance(obj, dict) or "symbol" not in obj:
        raise ValueError(f"a symbol needs at least a 'symbol' key: {obj!r}")
    unknown = set(obj) - _SPEC_FIELDS
    if unknown:
        raise ValueError(f"unknown symbol keys {sorted(unknown)}")
    kw = dict(obj)
    if "permission_sets" in kw:
        kw["permission_sets"] = tuple(tuple(g) for g in kw["permission_sets"])
    return SymbolSpec(**kw)


def _switch(obj: Any) -> FaultSpec:
    if isinstance(obj, int | float):
        return FaultSpec(rate=float(obj))
    if not isinstance(obj, dict) or set(obj) - {"rate", "at"}:
        raise ValueError(f"a fault is a rate or {{'rate': r, 'at': [seconds]}}: {obj!r}")
    return FaultSpec(
        rate=float(obj.get("rate", 0.0)), at=tuple(float(x) for x in obj.get("at", ()))
    )


def _faults(obj: Any) -> Faults:
    if not isinstance(obj, dict):
        raise ValueError("faults must be an object")
    allowed = {
        *_FAULT_SWITCHES,
        "stall_s",
        "rest_error_status",
        "holes",
        "listings",
        "status_changes",
    }
    unknown = set(obj) - allowed
    if unknown:
        raise ValueError(f"unknown fault keys {sorted(unknown)}")
    kw: dict[str, Any] = {k: _switch(obj[k]) for k in _FAULT_SWITCHES if k in obj}
    if "stall_s" in obj:
        kw["stall_s"] = float(obj["stall_s"])
    if "rest_error_status" in obj:
        kw["rest_error_status"] = int(obj["rest_error_status"])
    kw["holes"] = tuple((str(s), int(lo), int(hi)) for s, lo, hi in obj.get("holes", ()))
    kw["listings"] = tuple(
        (float(item["at"]), _spec(item["symbol"])) for item in obj.get("listings", ())
    )
    kw["status_changes"] = tuple(
        (float(item["at"]), str(item["symbol"]), str(item["status"]))
        for item in obj.get("status_changes", ())
    )
    return Faults(**kw)
