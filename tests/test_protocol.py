"""Host link protocol (skyspike.link.protocol, docs/protocol.md): framing, CRC, the incremental
parser's resynchronisation, and HostClient against the pure-Python firmware model.

The ``scenario_*`` / ``fuzz_*`` helpers take any (client, raw-write) pair: test_firmware.py
runs them again against the C firmware's command loop built for the host.
"""
from __future__ import annotations

import random
import struct
import time

import pytest

from skyspike.spec import memmap as mm
from skyspike.link import protocol as P
from skyspike.link.protocol import (
    Cmd,
    CoreError,
    FirmwareModel,
    Frame,
    FrameError,
    FrameParser,
    HostClient,
    LinkTimeoutError,
    ModelLink,
    ProtocolError,
    RemoteError,
    Status,
    crc16,
    encode_frame,
)

PATTERN_BASE = mm.WEIGHT_BASE          # words the fuzz must never change
PATTERN = [(0x9E3779B9 * (i + 1)) & 0xFFFF_FFFF for i in range(64)]
SCRATCH = mm.WEIGHT_BASE + 0x1000      # words the valid commands of the fuzz rewrite


# -- framing --------------------------------------------------------------------------------
def test_crc16_known_vectors():
    assert crc16(b"123456789") == 0x29B1          # CRC-16/CCITT-FALSE check value
    assert crc16(b"") == 0xFFFF
    assert crc16(b"\x00") == 0xE1F0
    # incremental use equals one pass
    assert crc16(b"6789", crc16(b"12345")) == 0x29B1


def test_frame_layout():
    f = encode_frame(Cmd.READ_MEM, 0x42, b"\x01\x02")
    body = bytes([P.PROTOCOL_VERSION, Cmd.READ_MEM, 0x42, 2, 0, 1, 2])
    assert f == b"\xA5\x5A" + body + struct.pack("<H", crc16(body))
    assert len(encode_frame(1, 0, bytes(P.MAX_PAYLOAD))) == P.MAX_FRAME
    with pytest.raises(ValueError, match="MAX_PAYLOAD"):
        encode_frame(1, 0, bytes(P.MAX_PAYLOAD + 1))


@pytest.mark.parametrize("size", [0, 1, 2, 255, 256, P.MAX_PAYLOAD])
def test_round_trip_any_chunking(size):
    rng = random.Random(size)
    payload = bytes(rng.randrange(256) for _ in range(size))
    frame = encode_frame(0x07, 200, payload)
    for chunk in (1, 3, 7, len(frame)):
        p = FrameParser()
        got = []
        for i in range(0, len(frame), chunk):
            got += p.feed(frame[i:i + chunk])
        assert got == [Frame(P.PROTOCOL_VERSION, 0x07, 200, payload)]
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
    assert FrameError(Status.TRUNCATED, P.PROTOCOL_VERSION, Cmd.READ_MEM, 3) in events
    assert Frame(P.PROTOCOL_VERSION, Cmd.IDENTIFY, 9, b"") in events
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
    assert events == [FrameError(Status.BAD_CRC, P.PROTOCOL_VERSION, Cmd.WRITE_MEM, 1),
                      Frame(P.PROTOCOL_VERSION, Cmd.STATUS, 2, b"")]
    # a false SYNC in garbage whose "length" swallows a real frame: rescanned after the CRC fails
    p = FrameParser()
    false_header = b"\xA5\x5A\x01\x03\x07" + struct.pack("<H", len(good) - 2)
    events = p.feed_events(false_header + good)
    assert events[0].kind == Status.BAD_CRC
    assert Frame(P.PROTOCOL_VERSION, Cmd.STATUS, 2, b"") in events


def test_bad_length():
    p = FrameParser()
    header = b"\xA5\x5A\x01\x02\x05" + struct.pack("<H", P.MAX_PAYLOAD + 1)
    events = p.feed_events(header + encode_frame(Cmd.IDENTIFY, 6))
    assert events == [FrameError(Status.BAD_LENGTH, 1, 2, 5), Frame(1, Cmd.IDENTIFY, 6, b"")]
    assert p.stats.bad_length == 1


