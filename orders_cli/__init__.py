"""orders: stream every Binance aggregate trade into Redis, provably complete."""

__version__ = "0.1.0"
