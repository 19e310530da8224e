"""STREAM in the C firmware (host build) against its Python model: the same bytes out, byte for
byte, for whole streams, a stream cut short, refused requests, failing runs and a hung core; and
HostClient.stream over the C firmware."""
from __future__ import annotations

import os
import signal
import struct
import time

import numpy as np
import pytest

from skyspike.spec import memmap as mm
from skyspike.errors import InputError
from skyspike.link.client import HostClient, RemoteError, StreamRunError
from skyspike.link.commands import REP_STREAM, Cmd, Status
from skyspike.link.frames import FrameParser, encode_frame
from skyspike.link.streaming import StreamGeometry, stream_request
from skyspike.emu.core_model import CoreModel
from skyspike.emu.firmware_model import FirmwareModel, ModelLink

from fwhost_fixture import INTERBYTE_US, CFirmware, cfw, fwhost  # noqa: F401 (fixtures)

CLOSING = 7 + 1 + struct.calcsize(REP_STREAM) + 2


def _images(n: int, size: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, n * size, dtype=np.uint8).tobytes()


def _read_all(link, want: int, limit: float = 3.0) -> bytes:
    out = bytearray()
    deadline = time.monotonic() + limit
    while len(out) < want and time.monotonic() < deadline:
        out += link.read(4096, 0.05)
    return bytes(out + link.read(4096, 0.0))


def _same(c_out: bytes, model_out: bytes) -> None:
    """Byte for byte, but for the closing reply's CPU time (real µs in C, nominal in the model)."""
    assert len(c_out) == len(model_out), (c_out.hex(), model_out.hex())
    if c_out == model_out:
        return
    assert c_out[:-CLOSING] == model_out[:-CLOSING]
    c_close, m_close = FrameParser().feed(c_out[-CLOSING:]), FrameParser().feed(model_out[-CLOSING:])
    assert len(c_close) == len(m_close) == 1
    assert c_close[0].payload[:-4] == m_close[0].payload[:-4]


def _both(cfw, model, data: bytes, *, idle: bool = False) -> None:
    """Send ``data`` to both; with ``idle`` the host then goes quiet (inter-byte timeout)."""
    model.receive(data)
    if idle:
        model.idle()
    want = model.take_output()
    cfw.link.write(data)
    if idle:
        cfw.await_timeout()
    _same(_read_all(cfw.link, len(want)), want)


def test_stream_c_and_model_answer_identically(fwhost):
    cfw = CFirmware(fwhost, "--trace-timeouts")
    model = FirmwareModel(CoreModel())
    try:
        net = encode_frame(Cmd.WRITE_MEM, 1, struct.pack("<II", mm.REG["NET"], 2 | 3 << 8))
        model.receive(net)
        want = model.take_output()
        cfw.link.write(net)
        assert _read_all(cfw.link, len(want)) == want
        geo = StreamGeometry(frames=3, frame_bytes=10, stride=1, n_out=10, out_state=4)
        for seq, flags in ((2, 3), (3, 0), (4, 1), (11, 7)):   # two pages; counts, membranes, cycles
            _both(cfw, model, encode_frame(Cmd.STREAM, seq, stream_request(7, flags, geo)) + _images(7, 30, seq))
        # frames of several rows (26 bytes: 6 whole words over 4 banks, then 2 bytes; 32: 8 words)
        for seq, rows in ((16, StreamGeometry(frames=3, frame_bytes=26, stride=2, n_out=10, out_state=4)),
                          (17, StreamGeometry(frames=4, frame_bytes=32, stride=3, n_out=10, out_state=4))):
            n_bytes = rows.frames * rows.frame_bytes
            _both(cfw, model, encode_frame(Cmd.STREAM, seq, stream_request(5, 1, rows)) + _images(5, n_bytes, seq))
        one_page = StreamGeometry(frames=2, frame_bytes=9, stride=100, n_out=4, out_state=0)
        _both(cfw, model, encode_frame(Cmd.STREAM, 5, stream_request(3, 1, one_page)) + _images(3, 18, 5))
        # cut short: 1.5 images of 3, then silence -> closing reply TRUNCATED after 1 answer
        _both(cfw, model, encode_frame(Cmd.STREAM, 6, stream_request(3, 0, geo)) + _images(1, 45, 6), idle=True)
        # refused requests: no go-ahead, the bytes after are line noise to the parser
        for payload in (stream_request(2, 0, geo)[:-1], stream_request(0, 0, geo), stream_request(2, 8, geo),
                        stream_request(2, 0, StreamGeometry(3, 17, 1, 10, 4)),      # 17 bytes > 16 per frame
                        stream_request(2, 0, StreamGeometry(3, 10, 90, 10, 4)),     # 270 words > 256
                        stream_request(2, 0, StreamGeometry(3, 10, 1, 40, 0))):     # more outputs than the core
            _both(cfw, model, encode_frame(Cmd.STREAM, 7, payload))
        # every run fails (NET: 0 layers): failure markers, counted in the closing reply
        zero = encode_frame(Cmd.WRITE_MEM, 8, struct.pack("<II", mm.REG["NET"], 0))
        _both(cfw, model, zero + encode_frame(Cmd.STREAM, 9, stream_request(2, 1, geo)) + _images(2, 30, 9))
        for seq, payload in ((12, struct.pack("<I", 8)), (13, struct.pack("<I", 3)), (14, struct.pack("<I", 70000)),
                             (15, b"\x08\x00")):     # SET_DIVISOR: one good, three refused
            _both(cfw, model, encode_frame(Cmd.SET_DIVISOR, seq, payload))
        assert model.divisor == 8
        status = encode_frame(Cmd.STATUS, 10, b"\x00")
        _both(cfw, model, status)
    finally:
        cfw.close()