# -- scenarios shared with the C firmware (test_firmware.py) -------------------------------
def scenario_basic(client: HostClient, caps=None) -> None:
    ident = client.identify()
    assert ident.protocol == P.PROTOCOL_VERSION and ident.firmware_version == P.FIRMWARE_VERSION
    assert ident.core_id == mm.CORE_ID and ident.core_version == mm.CORE_VERSION
    assert ident.max_payload == P.MAX_PAYLOAD
    if caps is not None:
        assert ident.caps == caps
    max_outputs = ident.caps[2] >> 16
    # memory round trip, longer than one frame (split into MAX_WORDS chunks)
    words = [(i * 0x01010101 + 7) & 0xFFFF_FFFF for i in range(600)]
    client.write_mem(mm.WEIGHT_BASE + 0x400, words)
    assert client.read_mem(mm.WEIGHT_BASE + 0x400, 600) == words
    client.write_mem(mm.DESC_BASE, [0x11, 0x22, 0x33])
    assert client.read_mem(mm.DESC_BASE, 3) == [0x11, 0x22, 0x33]
    client.load_inputs([5, 6, 7, 8], offset=16)
    assert client.read_mem(mm.INPUT_BASE + 16, 4) == [5, 6, 7, 8]
    assert client.read_mem(0, 0) == []
    # registers
    client.write_mem(mm.REG["NET"], [0x0302])                 # 2 layers, 3 steps
    assert client.read_mem(mm.REG["NET"], 1) == [0x0302]
    # runs: interrupt and polling
    for use_irq in (True, False):
        r = client.run(use_irq=use_irq, timeout_cycles=5_000_000)
        assert r.done and not r.busy and r.error == 0 and r.cycles == 600
    res = client.read_results(max_outputs, n_state=10, state_first=4)
    assert res.counts == [(i * 3 + 2 + 3) & 0xFF for i in range(max_outputs)]
    assert res.state == [(((e * 37 + 3) & 0xFFFF) | (e & 1) << 16) for e in range(4, 14)]
    assert res.membranes == [((((e * 37 + 3) & 0xFFFF) ^ 0x8000) - 0x8000) for e in range(4, 14)]
    st = client.status()
    assert st.core_status & P.STATUS_DONE and st.core_cycles == 600
    assert st.counters["CORE_IRQ"] >= 1 and st.counters["RX_FRAMES"] >= 10
    assert list(st.counters) == [name for name, _ in P.FW_COUNTERS]


def scenario_errors(client: HostClient) -> None:
    def code(fn, *a, **k):
        with pytest.raises(RemoteError) as e:
            fn(*a, **k)
        return e.value.code

    assert code(client.request, 0x33) == Status.UNKNOWN_COMMAND
    assert code(client.request, Cmd.IDENTIFY | P.REPLY_FLAG) == Status.UNKNOWN_COMMAND
    with pytest.raises(RemoteError) as e:
        client.request(Cmd.IDENTIFY, version=P.PROTOCOL_VERSION + 1)
    assert e.value.code == Status.BAD_VERSION and e.value.payload == bytes([P.PROTOCOL_VERSION])
    assert code(client.request, Cmd.IDENTIFY, b"\x00") == Status.BAD_ARG
    assert code(client.read_mem, 2, 1) == Status.BAD_ARG                      # unaligned
    assert code(client.read_mem, P.CORE_SPAN - 4, 2) == Status.BAD_ARG        # past the window
    assert code(client.request, Cmd.READ_MEM, struct.pack("<IH", 0, P.MAX_WORDS + 1)) == Status.BAD_ARG
    assert code(client.request, Cmd.READ_MEM, struct.pack("<IH", 0xFFFF_FFFC, 2)) == Status.BAD_ARG
    assert code(client.write_mem, P.CORE_SPAN, [1]) == Status.BAD_ARG
    assert code(client.request, Cmd.WRITE_MEM, b"\x00\x00\x00\x00\x01") == Status.BAD_ARG  # partial word
    assert code(client.request, Cmd.WRITE_MEM, b"\x00") == Status.BAD_ARG
    ident = client.identify()
    in_bytes = 4 * ((ident.caps[3] >> 16) & 0xFF) * ((ident.caps[3] >> 24) * 256)
    assert code(client.load_inputs, [0, 0], offset=in_bytes - 4) == Status.BAD_ARG
    client.load_inputs([0], offset=in_bytes - 4)
    assert code(client.request, Cmd.RUN, b"\x01") == Status.BAD_ARG
    assert code(client.request, Cmd.STATUS, b"\x00\x00") == Status.BAD_ARG
    max_outputs, state_n = ident.caps[2] >> 16, ident.caps[2] & 0xFFFF
    assert code(client.read_results, max_outputs + 1) == Status.BAD_ARG
    assert code(client.read_results, 0, state_first=state_n, n_state=1) == Status.BAD_ARG
    assert code(client.request, Cmd.READ_RESULTS, struct.pack("<HHHH", 0, 200, 0, 100)) == Status.BAD_ARG
    # the core's sticky bus flags: reported with the address, cleared for the next command
    for fn, args, addr in ((client.read_mem, (0x18, 2), 0x1C),         # no registers there: the last
                           (client.read_mem, (0x8000, 1), 0x8000),             # between regions
                           (client.write_mem, (mm.REG["CAPS0"], [1]), mm.REG["CAPS0"]),   # read-only
                           (client.write_mem, (mm.COUNT_BASE + 8, [1]), mm.COUNT_BASE + 8)):
        with pytest.raises(RemoteError, match=f"address {addr:#x}") as e:
            fn(*args)
        assert e.value.code == Status.BUS_ERROR
        assert client.read_mem(mm.REG["ID"], 1) == [mm.CORE_ID]
    assert client.read_mem(mm.REG["STATUS"], 1)[0] & (P.STATUS_BUS_ERROR | P.STATUS_WRITE_REFUSED) == 0
    # the core's own error: n_layers = 0
    client.write_mem(mm.REG["NET"], [0x0100])
    with pytest.raises(CoreError, match="BAD_LAYER_COUNT"):
        client.run()
    r = client.run(check=False)
    assert r.error == mm.ERROR_CODE["BAD_LAYER_COUNT"] and r.done
    counters = client.status().counters
    assert counters["UNKNOWN_COMMAND"] >= 2 and counters["BAD_VERSION"] >= 1 and counters["BAD_ARG"] >= 14
    assert counters["BUS_ERROR"] == 4
    # nothing above broke the link
    client.write_mem(mm.REG["NET"], [0x0101])
    assert client.run().done


