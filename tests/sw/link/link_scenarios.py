"""Protocol scenarios and the link fuzz, shared by the tests of the Python firmware model
(tests/sw/link/test_client.py, tests/sw/emu/test_firmware_model.py) and of the C firmware's
command loop built for the host (tests/firmware/test_firmware.py): each takes a HostClient (and a raw
write for the fuzz), whatever is at the far end."""
from __future__ import annotations

import random
import struct

import pytest

from skyspike.spec import memmap as mm
from skyspike.spec.layouts import STATE_ENTRY
from skyspike.link import commands as C
from skyspike.link.client import CoreError, HostClient, RemoteError
from skyspike.link.commands import Cmd, Status
from skyspike.link.frames import encode_frame

PATTERN_BASE = mm.WEIGHT_BASE          # words the fuzz must never change
PATTERN = [(0x9E3779B9 * (i + 1)) & 0xFFFF_FFFF for i in range(64)]
SCRATCH = mm.WEIGHT_BASE + 0x1000      # words the valid commands of the fuzz rewrite
CAPS2, CAPS3 = mm.CAPS["CAPS2"], mm.CAPS["CAPS3"]


def net_word(n_layers: int, steps: int) -> int:
    """The NET register's value."""
    return mm.NET.pack(n_layers=n_layers, steps=steps)


def stand_in_state(entry: int, steps: int) -> int:
    """The core models' stand-in state word after a run (CoreModel, hal_host.c):
    V = entry * 37 + steps (wrapped to V's width), armed = the entry's parity."""
    return STATE_ENTRY.pack(v=STATE_ENTRY["v"].get(entry * 37 + steps), armed=entry & 1)


def scenario_basic(client: HostClient, caps=None) -> None:
    ident = client.identify()
    assert ident.protocol == C.PROTOCOL_VERSION and ident.firmware_version == C.FIRMWARE_VERSION
    assert ident.core_id == mm.CORE_ID and ident.core_version == mm.CORE_VERSION
    assert ident.max_payload == C.MAX_PAYLOAD
    if caps is not None:
        assert ident.caps == caps
    max_outputs = CAPS2["max_outputs"].get(ident.caps[2])
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
    client.write_mem(mm.REG["NET"], [net_word(2, 3)])
    assert client.read_mem(mm.REG["NET"], 1) == [net_word(2, 3)]
    # runs: interrupt and polling
    for use_irq in (True, False):
        r = client.run(use_irq=use_irq, timeout_cycles=5_000_000)
        assert r.done and not r.busy and r.error == 0 and r.cycles == 600
    res = client.read_results(max_outputs, n_state=10, state_first=4)
    salt = sum(v * (k + 1) for k, v in enumerate([5, 6, 7, 8], start=4))   # the stand-in's input salt (< 256)
    assert res.counts == [(i * 3 + 2 + 3 + salt) & 0xFF for i in range(max_outputs)]
    assert res.state == [stand_in_state(e, 3 + salt) for e in range(4, 14)]
    assert res.membranes == [STATE_ENTRY["v"].get(stand_in_state(e, 3 + salt)) for e in range(4, 14)]
    st = client.status()
    assert st.core_status & mm.STATUS.mask("done") and st.core_cycles == 600
    assert st.counters["CORE_IRQ"] >= 1 and st.counters["RX_FRAMES"] >= 10
    assert list(st.counters) == [name for name, _ in C.FW_COUNTERS]