def test_model_divisor_range_is_the_uart_s():
    from skyspike.emu import firmware_model
    from skyspike_hw import uart

    assert (firmware_model.MIN_DIVISOR, firmware_model.MAX_DIVISOR) == (uart.MIN_DIVISOR, 2 ** uart.DIVISOR_BITS - 1)


def test_client_set_divisor_switches_the_link(cfw):
    seen = []
    link = cfw.link
    link.set_divisor = lambda d, baud: seen.append((d, baud))
    client = HostClient(link, timeout=2.0, clock_hz=100e6)
    assert client.set_divisor(8) == 12.5e6 and seen == [(8, 12.5e6)]
    with pytest.raises(RemoteError) as e:
        client.set_divisor(2)
    assert e.value.code == Status.BAD_ARG and len(seen) == 1
    with pytest.raises(InputError):
        client.set_divisor(0)


def test_stream_hung_core_times_out_every_run(cfw):
    client = HostClient(cfw.link, timeout=2.0)
    client.write_mem(mm.REG["NET"], [1 | 2 << 8])
    os.kill(cfw.proc.pid, signal.SIGUSR1)
    time.sleep(0.01)
    geo = StreamGeometry(frames=1, frame_bytes=8, stride=2, n_out=4, out_state=0)
    with pytest.raises(StreamRunError, match="did not finish") as e:
        client.stream([bytes(8)] * 3, geo, timeout_cycles=20_000)    # µs in the host build
    assert e.value.result.failed == 3 and (e.value.result.classes == -1).all()
    os.kill(cfw.proc.pid, signal.SIGUSR2)
    time.sleep(0.01)
    # the host build's core refuses every input write while busy (the RTL only the run's own
    # frames): image 2 lands while run 1 hangs and fails as refused, runs 1 and 3 time out
    assert client.status().counters["RUN_TIMEOUT"] == 2
    assert client.stream([bytes(8)], geo).failed == 0      # and the link still works


def test_client_stream_over_the_c_firmware(cfw):
    client = HostClient(cfw.link, timeout=2.0)
    client.write_mem(mm.REG["NET"], [2 | 3 << 8])
    geo = StreamGeometry(frames=2, frame_bytes=12, stride=1, n_out=8, out_state=2)
    images = [bytes([i, 0, 0, 0] + [7] * 20) for i in range(40)]
    ref = HostClient(ModelLink(), timeout=1.0)
    ref.write_mem(mm.REG["NET"], [2 | 3 << 8])
    for window in (None, 1, 3):
        got = client.stream(images, geo, counts=True, membranes=True, window=window)
        want = ref.stream(images, geo, counts=True, membranes=True, window=window)
        assert np.array_equal(got.classes, want.classes) and np.array_equal(got.counts, want.counts)
        assert np.array_equal(got.membranes, want.membranes) and got.core_cycles == want.core_cycles == 40 * 600
        # the stand-in run is salted with the image's first word: the answers follow the images
        assert len({tuple(c) for c in got.counts}) > 30
    st = client.status().counters
    assert st["BAD_ARG"] == 0 and st["TRUNCATED"] == 0
    with pytest.raises(RemoteError) as e:
        client.stream(images[:2], StreamGeometry(2, 12, 1, 8, 0xFFF0))   # past the state entries
    assert e.value.code == Status.BAD_ARG