def _malformed(rng: random.Random, seq: int | None = None) -> bytes:
    """One piece of line noise or one bad frame (never a good frame that changes state).
    ``seq``: the sequence number of the well-formed ones, whose error replies would otherwise
    be taken for the reply to a real request with the same seq and command."""
    kind = rng.randrange(10)
    seq = rng.randrange(256) if seq is None else seq
    some = encode_frame(rng.choice(list(Cmd)), seq, bytes(rng.randrange(256) for _ in range(rng.randrange(20))))
    if kind == 0:                      # random bytes, with a bias to SYNC bytes
        return bytes(rng.choice([0xA5, 0x5A, rng.randrange(256)]) for _ in range(rng.randrange(1, 40)))
    if kind == 1:                      # one flipped bit after the SYNC (header, payload or CRC)
        f = bytearray(some)
        f[rng.randrange(2, len(f))] ^= 1 << rng.randrange(8)
        return bytes(f)
    if kind == 2:                      # cut short
        return some[:rng.randrange(1, len(some))]
    if kind == 3:                      # length above the maximum
        return b"\xA5\x5A" + bytes([1, rng.randrange(256), seq]) + struct.pack("<H", rng.randrange(P.MAX_PAYLOAD + 1, 0x10000))
    if kind == 4:                      # good CRC, unknown command
        return encode_frame(rng.choice([0, 0x08, 0x7F, 0x81, 0xFF]), seq, bytes(rng.randrange(8)))
    if kind == 5:                      # good CRC, other protocol version
        return encode_frame(Cmd.WRITE_MEM, seq, struct.pack("<II", PATTERN_BASE, 0), version=rng.choice([0, 2, 0xFF]))
    if kind == 6:                      # good CRC, bad arguments
        return encode_frame(rng.choice([Cmd.WRITE_MEM, Cmd.READ_MEM, Cmd.LOAD_INPUTS, Cmd.RUN, Cmd.READ_RESULTS]),
                            seq, struct.pack("<IHB", PATTERN_BASE + rng.choice([1, 2, 3]), 7, 0))
    if kind == 7:                      # a WRITE_MEM over the pattern with a corrupted CRC
        f = bytearray(encode_frame(Cmd.WRITE_MEM, seq, struct.pack("<I4I", PATTERN_BASE, 1, 2, 3, 4)))
        f[-1 - rng.randrange(2)] ^= 1 << rng.randrange(8)
        return bytes(f)
    if kind == 8:                      # a WRITE_MEM over the pattern, truncated
        return encode_frame(Cmd.WRITE_MEM, seq, struct.pack("<I4I", PATTERN_BASE, 1, 2, 3, 4))[:rng.randrange(3, 20)]
    return b"\xA5" * rng.randrange(1, 4) + b"\x5A" * rng.randrange(0, 3)


