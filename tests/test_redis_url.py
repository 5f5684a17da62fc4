"""Redis URLs: every credential redacted wherever a URL is shown, every option checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from orders_cli.errors import UsageError
from orders_cli.redis_conn import connect
from orders_cli.redis_url import QUERY_OPTIONS, parse_nodes, redact, validate_redis_url

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@h:6390/0",
        f"redis://alice:{SECRET}@h:6390/0",
        f"rediss://alice:{SECRET}@h/1",
        f"unix:///tmp/r.sock?password={SECRET}",
        f"unix:///tmp/r.sock?db=2&password={SECRET}",
        f"unix://:{SECRET}@/tmp/r.sock",
        f"redis://h:6390/0?PASSWORD={SECRET}",
    ],
)
def test_redact_hides_the_password_wherever_the_url_carries_it(url: str) -> None:
    shown = redact(url)
    assert SECRET not in shown
    assert "***" in shown


def test_redact_keeps_the_rest_of_the_url_readable() -> None:
    assert redact(f"redis://alice:{SECRET}@h:6390/0") == "redis://alice:***@h:6390/0"
    assert redact("unix:///tmp/r.sock?db=2&password=x") == "unix:///tmp/r.sock?db=2&password=***"
    assert redact("redis://h:1/0") == "redis://h:1/0"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"redis://:{SECRET}@h:99999/0", "out of range"),
        (f"redis://:{SECRET}@h:6390/abc", "database is a number"),
        (f"http://:{SECRET}@h:6390/0", "expected redis://"),
        (f"redis://:{SECRET}@h:0/0", "port 0"),
        (f"redis://:{SECRET}@h:6390/0?foo=1", "unknown option 'foo'"),
        (f"unix:///tmp/r.sock?password={SECRET}&foo=1", "unknown option 'foo'"),
        (f"redis://:{SECRET}@h/0?ssl_ca_certs=/nope.pem", "needs a rediss://"),
        (f"rediss://:{SECRET}@h/0?ssl_cert_reqs=bogus", "ssl_cert_reqs is one of"),
        (f"rediss://:{SECRET}@h/0?ssl_ca_certs=/no/such/ca.pem", "no such file"),
        (f"rediss://:{SECRET}@h/0?ssl_check_hostname=maybe", "true or false"),
        (f"redis://:{SECRET}@h/0?db=1", "db=N is for unix://"),
        (f"unix:///tmp/r.sock?db=x&password={SECRET}", "db=N"),
        (f"redis://:{SECRET}@h/0?password=a&password=b", "given twice"),
    ],
)
def test_a_bad_url_is_one_usage_line_that_says_why_and_shows_no_secret(url: str, why: str) -> None:
    for attempt in (validate_redis_url, connect):
        with pytest.raises(UsageError) as caught:
            attempt(url)
        assert why in str(caught.value)
        assert SECRET not in str(caught.value)


def test_tls_files_that_exist_are_accepted(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read here")
    url = f"rediss://h:6390/0?ssl_ca_certs={ca}&ssl_cert_reqs=required&ssl_check_hostname=false"
    assert validate_redis_url(url) == url


def test_every_known_option_is_documented_in_the_readme_and_the_man_page() -> None:
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    man = (root / "man" / "orders.1").read_text().replace("\\_", "_").replace("\\-", "-")
    for option in QUERY_OPTIONS:
        assert option in readme, option
        assert option in man, option


def test_a_cluster_url_names_every_startup_node_and_its_credentials() -> None:
    nodes = parse_nodes(f"redis+cluster://alice:{SECRET}@10.0.0.1:7001,10.0.0.2,[::1]:7003")
    assert nodes is not None
    assert nodes.kind == "cluster"
    assert nodes.addresses == (("10.0.0.1", 7001), ("10.0.0.2", 6379), ("::1", 7003))
    assert (nodes.username, nodes.password) == ("alice", SECRET)
    assert not nodes.tls


def test_a_sentinel_url_names_the_sentinels_the_primary_and_its_database() -> None:
    url = f"redis+sentinel://:{SECRET}@s1:26380,s2/ordersprimary/2?sentinel_password=x"
    nodes = parse_nodes(url)
    assert nodes is not None
    assert nodes.kind == "sentinel"
    assert nodes.addresses == (("s1", 26380), ("s2", 26379))
    assert (nodes.master, nodes.db, nodes.password) == ("ordersprimary", 2, SECRET)
    assert dict(nodes.options) == {"sentinel_password": "x"}


def test_a_single_server_url_has_no_nodes_to_parse() -> None:
    assert parse_nodes("redis://h:6379/0") is None


@pytest.mark.parametrize(
    "url",
    [
        f"redis+cluster://alice:{SECRET}@h1:7001,h2:7002",
        f"redis+sentinel://:{SECRET}@s1,s2/m/0?sentinel_password={SECRET}",
    ],
)
def test_redact_hides_the_password_of_a_url_with_several_nodes(url: str) -> None:
    assert SECRET not in redact(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"redis+cluster://:{SECRET}@", "no node given"),
        (f"redis+cluster://:{SECRET}@h1:7001,h2:0", "port 0"),
        (f"redis+cluster://:{SECRET}@h1:70001", "out of range"),
        (f"redis+cluster://:{SECRET}@h1:7001/3", "only database 0"),
        (f"redis+sentinel://:{SECRET}@s1:26379", "needs the primary's name"),
        (f"redis+sentinel://:{SECRET}@s1:26379/m/x", "the database is a number"),
        (f"redis+cluster://:{SECRET}@h1?ssl_ca_certs=/x.pem", "needs a rediss://"),
        (f"redis+cluster://:{SECRET}@h1?sentinel_password=x", "is for redis+sentinel://"),
        (f"redis+sentinel://:{SECRET}@s1/m?bogus=1", "unknown option 'bogus'"),
    ],
)
def test_a_bad_url_with_several_nodes_is_one_usage_line_that_says_why(url: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_redis_url(url)
    assert why in str(caught.value)
    assert SECRET not in str(caught.value)
