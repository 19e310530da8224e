"""The firmware model (skyspike.emu.firmware_model) and ModelLink: a silent firmware, the
link interface, counters that follow the parser, and the core's flags around a command."""
from __future__ import annotations

import struct

import pytest

from skyspike.spec import memmap as mm
from skyspike.link.client import HostClient
from skyspike.link.commands import FW_COUNTERS, REPLY_FLAG, STATUS_FLAG_CLEAR, Cmd, Status
from skyspike.link.frames import FrameParser, encode_frame
from skyspike.link.links import Link
from skyspike.emu.core_model import CoreModel
from skyspike.emu.firmware_model import FirmwareModel, ModelLink


def test_silent_model_then_back():
    link = ModelLink()
    client = HostClient(link, timeout=0.02, retries=0)
    link.model.silent = True
    with pytest.raises(TimeoutError):
        client.status()
    link.model.silent = False
    assert client.status().counters["RX_FRAMES"] == 2


def test_model_is_a_link():
    assert isinstance(ModelLink(FirmwareModel()), Link)


def _replies(model: FirmwareModel, *frames: bytes):
    for f in frames:
        model.receive(f)
    return FrameParser().feed(model.take_output())


def test_counters_follow_the_parser_and_clear():
    model = FirmwareModel()
    bad = bytearray(encode_frame(Cmd.IDENTIFY, 1))
    bad[-1] ^= 1
    replies = _replies(model, b"\x00\x01", bytes(bad), encode_frame(Cmd.STATUS, 2, bytes([STATUS_FLAG_CLEAR])))
    assert [(r.cmd, r.seq, r.payload[0]) for r in replies] == [(Cmd.IDENTIFY | REPLY_FLAG, 1, Status.BAD_CRC),
                                                               (Cmd.STATUS | REPLY_FLAG, 2, Status.OK)]
    values = dict(zip([n for n, _ in FW_COUNTERS], struct.unpack(f"<{len(FW_COUNTERS)}I", replies[1].payload[10:])))
    assert values["BAD_CRC"] == 1 and values["RX_FRAMES"] == 1
    # the noise, then the rejected frame's bytes (its first SYNC byte dropped, the rest rescanned)
    assert values["RESYNCS"] == 2 and values["GARBAGE_BYTES"] == 2 + len(bad)
    assert model.counter_values() == [0] * len(FW_COUNTERS)


def test_bus_error_reply_carries_the_address_and_clears_the_flag():
    model = FirmwareModel(CoreModel())
    (reply,) = _replies(model, encode_frame(Cmd.READ_MEM, 3, struct.pack("<IH", 0x8000, 1)))
    assert reply.payload == bytes([Status.BUS_ERROR]) + struct.pack("<I", 0x8000)
    (reply,) = _replies(model, encode_frame(Cmd.READ_MEM, 4, struct.pack("<IH", mm.REG["ID"], 1)))
    assert reply.payload == bytes([Status.OK]) + struct.pack("<I", mm.CORE_ID)
    assert not model.core.read(mm.REG["STATUS"]) & mm.STATUS.mask("bus_error")
