"""A REST endpoint that answers exchangeInfo with something else (a CDN's HTML page, cut-off
JSON) at start is "exchange unavailable" (exit 4, one line), not a crash (exit 1)."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.integration.cliproc import ROOT, cli_env, orders_argv

pytestmark = pytest.mark.integration

BODIES = {
    "html": (b"<html><body>503 Service Temporarily Unavailable</body></html>", "text/html"),
    "truncated": (
        b'{"timezone":"UTC","serverTime":1,"symbols":[{"symbol":"BTC',
        "application/json",
    ),
    "not_exchange_info": (b'{"hello": "world"}', "application/json"),
}


@pytest.fixture(params=sorted(BODIES))
def bad_rest(request: pytest.FixtureRequest) -> Iterator[str]:
    body, ctype = BODIES[request.param]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the http.server hook's name
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_a_body_that_is_not_exchange_info_at_start_exits_4_in_one_line(
    redis_server: Any, bad_rest: str
) -> None:
    env = cli_env()
    done = subprocess.run(
        orders_argv("run", "--redis-url", redis_server.url,
                    "--rest-url", bad_rest, "--ws-url", "ws://127.0.0.1:9", "--no-panel"),
        capture_output=True, cwd=ROOT, env=env, timeout=120, check=False,
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 4, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("orders: error:")]
    assert len(errors) == 1 and "exchangeInfo" in errors[0], err
