"""Where the recorded exchange data the tests read lives (``tests/data/``, in the repo)."""

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
BINANCE = DATA / "binance"
SPOT_FRAMES = BINANCE / "spot-aggTrade-frames.jsonl"
USDM_FRAMES = BINANCE / "usdm-aggTrade-frames.jsonl"
COINM_FRAMES = BINANCE / "coinm-aggTrade-frames.jsonl"
