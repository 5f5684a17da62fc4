"""WebSocket receive throughput of the shard's clients over loopback.

A "blast" server runs in its own process: wsproto handshake, then ``send_all`` of one
pre-framed blob of aggTrade frames (the recorded spot frames in tests/data/binance, or
the project's sim fixture) again and again, so it costs a few % CPU and never limits the
client. The client (this process) connects with the chosen client(s), reads for
``--seconds`` after ``--warmup`` and reports messages/s and the CPU % of both processes.

Run: python bench/ws_bench.py [--client wsproto|trio-websocket|both] [--conns 1]
                              [--seconds 10] [--warmup 2] [--decode]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from orders_cli.ws.wsopen import WS_CLIENTS, WsConn, open_ws, ws_client_kind

FIXTURE = Path(__file__).resolve().parents[1] / "tests/data/binance/spot-aggTrade-frames.jsonl"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def frames() -> list[str]:
    lines = [ln for ln in FIXTURE.read_text().splitlines() if ln.strip()]
    if not lines:
        raise SystemExit(f"no frames in {FIXTURE}")
    return lines


# -- server (child process) ------------------------------------------------------------


async def serve() -> None:
    texts = frames()

    async def handler(stream: trio.SocketStream) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            ws.receive_data(data)
            if any(isinstance(e, Request) for e in ws.events()):
                break
        await stream.send_all(ws.send(AcceptConnection()))
        # server frames are unmasked: one blob of every fixture frame, sent in a loop
        blob = b"".join(ws.send(TextMessage(t)) for t in texts)
        try:
            while True:
                await stream.send_all(blob)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, handler, 0)
        port = listeners[0].socket.getsockname()[1]
        print(port, flush=True)


# -- client ----------------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def measure(kind: str, url: str, conns: int, seconds: float, warmup: float, decode: bool,
                  server_pid: int) -> dict[str, float | str | int]:  # fmt: skip
    count = 0

    async def reader(ws: WsConn) -> None:
        nonlocal count
        loads = orjson.loads
        while True:
            batch = await ws.get_messages()
            if decode:
                for raw in batch:
                    loads(raw)
            count += len(batch)

    async with trio.open_nursery() as nursery:
        links = [
            await open_ws(ws_client_kind(kind), nursery, url, connect_timeout=10)
            for _ in range(conns)
        ]
        async with trio.open_nursery() as readers:
            for ws in links:
                readers.start_soon(reader, ws)
            await trio.sleep(warmup)
            n0, c0, s0, t0 = count, time.process_time(), cpu_s(server_pid), time.perf_counter()
            await trio.sleep(seconds)
            n1, c1, s1, t1 = count, time.process_time(), cpu_s(server_pid), time.perf_counter()
            readers.cancel_scope.cancel()
        for ws in links:
            with trio.move_on_after(2):
                await ws.aclose()
        nursery.cancel_scope.cancel()
    wall = t1 - t0
    return {
        "client": kind,
        "conns": conns,
        "decode": int(decode),
        "msgs_per_s": round((n1 - n0) / wall),
        "client_cpu_pct": round(100 * (c1 - c0) / wall, 1),
        "server_cpu_pct": round(100 * (s1 - s0) / wall, 1),
        "us_per_msg_cpu": round(1e6 * (c1 - c0) / max(n1 - n0, 1), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--client", default="both", choices=[*WS_CLIENTS, "both"])
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--decode", action="store_true", help="orjson.loads every message")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        trio.run(serve)
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"ws://127.0.0.1:{port}/stream?streams=btcusdt@aggTrade"
        kinds = list(WS_CLIENTS) if args.client == "both" else [args.client]
        for kind in kinds:
            result = trio.run(
                measure, kind, url, args.conns, args.seconds, args.warmup, args.decode, server.pid
            )
            print(orjson.dumps(result).decode(), flush=True)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