def fuzz_link(client: HostClient, write, rounds: int = 300, seed: int = 1) -> dict[str, int]:
    """Malformed frames interleaved with valid commands; every valid command must succeed and
    the state must stay intact. Returns the firmware's counters."""
    rng = random.Random(seed)
    client.write_mem(PATTERN_BASE, PATTERN)
    client.status(clear=True)
    for i in range(rounds):
        write(_malformed(rng, seq=(client.seq + 64 + rng.randrange(128)) & 0xFF))
        if i % 3 == 0:
            continue                   # sometimes two bad pieces back to back
        op = i % 4
        if op == 0:
            assert client.identify().core_id == mm.CORE_ID
        elif op == 1:
            n = rng.randrange(1, 9)
            words = [rng.randrange(1 << 32) for _ in range(n)]
            client.write_mem(SCRATCH, words)
            assert client.read_mem(SCRATCH, n) == words
        elif op == 2:
            assert client.read_mem(PATTERN_BASE + 4 * (i % 64), 1) == [PATTERN[i % 64]]
        else:
            client.status()
    # afterwards: every command works, nothing was corrupted
    assert client.read_mem(PATTERN_BASE, len(PATTERN)) == PATTERN
    scenario_basic(client)
    counters = client.status().counters
    for name in ("BAD_CRC", "BAD_LENGTH", "TRUNCATED", "RESYNCS", "GARBAGE_BYTES",
                 "UNKNOWN_COMMAND", "BAD_VERSION", "BAD_ARG"):
        assert counters[name] > 0, (name, counters)
    return counters


# -- HostClient against the Python model ----------------------------------------------------
@pytest.fixture
def model_client():
    link = ModelLink()
    return HostClient(link, timeout=0.5, retries=2), link


def test_client_basic(model_client):
    client, link = model_client
    core = link.model.core
    scenario_basic(client, caps=tuple(core.caps[f"CAPS{i}"] for i in range(4)))


def test_client_errors(model_client):
    scenario_errors(model_client[0])


def test_client_fuzz(model_client):
    client, link = model_client
    counters = fuzz_link(client, link.write, rounds=400)
    assert counters["RX_FRAMES"] > 300


def scenario_hung_core(client: HostClient, hang) -> None:
    """``hang(True)`` makes the core's next run never finish."""
    client.write_mem(mm.REG["NET"], [0x0101])
    hang(True)
    for use_irq in (True, False):
        with pytest.raises(RemoteError) as e:
            client.run(timeout_cycles=20_000, use_irq=use_irq)
        assert e.value.code == Status.TIMEOUT and e.value.result.busy and e.value.result.waited == 20_000
        # the firmware aborted the run: the core is idle and writable again
        assert client.read_mem(mm.REG["STATUS"], 1) == [0]
        client.write_mem(PATTERN_BASE, [1])
    # a run started by hand (the register block stays writable while busy)
    client.write_mem(mm.REG["CTRL"], [P.CTRL_START])
    assert client.read_mem(mm.REG["STATUS"], 1) == [P.STATUS_BUSY]
    for fn, args in ((client.write_mem, (PATTERN_BASE, [2])), (client.run, ()), (client.load_inputs, ([1],)),
                     (client.write_mem, (mm.REG["NET"], [0x0102]))):      # NET: the core refuses it
        with pytest.raises(RemoteError) as e:
            fn(*args)
        assert e.value.code == Status.BUSY, fn
    assert client.read_mem(mm.REG["NET"], 1) == [0x0101]
    client.write_mem(mm.REG["CTRL"], [P.CTRL_ABORT])
    assert client.read_mem(mm.REG["STATUS"], 1) == [0]
    assert client.read_mem(PATTERN_BASE, 1) == [1]
    hang(False)
    assert client.run().done
    assert client.status().counters["RUN_TIMEOUT"] == 2


