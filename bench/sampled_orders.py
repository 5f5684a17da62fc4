"""`orders ...` with an in-process stack sampler (py-spy is not installed; cProfile sees
only the trio thread, not the Redis worker thread).

A daemon thread takes ``sys._current_frames()`` every ``ORDERS_SAMPLE_MS`` (default 5) ms
and counts, per thread, the leaf function and the whole stack. On exit it writes
``$ORDERS_SAMPLE_OUT`` (JSON): per thread, the top leaves and the top inclusive
functions with their share of samples. A thread blocked in a syscall (select, recv)
shows as that leaf: read "idle" leaves as waiting, not as work.

Experiment knobs (measure a fix before it is made in orders_cli):
``ORDERS_SWITCH_INTERVAL_MS`` sets ``sys.setswitchinterval`` (GIL hand-over between the
trio thread and the Redis worker thread; CPython's default is 5 ms);
``ORDERS_WS_RECV_BYTES`` passes ``receive_buffer_size`` to trio-websocket's
``connect_websocket_url`` (its default is 4 KiB per ``receive_some``; only with
``--ws-client trio-websocket``: the default client reads 64 KiB chunks).
Without ``ORDERS_SAMPLE_OUT`` no sampler runs.

Run: .venv/bin/python bench/sampled_orders.py run --redis-url ... (same args as orders)
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections import Counter
from types import FrameType

import orjson

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

INTERVAL = float(os.environ.get("ORDERS_SAMPLE_MS", "5")) / 1000
OUT = os.environ.get("ORDERS_SAMPLE_OUT", "")

leaves: dict[str, Counter[str]] = {}
inclusive: dict[str, Counter[str]] = {}
totals: Counter[str] = Counter()
joint: Counter[str] = Counter()  # "main leaf | worker leaf" of the same instant


def _name(f: FrameType) -> str:
    code = f.f_code
    path = code.co_filename
    short = path.split("site-packages/")[-1].split(f"{ROOT}/")[-1]
    return f"{short}:{code.co_name}"


def _sample_loop() -> None:
    me = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    while True:
        time.sleep(INTERVAL)
        frames = sys._current_frames()  # the only way to see other threads' stacks
        now = {names.get(i, str(i)): _name(f) for i, f in frames.items() if i != me}
        joint[" | ".join(now.get(t, "-") for t in ("MainThread", "Trio thread 0"))] += 1
        for ident, frame in frames.items():
            if ident == me:
                continue
            tname = names.get(ident)
            if tname is None:
                names = {t.ident: t.name for t in threading.enumerate()}
                tname = names.get(ident, str(ident))
            totals[tname] += 1
            leaves.setdefault(tname, Counter())[_name(frame)] += 1
            seen: set[str] = set()
            f: FrameType | None = frame
            while f is not None:
                seen.add(_name(f))
                f = f.f_back
            inc = inclusive.setdefault(tname, Counter())
            for n in seen:
                inc[n] += 1


def _dump() -> None:
    out = {}
    for tname, n in totals.items():
        out[tname] = {
            "samples": n,
            "leaf": [(k, round(100 * v / n, 1)) for k, v in leaves[tname].most_common(40)],
            "inclusive": [(k, round(100 * v / n, 1)) for k, v in inclusive[tname].most_common(80)],
        }
    n = sum(joint.values()) or 1
    out["joint main|worker"] = {
        "samples": n,
        "leaf": [(k, round(100 * v / n, 1)) for k, v in joint.most_common(30)],
        "inclusive": [],
    }
    with open(OUT, "wb") as fh:
        fh.write(orjson.dumps(out, option=orjson.OPT_INDENT_2))


def _knobs() -> None:
    switch_ms = os.environ.get("ORDERS_SWITCH_INTERVAL_MS")
    if switch_ms:
        sys.setswitchinterval(float(switch_ms) / 1000)
    recv = os.environ.get("ORDERS_WS_RECV_BYTES")
    if recv:
        import functools

        from orders_cli.ws import wsopen

        # open_ws looks the name up in its module globals at each connect
        orig = getattr(wsopen, "connect_websocket_url")  # noqa: B009 - not re-exported
        patched = functools.partial(orig, receive_buffer_size=int(recv))
        setattr(wsopen, "connect_websocket_url", patched)  # noqa: B010 - not re-exported


def main() -> None:
    _knobs()
    if OUT:
        threading.Thread(target=_sample_loop, name="sampler", daemon=True).start()
        atexit.register(_dump)
    from orders_cli.cli.app import main as orders_main

    sys.argv[0] = "orders"
    orders_main()


if __name__ == "__main__":
    main()
