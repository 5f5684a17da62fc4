"""`rediss://` with our CA and a client certificate against a real TLS redis-server
(certificates made with trustme; TLS switched on at run time with CONFIG SET)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme

from orders_cli.errors import RedisUnavailable
from orders_cli.redis_conn import check
from tests.integration.cliproc import ROOT, cli_env, orders_argv
from tests.redis_server import free_port

pytestmark = pytest.mark.integration


def _tls_on(server: Any, tmp: Path) -> tuple[int, Path, Path, Path]:
    """Give ``server`` a TLS port that demands a client certificate; return the port and the
    CA, client certificate and client key files. Skips when the binary has no TLS."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("orders-client")
    files = {
        "ca": tmp / "ca.pem",
        "server": tmp / "server.pem",
        "client": tmp / "client.pem",
        "client_key": tmp / "client.key",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(files["server"]))
    client_cert.cert_chain_pems[0].write_to_path(str(files["client"]))
    client_cert.private_key_pem.write_to_path(str(files["client_key"]))
    r = server.client()
    port = free_port()
    try:
        r.config_set("tls-cert-file", str(files["server"]))
        r.config_set("tls-key-file", str(files["server"]))
        r.config_set("tls-ca-cert-file", str(files["ca"]))
        r.config_set("tls-auth-clients", "yes")
        r.config_set("tls-port", str(port))
    except redis.ResponseError as exc:
        pytest.skip(f"this redis-server has no TLS support ({exc})")
    return port, files["ca"], files["client"], files["client_key"]


@pytest.fixture
def tls(redis_server: Any, tmp_path: Path) -> Iterator[tuple[int, Path, Path, Path]]:
    yield _tls_on(redis_server, tmp_path)


def test_rediss_with_our_ca_and_a_client_certificate_reaches_a_tls_server(
    tls: tuple[int, Path, Path, Path],
) -> None:
    port, ca, cert, key = tls
    url = (
        f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"
        f"&ssl_certfile={cert}&ssl_keyfile={key}&ssl_cert_reqs=required"
    )
    facts = check(url)
    assert facts.version


def test_rediss_without_the_client_certificate_is_refused_in_one_line(
    tls: tuple[int, Path, Path, Path],
) -> None:
    port, ca, _, _ = tls
    with pytest.raises(RedisUnavailable, match="cannot reach Redis"):
        check(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}")


def test_status_over_tls_from_the_command_line(tls: tuple[int, Path, Path, Path]) -> None:
    port, ca, cert, key = tls
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}&ssl_certfile={cert}&ssl_keyfile={key}"
    env = cli_env()
    done = subprocess.run(
        orders_argv("status", "--json", "--redis-url", url),
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    text = (done.stdout + done.stderr).decode()
    assert "Traceback" not in text, text
    assert "cannot reach Redis" not in text, text
