"""Rich rendering for ``orders stats``: bars table, current window, price/volume chart.

Display only: Decimal values are scaled to screen rows here, never stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from orders_cli.cli.console import Fit
from orders_cli.clock import utc_and_ms
from orders_cli.stats.bars import Bar
from orders_cli.stats.codec import fmt_decimal
from orders_cli.timeframes import TF_MS

_EIGHTHS = " ▁▂▃▄▅▆▇█"
_WIDE = Context(prec=80)  # quantize never runs out of digits
_TIMES = ("window_start", "last_update_time")  # the current window's epoch-ms fields


def when(ms: int, tf: str) -> str:
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    if TF_MS[tf] < 1000:
        return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"
    return t.strftime("%Y-%m-%d %H:%M") if TF_MS[tf] < 86_400_000 else t.strftime("%Y-%m-%d")


def places(values: Sequence[Decimal]) -> int:
    """The most decimal places any of ``values`` needs (trailing zeros do not count)."""
    exps = (v.normalize(_WIDE).as_tuple().exponent for v in values)
    return max((max(0, -e) for e in exps if isinstance(e, int)), default=0)


def column(values: Sequence[Decimal], digits: int | None = None) -> list[str]:
    """A column of decimals all to the same places, so the points line up and no value
    has ragged zeros: the most any value needs (nothing is rounded), or ``digits`` (half
    even, for a derived value such as vwap: shown to the prices' places)."""
    q = Decimal(1).scaleb(-(places(values) if digits is None else digits))
    return [f"{v.quantize(q, ROUND_HALF_EVEN, _WIDE):f}" for v in values]


def _pct(part: Decimal, whole: Decimal) -> str:
    return "-" if not whole else f"{part * 100 / whole:.1f}%"


_WIDE_ONLY = ("quote vol", "vwap", "fills", "taker buy")


def bars_table(symbol: str, tf: str, bars: list[Bar]) -> Fit:
    """Every column where they fit; at 80 columns the window's time (its day in the title),
    OHLC, volume and trades, with a caption naming what ``-o json`` has besides."""
    return Fit((_bars_table(symbol, tf, bars, wide=True), _bars_table(symbol, tf, bars, False)))


def _bars_table(symbol: str, tf: str, bars: list[Bar], wide: bool) -> Table:
    days = {when(b.window_start, "1d") for b in bars}
    short = not wide and len(days) == 1 and TF_MS[tf] < 86_400_000
    title = f"{symbol} · {tf} bars (UTC{', ' + days.pop() if short else ''}, newest last)"
    table = Table(title=title, title_justify="left")
    names = ["window", "open", "high", "low", "close", "volume", "quote vol", "vwap"]
    names += ["trades", "fills", "taker buy"]
    shown = [n for n in names if wide or n not in _WIDE_ONLY]
    for name in shown:
        table.add_column(name, justify="left" if name == "window" else "right", no_wrap=True)
    if not wide:
        table.caption = f"{', '.join(_WIDE_ONLY)}: -o json, or a wider terminal"
    ohlc = ("open", "high", "low", "close")  # one price scale: the same places in all four
    price_places = places([getattr(b, f) for b in bars for f in ohlc])
    price_cols = [column([getattr(b, f) for b in bars], price_places) for f in ohlc]
    volumes = column([b.volume for b in bars])
    quotes = column([b.quote_volume for b in bars])
    vwaps = column([b.vwap for b in bars], price_places)
    for i, b in enumerate(bars):
        style = "green" if b.close >= b.open else "red"
        o, h, lo, c = (col[i] for col in price_cols)
        start = when(b.window_start, tf)
        cells: dict[str, str | Text] = {
            "window": start.split(" ", 1)[1] if short else start,
            "open": o,
            "high": h,
            "low": lo,
            "close": Text(c, style=style),
            "volume": volumes[i],
            "quote vol": quotes[i],
            "vwap": vwaps[i],
            "trades": str(b.trades_count),
            "fills": str(b.fills_count),
            "taker buy": _pct(b.taker_buy_volume, b.volume),
        }
        table.add_row(*(cells[n] for n in shown))
    return table


def current_table(symbol: str, fields: dict[str, int | str]) -> Table:
    """The fields as stored (decimals too); an epoch-ms time beside its UTC form."""
    table = Table(title=f"{symbol} · current 100 ms window", title_justify="left")
    table.add_column("field")
    table.add_column("value", justify="right")
    for k, v in fields.items():
        table.add_row(k, utc_and_ms(int(v)) if k in _TIMES else str(v))
    if not fields:
        table.add_row("(none)", "no current window stored")
    return table


def _row_of(value: Decimal, lo: Decimal, hi: Decimal, height: int) -> int:
    """0 = bottom row, height-1 = top row."""
    if hi == lo:
        return height // 2
    return min(height - 1, int((value - lo) * (height - 1) / (hi - lo) + Decimal("0.5")))


def chart(symbol: str, tf: str, bars: list[Bar], width: int, height: int = 14) -> RenderableType:
    """Candles (high-low wick │, open-close body █, green up / red down) over a volume
    histogram drawn with eighth blocks."""
    if not bars:
        return Text(f"{symbol} {tf}: no bars to chart", style="dim")
    label_w = max(len(fmt_decimal(b.high)) for b in bars) + 1
    asked = len(bars)
    bars = bars[-max(1, width - label_w - 1) :]  # one column per bar: the newest that fit
    hi = max(b.high for b in bars)
    lo = min(b.low for b in bars)
    grid: list[list[tuple[str, str]]] = [[(" ", "")] * len(bars) for _ in range(height)]
    for x, b in enumerate(bars):
        style = "green" if b.close >= b.open else "red"
        top, bot = _row_of(b.high, lo, hi, height), _row_of(b.low, lo, hi, height)
        o, c = _row_of(b.open, lo, hi, height), _row_of(b.close, lo, hi, height)
        for y in range(bot, top + 1):
            grid[y][x] = ("│", style)
        for y in range(min(o, c), max(o, c) + 1):
            grid[y][x] = ("█", style)
    lines: list[Text] = [Text(f"{symbol} · {tf} · close with high/low", style="bold")]
    for y in range(height - 1, -1, -1):
        label = fmt_decimal(hi) if y == height - 1 else fmt_decimal(lo) if y == 0 else ""
        line = Text(label.rjust(label_w) + " ", style="dim")
        for ch, st in grid[y]:
            line.append(ch, style=st)
        lines.append(line)
    lines.extend(_volume_lines(bars, label_w))
    span = f"{when(bars[0].window_start, tf)} → {when(bars[-1].window_start, tf)} UTC"
    if len(bars) < asked:
        span += f" (the newest {len(bars)} of {asked} bars: a wider terminal shows more)"
    lines.append(Text(" " * (label_w + 1) + span, style="dim"))
    return Group(*lines)


def _volume_lines(bars: list[Bar], label_w: int, height: int = 4) -> list[Text]:
    vmax = max(b.volume for b in bars)
    out: list[Text] = [Text("volume", style="bold")]
    levels = [0 if not vmax else int(b.volume * height * 8 / vmax + Decimal("0.999")) for b in bars]
    for row in range(height - 1, -1, -1):
        label = fmt_decimal(vmax) if row == height - 1 else ""
        line = Text(label.rjust(label_w) + " ", style="dim")
        for b, lvl in zip(bars, levels, strict=True):
            cell = max(0, min(8, lvl - row * 8))
            line.append(_EIGHTHS[cell], style="green" if b.close >= b.open else "red")
        out.append(line)
    return out
