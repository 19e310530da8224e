"""The host link's wire format (skyspike.link.frames, docs/protocol.md): framing, CRC and the
incremental parser's resynchronisation."""
from __future__ import annotations

import random
import struct

import pytest

from skyspike.link.commands import MAX_PAYLOAD, PROTOCOL_VERSION, Cmd, Status
from skyspike.link.frames import MAX_FRAME, Frame, FrameError, FrameParser, crc16, encode_frame


def test_crc16_known_vectors():
    assert crc16(b"123456789") == 0x29B1          # CRC-16/CCITT-FALSE check value
    assert crc16(b"") == 0xFFFF
    assert crc16(b"\x00") == 0xE1F0
    # incremental use equals one pass
    assert crc16(b"6789", crc16(b"12345")) == 0x29B1


def test_frame_layout():
    f = encode_frame(Cmd.READ_MEM, 0x42, b"\x01\x02")
    body = bytes([PROTOCOL_VERSION, Cmd.READ_MEM, 0x42, 2, 0, 1, 2])
    assert f == b"\xA5\x5A" + body + struct.pack("<H", crc16(body))
    assert len(encode_frame(1, 0, bytes(MAX_PAYLOAD))) == MAX_FRAME
    with pytest.raises(ValueError, match="MAX_PAYLOAD"):
        encode_frame(1, 0, bytes(MAX_PAYLOAD + 1))


@pytest.mark.parametrize("size", [0, 1, 2, 255, 256, MAX_PAYLOAD])
def test_round_trip_any_chunking(size):
    rng = random.Random(size)
    payload = bytes(rng.randrange(256) for _ in range(size))
    frame = encode_frame(0x07, 200, payload)
    for chunk in (1, 3, 7, len(frame)):
        p = FrameParser()
        got = []
        for i in range(0, len(frame), chunk):
            got += p.feed(frame[i:i + chunk])
        assert got == [Frame(PROTOCOL_VERSION, 0x07, 200, payload)]
        assert p.pending == 0 and p.stats.frames == 1 and p.stats.garbage_bytes == 0


def test_resync_over_garbage():
    frames = [encode_frame(Cmd.STATUS, s, bytes([s])) for s in range(5)]
    garbage = [b"", b"\x00\xff", b"\xA5", b"\xA5\xA5\x00", b"\x5A\xA5\x5A\x01"]
    stream = b"".join(g + f for g, f in zip(garbage, frames)) + b"hello\xA5"
    p = FrameParser()
    events = p.feed_events(stream)
    assert [e.seq for e in events if isinstance(e, Frame)] == [0, 1, 2, 3, 4]
    # "A5 5A 01" + the next frame's "A5 5A 01 07": a false header with length 0x0701
    assert [e.kind for e in events if isinstance(e, FrameError)] == [Status.BAD_LENGTH]
    assert p.stats.frames == 5 and p.stats.bad_length == 1
    # runs: 00 FF | A5 | A5 A5 00 | 5A | 5A 01 (after the rejected false header) | hello
    assert p.stats.resyncs == 6
    assert p.stats.garbage_bytes == 10 + 5          # + "hello"; the last A5 may start a frame
    assert p.pending == 1
    assert p.expire() == [] and p.stats.truncated == 1 and p.pending == 0


def test_counters_do_not_depend_on_chunking():
    """The firmware sees bytes one at a time, the host in chunks: same decisions and counts."""
    rng = random.Random(7)
    stream = b""
    for i in range(40):
        stream += bytes(rng.choice([0xA5, 0x5A, rng.randrange(256)]) for _ in range(rng.randrange(12)))
        f = bytearray(encode_frame(Cmd.IDENTIFY, i))
        if i % 5 == 0:
            f[rng.randrange(2, len(f))] ^= 1 << rng.randrange(8)
        stream += bytes(f)
    whole, single = FrameParser(), FrameParser()
    ev_whole = whole.feed_events(stream) + whole.expire()
    ev_single = []
    for b in stream:
        ev_single += single.feed_events(bytes([b]))
    ev_single += single.expire()
    assert ev_whole == ev_single
    assert whole.stats == single.stats
    assert whole.stats.frames >= 30 and whole.stats.bad_crc >= 1


def test_truncated_frames():
    good = encode_frame(Cmd.IDENTIFY, 9)
    # header complete, body missing: TRUNCATED with the header; the good frame behind it is found
    p = FrameParser()
    partial = encode_frame(Cmd.READ_MEM, 3, bytes(100))[:10]
    assert p.feed(partial) == []
    assert p.feed(good) == []                 # absorbed as payload of the partial frame so far
    events = p.expire()
    assert FrameError(Status.TRUNCATED, PROTOCOL_VERSION, Cmd.READ_MEM, 3) in events
    assert Frame(PROTOCOL_VERSION, Cmd.IDENTIFY, 9, b"") in events
    assert p.pending == 0 and p.stats.truncated == 1
    # header incomplete: dropped silently
    p = FrameParser()
    p.feed(b"\xA5\x5A\x01\x02")
    assert p.expire() == [] and p.stats.truncated == 1 and p.pending == 0


def test_bad_crc_and_false_sync():
    p = FrameParser()
    bad = bytearray(encode_frame(Cmd.WRITE_MEM, 1, bytes(8)))
    bad[9] ^= 0x10
    good = encode_frame(Cmd.STATUS, 2)
    events = p.feed_events(bytes(bad) + good)
    assert events == [FrameError(Status.BAD_CRC, PROTOCOL_VERSION, Cmd.WRITE_MEM, 1),
                      Frame(PROTOCOL_VERSION, Cmd.STATUS, 2, b"")]
    # a false SYNC in garbage whose "length" swallows a real frame: rescanned after the CRC fails
    p = FrameParser()
    false_header = b"\xA5\x5A\x01\x03\x07" + struct.pack("<H", len(good) - 2)
    events = p.feed_events(false_header + good)
    assert events[0].kind == Status.BAD_CRC
    assert Frame(PROTOCOL_VERSION, Cmd.STATUS, 2, b"") in events


def test_bad_length():
    p = FrameParser()
    header = b"\xA5\x5A\x01\x02\x05" + struct.pack("<H", MAX_PAYLOAD + 1)
    events = p.feed_events(header + encode_frame(Cmd.IDENTIFY, 6))
    assert events == [FrameError(Status.BAD_LENGTH, 1, 2, 5), Frame(1, Cmd.IDENTIFY, 6, b"")]
    assert p.stats.bad_length == 1

