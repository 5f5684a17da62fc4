"""Redis URLs: what ``--redis-url`` accepts, checked before anything connects, and the one
redaction every message, log line and report uses to show a URL.

Accepted forms: ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``, ``rediss://…`` (TLS) and
``unix://[[USER]:PASSWORD@]/path/to/redis.sock[?db=N]``, with these query options:

| option | value |
|---|---|
| ``password``, ``username`` | credentials (the usual form for ``unix://``) |
| ``db`` | the database number (``unix://`` only; elsewhere use the path ``/N``) |
| ``ssl_ca_certs`` | PEM file of the CA(s) to trust (``rediss://`` only) |
| ``ssl_certfile``, ``ssl_keyfile`` | client certificate and key (``rediss://``) |
| ``ssl_cert_reqs`` | ``required`` (default), ``optional`` or ``none`` (``rediss://``) |
| ``ssl_check_hostname`` | ``true`` (default with a CA) or ``false`` (``rediss://``) |

Several nodes (:func:`parse_nodes`):

- ``redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]`` (``rediss+cluster://`` with
  TLS and the TLS options above): a Redis Cluster; every node given is a startup node.
- ``redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB]``: the primary
  that the sentinels name ``MASTER``; the credentials are the primary's, and
  ``sentinel_password=`` is the sentinels' own (if they require one).

A port left out is 6379 for cluster nodes and 26379 for sentinels.

Anything else is a usage error, so a typo never silently changes what is connected to.
"""

from __future__ import annotations

import os
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import attrs

from orders_cli.errors import UsageError

CLUSTER_SCHEMES: tuple[str, ...] = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES: tuple[str, ...] = ("redis+sentinel",)
REDIS_SCHEMES: tuple[str, ...] = ("redis", "rediss", "unix", *CLUSTER_SCHEMES, *SENTINEL_SCHEMES)
SECRET_QUERY_KEYS = frozenset({"password", "sentinel_password"})
DEFAULT_PORT = {"cluster": 6379, "sentinel": 26379}
TLS_FILE_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
TLS_OPTIONS = (*TLS_FILE_OPTIONS, "ssl_cert_reqs", "ssl_check_hostname")
QUERY_OPTIONS = ("password", "username", "db", *TLS_OPTIONS, "sentinel_password")
CERT_REQS = ("required", "optional", "none")
BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
MASK = "***"