def scenario_errors(client: HostClient) -> None:
    def code(fn, *a, **k):
        with pytest.raises(RemoteError) as e:
            fn(*a, **k)
        return e.value.code

    assert code(client.request, 0x33) == Status.UNKNOWN_COMMAND
    assert code(client.request, Cmd.IDENTIFY | C.REPLY_FLAG) == Status.UNKNOWN_COMMAND
    with pytest.raises(RemoteError) as e:
        client.request(Cmd.IDENTIFY, version=C.PROTOCOL_VERSION + 1)
    assert e.value.code == Status.BAD_VERSION and e.value.payload == bytes([C.PROTOCOL_VERSION])
    assert code(client.request, Cmd.IDENTIFY, b"\x00") == Status.BAD_ARG
    # Raw requests: HostClient itself refuses these before sending (the firmware's checks are tested).
    assert code(client.request, Cmd.READ_MEM, struct.pack("<IH", 2, 1)) == Status.BAD_ARG            # unaligned
    assert code(client.request, Cmd.READ_MEM, struct.pack("<IH", mm.CORE_SPAN - 4, 2)) == Status.BAD_ARG  # past it
    assert code(client.request, Cmd.READ_MEM, struct.pack("<IH", 0, C.MAX_WORDS + 1)) == Status.BAD_ARG
    assert code(client.request, Cmd.READ_MEM, struct.pack("<IH", 0xFFFF_FFFC, 2)) == Status.BAD_ARG
    assert code(client.request, Cmd.WRITE_MEM, struct.pack("<II", mm.CORE_SPAN, 1)) == Status.BAD_ARG
    assert code(client.request, Cmd.WRITE_MEM, b"\x00\x00\x00\x00\x01") == Status.BAD_ARG  # partial word
    assert code(client.request, Cmd.WRITE_MEM, b"\x00") == Status.BAD_ARG
    ident = client.identify()
    caps3 = CAPS3.unpack(ident.caps[3])
    in_bytes = 4 * caps3["input_banks"] * caps3["input_depth"]
    assert code(client.load_inputs, [0, 0], offset=in_bytes - 4) == Status.BAD_ARG
    client.load_inputs([0], offset=in_bytes - 4)
    assert code(client.request, Cmd.RUN, b"\x01") == Status.BAD_ARG
    assert code(client.request, Cmd.STATUS, b"\x00\x00") == Status.BAD_ARG
    max_outputs, state_n = CAPS2["max_outputs"].get(ident.caps[2]), CAPS2["state_neurons"].get(ident.caps[2])
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
    assert client.read_mem(mm.REG["STATUS"], 1)[0] & mm.STATUS.pack(bus_error=1, write_refused=1) == 0
    # the core's own error: n_layers = 0
    client.write_mem(mm.REG["NET"], [net_word(0, 1)])
    with pytest.raises(CoreError, match="BAD_LAYER_COUNT"):
        client.run()
    r = client.run(check=False)
    assert r.error == mm.ERROR_CODE["BAD_LAYER_COUNT"] and r.done
    counters = client.status().counters
    assert counters["UNKNOWN_COMMAND"] >= 2 and counters["BAD_VERSION"] >= 1 and counters["BAD_ARG"] >= 14
    assert counters["BUS_ERROR"] == 4
    # nothing above broke the link
    client.write_mem(mm.REG["NET"], [net_word(1, 1)])
    assert client.run().done



def malformed(rng: random.Random, seq: int | None = None) -> bytes:
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
        return b"\xA5\x5A" + bytes([1, rng.randrange(256), seq]) + struct.pack("<H", rng.randrange(C.MAX_PAYLOAD + 1, 0x10000))
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
        write(malformed(rng, seq=(client.seq + 64 + rng.randrange(128)) & 0xFF))
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



def scenario_hung_core(client: HostClient, hang) -> None:
    """``hang(True)`` makes the core's next run never finish."""
    client.write_mem(mm.REG["NET"], [net_word(1, 1)])
    hang(True)
    for use_irq in (True, False):
        with pytest.raises(RemoteError) as e:
            client.run(timeout_cycles=20_000, use_irq=use_irq)
        assert e.value.code == Status.TIMEOUT and e.value.result.busy and e.value.result.waited == 20_000
        # the firmware aborted the run: the core is idle and writable again
        assert client.read_mem(mm.REG["STATUS"], 1) == [0]
        client.write_mem(PATTERN_BASE, [1])
    # a run started by hand (the register block stays writable while busy)
    client.write_mem(mm.REG["CTRL"], [mm.CTRL.mask("start")])
    assert client.read_mem(mm.REG["STATUS"], 1) == [mm.STATUS.mask("busy")]
    for fn, args in ((client.write_mem, (PATTERN_BASE, [2])), (client.run, ()), (client.load_inputs, ([1],)),
                     (client.write_mem, (mm.REG["NET"], [net_word(2, 1)]))):      # NET: the core refuses it
        with pytest.raises(RemoteError) as e:
            fn(*args)
        assert e.value.code == Status.BUSY, fn
    assert client.read_mem(mm.REG["NET"], 1) == [net_word(1, 1)]
    client.write_mem(mm.REG["CTRL"], [mm.CTRL.mask("abort")])
    assert client.read_mem(mm.REG["STATUS"], 1) == [0]
    assert client.read_mem(PATTERN_BASE, 1) == [1]
    hang(False)
    assert client.run().done
    assert client.status().counters["RUN_TIMEOUT"] == 2

