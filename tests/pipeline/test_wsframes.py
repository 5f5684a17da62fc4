"""The receive-side frame reader against frames made by wsproto (an independent
implementation), cut into arbitrary chunks; and every protocol violation it must refuse."""

from __future__ import annotations

import itertools
import struct
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol

from orders_cli.ws.wsframes import FrameReader, ProtocolViolation

MAX = 1 << 16


def server() -> FrameProtocol:
    return FrameProtocol(client=False, extensions=[])


def feed_all(reader: FrameReader, data: bytes, cuts: list[int]) -> deque[str | bytes]:
    out: deque[str | bytes] = deque()
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        reader.feed(data[a:b], out)
    return out


message = st.one_of(st.text(max_size=300), st.binary(max_size=300))


@given(
    msgs=st.lists(st.tuples(message, st.integers(1, 4), st.booleans()), max_size=20),
    cuts=st.lists(st.integers(0, 100_000), max_size=30),
)
def test_messages_and_pings_survive_any_fragmentation_and_chunking(
    msgs: list[tuple[str | bytes, int, bool]], cuts: list[int]
) -> None:
    proto = server()
    wire = bytearray()
    pings: list[bytes] = []
    for n, (msg, pieces, ping_inside) in enumerate(msgs):
        step = max(1, -(-len(msg) // pieces))
        parts = [msg[k : k + step] for k in range(0, len(msg), step)] or [msg]
        for k, part in enumerate(parts):
            wire += proto.send_data(part, k == len(parts) - 1)
            if ping_inside and k == 0:  # a control frame between fragments is legal
                payload = b"p%d" % n
                pings.append(payload)
                wire += proto.ping(payload)
    reader = FrameReader(MAX)
    out = feed_all(reader, bytes(wire), cuts)
    assert list(out) == [m for m, _, _ in msgs]
    assert reader.pings == pings
    assert reader.close is None


def test_multibyte_character_split_between_fragments() -> None:
    proto = server()
    raw = "é✓".encode()
    wire = proto.send_data(raw[:1], False) + proto.send_data(raw[1:], True)
    out: deque[str | bytes] = deque()
    reader = FrameReader(MAX)
    # send_data of bytes makes a binary message: rewrite the first opcode to text
    wire[0] = (wire[0] & 0xF0) | 0x1
    reader.feed(bytes(wire), out)
    assert list(out) == ["é✓"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", (1005, None)),
        (struct.pack("!H", 1000), (1000, None)),
        (struct.pack("!H", 4001) + "bye ✓".encode(), (4001, "bye ✓")),
        (struct.pack("!H", 1012), (1012, None)),
    ],
)
def test_close_frame_stops_parsing(payload: bytes, expected: tuple[int, str | None]) -> None:
    frame = bytes([0x88, len(payload)]) + payload
    text = server().send_data("after", True)
    reader = FrameReader(MAX)
    out: deque[str | bytes] = deque()
    reader.feed(bytes(server().send_data("before", True)) + frame + bytes(text), out)
    assert list(out) == ["before"]
    assert reader.close == expected


def bad(frame: bytes) -> int:
    reader = FrameReader(MAX)
    with pytest.raises(ProtocolViolation) as info:
        reader.feed(frame, deque())
    return info.value.code


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes(FrameProtocol(client=True, extensions=[]).send_data("x", True)), 1002),  # masked
        (b"\xc1\x01x", 1002),  # RSV1 (would be permessage-deflate; not negotiated)
        (b"\x83\x00", 1002),  # reserved data opcode 3
        (b"\x8b\x00", 1002),  # reserved control opcode 11
        (b"\x09\x00", 1002),  # fragmented ping
        (b"\x89\x7e\x00\x7e" + b"x" * 126, 1002),  # control frame over 125 bytes
        (b"\x80\x01x", 1002),  # continuation without a message
        (b"\x01\x01a\x81\x01b", 1002),  # a new message inside a fragmented one
        (b"\x81\x02\xc3\x28", 1007),  # invalid UTF-8
        (b"\x88\x01\x03", 1002),  # 1-byte close payload
        (b"\x88\x02" + struct.pack("!H", 1005), 1002),  # close code never sent on the wire
        (b"\x88\x02" + struct.pack("!H", 2000), 1002),  # unassigned close code
        (b"\x88\x04" + struct.pack("!H", 1000) + b"\xc3\x28", 1007),  # reason not UTF-8
    ],
)
def test_protocol_violations(frame: bytes, code: int) -> None:
    assert bad(frame) == code


def test_too_big_is_refused_from_the_header_before_the_payload() -> None:
    reader = FrameReader(1000)
    header = b"\x81\x7f" + struct.pack("!Q", 2**40)  # 1 TiB announced, nothing sent
    with pytest.raises(ProtocolViolation) as info:
        reader.feed(header, deque())
    assert info.value.code == 1009


def test_too_big_counts_every_fragment() -> None:
    proto = server()
    wire = proto.send_data("a" * 600, False) + proto.send_data("b" * 600, True)
    reader = FrameReader(1000)
    with pytest.raises(ProtocolViolation) as info:
        reader.feed(bytes(wire), deque())
    assert info.value.code == 1009


def test_exactly_the_limit_passes() -> None:
    reader = FrameReader(1000)
    out: deque[str | bytes] = deque()
    reader.feed(bytes(server().send_data("z" * 1000, True)), out)
    assert list(out) == ["z" * 1000]


def test_pong_is_ignored() -> None:
    reader = FrameReader(MAX)
    out: deque[str | bytes] = deque()
    reader.feed(bytes(server().pong(b"x")) + bytes(server().send_data("m", True)), out)
    assert list(out) == ["m"] and reader.pings == []