def redact(text: str) -> str:
    """``text`` (a URL) with every credential replaced by ``***``: the password of the
    userinfo and any ``password=`` query value. Anything that does not parse as a URL is
    masked whole rather than shown."""
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return MASK
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
            masked = [(k, MASK if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs]
            query = urlencode(masked, safe="*/", quote_via=quote)
    if netloc == parts.netloc and query == parts.query:
        return text
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    return shown + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def _bad(url: str, why: str) -> UsageError:
    return UsageError(f"invalid Redis URL {redact(url)!r}: {why}")


def _check_query(url: str, scheme: str, query: str) -> None:
    seen: set[str] = set()
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in QUERY_OPTIONS:
            known = ", ".join(QUERY_OPTIONS)
            raise _bad(url, f"unknown option {key!r} (known: {known})")
        if key in seen:
            raise _bad(url, f"option {key!r} given twice")
        seen.add(key)
        if key in TLS_OPTIONS and not scheme.startswith("rediss"):
            raise _bad(url, f"{key} needs a rediss:// (TLS) URL")
        if key == "sentinel_password" and scheme not in SENTINEL_SCHEMES:
            raise _bad(url, "sentinel_password is for redis+sentinel:// URLs")
        if key == "db" and (scheme != "unix" or not value.isdigit()):
            raise _bad(url, "db=N is for unix:// URLs and N is a number; elsewhere use /N")
        if key in TLS_FILE_OPTIONS and not os.path.isfile(value):
            raise _bad(url, f"{key}: no such file {value!r}")
        if key == "ssl_cert_reqs" and value not in CERT_REQS:
            raise _bad(url, f"ssl_cert_reqs is one of {', '.join(CERT_REQS)}, not {value!r}")
        if key == "ssl_check_hostname" and value.lower() not in BOOLS:
            raise _bad(url, f"ssl_check_hostname is true or false, not {value!r}")
    if ("ssl_keyfile" in seen) and ("ssl_certfile" not in seen):
        raise _bad(url, "ssl_keyfile needs ssl_certfile (the certificate it belongs to)")


def validate_redis_url(url: str) -> str:
    """Return ``url`` if it is a Redis URL ``orders`` can use, else raise :class:`UsageError`
    with one line that shows the URL redacted and says what is wrong."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _bad(url, str(exc)) from exc
    if parts.scheme not in REDIS_SCHEMES:
        raise _bad(
            url,
            "expected redis://HOST:PORT/DB, rediss://..., unix:///path/to/redis.sock, "
            "redis+cluster://HOST:PORT,... or redis+sentinel://HOST:PORT,.../MASTER",
        )
    if parts.scheme in CLUSTER_SCHEMES or parts.scheme in SENTINEL_SCHEMES:
        parse_nodes(url)
    elif parts.scheme == "unix":
        if not parts.path:
            raise _bad(url, "unix:// needs a socket path")
    else:
        if not parts.hostname:
            raise _bad(url, "missing host")
        try:
            port = parts.port
        except ValueError as exc:
            raise _bad(url, str(exc)) from exc
        if port == 0:
            raise _bad(url, "port 0 is not a port (omit it for 6379)")
        db = parts.path.lstrip("/")
        if db and not db.isdigit():  # redis-py would quietly use DB 0
            raise _bad(url, "the database is a number (/0, /1…)")
    _check_query(url, parts.scheme, parts.query)
    return url


@attrs.frozen(slots=True)
class Nodes:
    """A ``redis+cluster://`` or ``redis+sentinel://`` URL, parsed."""

    kind: Literal["cluster", "sentinel"]
    addresses: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    master: str = ""  # sentinel: the monitored primary's name
    db: int = 0
    tls: bool = False
    options: tuple[tuple[str, str], ...] = ()  # the query's other options (TLS, sentinel_password)


def _address(url: str, text: str, default_port: int) -> tuple[str, int]:
    try:
        one = urlsplit(f"//{text}")
        host, port = one.hostname, one.port
    except ValueError as exc:
        raise _bad(url, f"node {text!r}: {exc}") from exc
    if not host:
        raise _bad(url, f"node {text!r} has no host")
    if port == 0:
        raise _bad(url, f"node {text!r}: port 0 is not a port")
    return host, port or default_port


def parse_nodes(url: str) -> Nodes | None:
    """The nodes of a ``redis+cluster://`` / ``redis+sentinel://`` URL; ``None`` for the
    single-server forms. Raises :class:`UsageError` (URL redacted) if it is malformed."""
    scheme, sep, rest = url.partition("://")
    if not sep or (scheme not in CLUSTER_SCHEMES and scheme not in SENTINEL_SCHEMES):
        return None
    kind: Literal["cluster", "sentinel"] = "cluster" if scheme in CLUSTER_SCHEMES else "sentinel"
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    texts = [t for t in hostlist.split(",") if t]
    if not texts:
        raise _bad(url, "no node given (HOST:PORT[,HOST:PORT...])")
    addresses = tuple(_address(url, t, DEFAULT_PORT[kind]) for t in texts)
    segments = [p for p in path.split("/") if p]
    master, db = "", 0
    if kind == "cluster":
        if segments and segments != ["0"]:
            raise _bad(url, "a Redis Cluster has only database 0 (omit the path)")
    else:
        if not segments or len(segments) > 2:
            raise _bad(url, "redis+sentinel:// needs the primary's name: .../MASTER[/DB]")
        master = unquote(segments[0])
        if len(segments) == 2:
            if not segments[1].isdigit():
                raise _bad(url, "the database is a number (/MASTER/0, /MASTER/1…)")
            db = int(segments[1])
    _check_query(url, scheme, query)
    options = tuple((k, v) for k, v in parse_qsl(query) if k not in ("password", "username"))
    given = dict(parse_qsl(query))
    return Nodes(
        kind=kind,
        addresses=addresses,
        username=given.get("username", username),
        password=given.get("password", password),
        master=master,
        db=db,
        tls=scheme.startswith("rediss"),
        options=options,
    )
