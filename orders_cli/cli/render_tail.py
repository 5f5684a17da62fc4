"""``orders tail`` on a terminal: one plain line per trade, appended at the bottom so the
terminal scrolls and keeps them, columns aligned. Only the CLI imports this module."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from orders_cli.clock import utc_text
from orders_cli.models import Trade
from orders_cli.ops.tail import Tailed

TIME_W = len("2026-12-03 16:22:01.123")
GAP = "  "


utc = utc_text


class TradeLines:
    """Formats trades as aligned lines, as narrow as the values allow (80 columns hold a
    line). A column widens (never narrows) when a longer price, quantity or id comes: from
    then on the lines stay aligned at the new width."""

    def __init__(self, symbols: Sequence[str], samples: Sequence[Trade]) -> None:
        """``samples``: trades like those to come (each symbol's newest), to size the
        columns before the header is printed."""
        self.symbol_w = max(len("symbol"), *(len(s) for s in symbols))
        self.price_w = len("price")  # BTCUSDT: 14, 10 and 10 wide; 78 columns in all
        self.qty_w = len("quantity")
        self.id_w = len("agg id")
        self._widen(samples)

    def _widen(self, trades: Sequence[Trade]) -> None:
        for t in trades:
            self.price_w = max(self.price_w, len(t.price))
            self.qty_w = max(self.qty_w, len(t.quantity))
            self.id_w = max(self.id_w, len(str(t.agg_id)))

    def header(self) -> Text:
        cols = (
            "time (UTC)".ljust(TIME_W),
            "symbol".ljust(self.symbol_w),
            "side",
            "price".rjust(self.price_w),
            "quantity".rjust(self.qty_w),
            "agg id".rjust(self.id_w),
        )
        return Text(GAP.join(cols), style="bold")

    def lines(self, shown: Sequence[Tailed]) -> Text:
        """One line per trade, in the order given."""
        self._widen([s.trade for s in shown])
        out = Text()
        for i, s in enumerate(shown):
            t = s.trade
            if i:
                out.append("\n")
            out.append(f"{utc(t.trade_time)}{GAP}{t.symbol:<{self.symbol_w}}{GAP}")
            if t.is_buyer_maker:  # the buyer was the maker: the taker sold
                out.append("sell", style="red")
            else:
                out.append("buy ", style="green")
            out.append(
                f"{GAP}{t.price:>{self.price_w}}{GAP}{t.quantity:>{self.qty_w}}"
                f"{GAP}{t.agg_id:>{self.id_w}}"
            )
            if s.late:
                out.append(f"{GAP}late (filled a gap)", style="yellow")
        return out
