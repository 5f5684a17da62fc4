"""Human durations for options: ``24h``, ``10m``, ``90s``, ``1d``, ``500ms``, ``1h30m``.

A duration is one or more ``<number><unit>`` parts (units ``ms s m h d w``, each at most
once, largest first); the number may have a decimal fraction (``1.5h``). A bare number
is rejected because its unit would be a guess, except ``0``. Bad input raises
:class:`UsageError`.
"""

from __future__ import annotations

import re

from orders_cli.errors import UsageError

UNIT_SECONDS: dict[str, float] = {
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
_UNIT_ORDER = ("w", "d", "h", "m", "s", "ms")
# "ms" must be tried before "m" and "s".
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|w|d|h|m|s)")
_HINT = "expected e.g. 24h, 10m, 90s, 1d, 500ms, 1h30m"


def parse_duration(text: str) -> float:
    """``"1h30m"`` -> ``5400.0`` seconds. Raises :class:`UsageError` on junk."""
    spec = text.strip().lower()
    if not spec:
        raise UsageError(f"empty duration; {_HINT}")
    if spec == "0":
        return 0.0
    pos = 0
    total = 0.0
    last_rank = -1
    for match in _PART.finditer(spec):
        if match.start() != pos:
            break
        number, unit = match.group(1), match.group(2)
        rank = _UNIT_ORDER.index(unit)
        if rank <= last_rank:
            raise UsageError(f"invalid duration {text!r}: units must be largest first, once each")
        last_rank = rank
        total += float(number) * UNIT_SECONDS[unit]
        pos = match.end()
    if pos != len(spec) or pos == 0:
        if re.fullmatch(r"\d+(?:\.\d+)?", spec):
            raise UsageError(f"invalid duration {text!r}: missing unit; {_HINT}")
        raise UsageError(f"invalid duration {text!r}; {_HINT}")
    return total


def parse_duration_ms(text: str) -> int:
    """Like :func:`parse_duration` but in whole milliseconds (rounded)."""
    return round(parse_duration(text) * 1000)


def format_duration(seconds: float) -> str:
    """Short human form, the inverse of :func:`parse_duration` for whole units:
    ``5400`` -> ``"1h30m"``, ``0.5`` -> ``"500ms"``, ``0`` -> ``"0s"``."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s"):
        size = round(UNIT_SECONDS[unit] * 1000)
        n, ms = divmod(ms, size)
        if n:
            parts.append(f"{n}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return "".join(parts)
