"""orders: stream every Binance aggregate trade into Redis, provably complete."""

__version__ = "0.1.0"

# Before anything else: with ORDERS_MYPYC=1 the compiled hot modules replace the .py files
# (orders_cli/compiled.py); the import must come first so none is loaded as Python before.
from orders_cli import compiled as _compiled

del _compiled