def test_run_timeout_and_busy(model_client):
    client, link = model_client
    scenario_hung_core(client, lambda on: setattr(link.model.core, "hang", on))


class SilentLink:
    def __init__(self):
        self.written = b""

    def write(self, data):
        self.written += data

    def read(self, n, timeout):
        time.sleep(timeout)
        return b""


def test_timeout_on_silent_link():
    client = HostClient(SilentLink(), timeout=0.05, retries=1)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=r"no reply to IDENTIFY .* within 0\.050 s"):
        client.identify()
    assert time.monotonic() - t0 < 1.0
    assert client.link.written.count(b"\xA5\x5A") == 2        # one retry
    with pytest.raises(LinkTimeoutError, match="RUN"):
        client.run(timeout_cycles=100, wait=0.02)


def test_timeout_on_partial_reply_then_recovery(model_client):
    client, link = model_client
    client.timeout = 0.05

    class Cut:
        """Delivers only the first bytes of the next reply."""
        def __init__(self, inner, keep):
            self.inner, self.keep = inner, keep

        def write(self, d):
            self.inner.write(d)
            out = self.inner.model.out
            del out[self.keep:]

        def read(self, n, t):
            return self.inner.read(n, t)

    client.link = Cut(link, 9)
    with pytest.raises(LinkTimeoutError, match=r"IDENTIFY .* received 9 bytes \(\d+ truncated frames"):
        client.identify()
    client.link = link
    assert client.identify().core_ok            # the stale partial reply did not stick


def test_silent_model_then_back():
    link = ModelLink()
    client = HostClient(link, timeout=0.02, retries=0)
    link.model.silent = True
    with pytest.raises(TimeoutError):
        client.status()
    link.model.silent = False
    assert client.status().counters["RX_FRAMES"] == 2


def test_retry_after_corrupted_request():
    link = ModelLink()

    class Flaky:
        def __init__(self):
            self.n = 0

        def write(self, d):
            self.n += 1
            if self.n == 1:                   # damage the first request on the wire
                d = bytearray(d)
                d[-1] ^= 0x40                 # CRC byte: the header (seq) stays readable
            link.write(bytes(d))

        def read(self, n, t):
            return link.read(n, t)

    client = HostClient(Flaky(), timeout=0.2, retries=1)
    assert client.identify().core_ok
    assert client.status().counters["BAD_CRC"] == 1
    client = HostClient(Flaky(), timeout=0.2, retries=0)
    with pytest.raises(RemoteError) as e:
        client.identify()
    assert e.value.code == Status.BAD_CRC


def test_stray_and_mismatched_replies_are_ignored(model_client):
    client, link = model_client
    # an unsolicited reply with another seq, and one for another command with the next seq
    link.model.out += encode_frame(Cmd.STATUS | P.REPLY_FLAG, 0xEE, b"\x00")
    link.model.out += encode_frame(Cmd.READ_MEM | P.REPLY_FLAG, (client.seq + 1) & 0xFF, b"\x00")
    assert client.identify().core_ok
    assert client.stray_frames == 2


def test_malformed_reply_raises_protocol_error(model_client):
    client, link = model_client

    class Liar:
        def write(self, d):
            link.write(d)
            f = FrameParser().feed(bytes(link.model.take_output()))[0]
            link.model.out += encode_frame(f.cmd, f.seq, f.payload + b"\x00")   # one byte too many

        def read(self, n, t):
            return link.read(n, t)

    client.link = Liar()
    with pytest.raises(ProtocolError, match="IDENTIFY: reply carries 32 bytes, expected 31"):
        client.identify()


def test_serial_link_semantics():
    serial = pytest.importorskip("serial")
    port = serial.serial_for_url("loop://", timeout=0)
    link = P.SerialLink(port)
    assert isinstance(link, P.Link)
    link.write(b"\x01\x02\x03")
    assert link.read(10, 0.5) == b"\x01\x02\x03"        # returns what is there, does not wait for 10
    t0 = time.monotonic()
    assert link.read(10, 0.05) == b""
    assert time.monotonic() - t0 < 0.5
    # the client over loop:// hears its own request (not a reply) and times out cleanly
    client = HostClient(link, timeout=0.05, retries=0)
    with pytest.raises(TimeoutError):
        client.identify()
    assert client.stray_frames == 1
    link.close()


def test_model_is_a_link():
    assert isinstance(ModelLink(FirmwareModel()), P.Link)
