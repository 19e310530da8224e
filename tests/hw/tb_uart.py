"""cocotb: the generated UARTPeripheral Verilog against cocotbext-uart's UartSource/UartSink,
driven over Wishbone like firmware would (poll STATUS, write/read DATA, set DIVISOR).

Environment: DIVISOR (reset value of the divisor the Verilog was generated with), FIFO_DEPTH.
"""
from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import ClockCycles, Timer
from cocotbext.uart import UartSink, UartSource

from skyspike.rtlsim.bus import CLOCK_NS, WishboneMaster, start_clock

DIVISOR = int(os.environ.get("DIVISOR", "8"))
FIFO_DEPTH = int(os.environ.get("FIFO_DEPTH", "4"))
DATA, STATUS, DIV, RXWORD = 0x0, 0x4, 0x8, 0xC
TX_READY, RX_VALID, OVERRUN, FERR, RX_WORD = 1, 2, 4, 8, 16
FULL_WORD = RX_WORD if FIFO_DEPTH >= 4 else 0   # STATUS bit of a full FIFO: 4 bytes or more wait
EMPTY = 1 << 31


def baud(divisor: int) -> float:
    """The baud rate for cocotbext-uart whose bit time (it truncates 1e9 / baud to whole ns)
    is exactly ``divisor`` clock periods."""
    bit_ns = CLOCK_NS * divisor
    rate = 1e9 / bit_ns * (1 - 1e-12)
    assert int(1e9 / rate) == bit_ns and int(1e9 / rate / 2) == bit_ns // 2
    return rate


async def setup(dut):
    dut.rxd.value = 1
    await start_clock(dut)
    # A stalled DATA write lasts up to one frame: 10 bits of DIVISOR cycles (13 at most here).
    return WishboneMaster(dut, timeout=12 * max(13, DIVISOR) + 16)


async def sink_bytes(sink: UartSink, n: int, divisor: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        await sink.wait(timeout=40 * CLOCK_NS * divisor, timeout_unit="ns")
        got = sink.read_nowait()
        assert got, f"UART sink: timeout after {len(data)} of {n} bytes ({bytes(data)!r})"
        data += got
    return bytes(data)


async def read_available(bus: WishboneMaster) -> bytes:
    """Pop every received byte, firmware style: DATA until its 'empty' bit."""
    out = bytearray()
    while True:
        v = await bus.read(DATA)
        if v & EMPTY:
            return bytes(out)
        assert v < 256, hex(v)
        out.append(v)


@cocotb.test()
async def transmit_string(dut):
    bus = await setup(dut)
    sink = UartSink(dut.txd, baud=baud(DIVISOR))
    assert await bus.read(DIV) == DIVISOR
    assert await bus.read(STATUS) == TX_READY
    text = b"Hello from SkySpike! \x00\xff\x55\xaa\n"
    for ch in text:
        await bus.write(DATA, ch)  # stalls while the previous frame is on the line
    assert await sink_bytes(sink, len(text), DIVISOR) == text


@cocotb.test()
async def receive_polling(dut):
    """A source streaming back-to-back frames; the poller drains the FIFO and loses nothing."""
    bus = await setup(dut)
    source = UartSource(dut.rxd, baud=baud(DIVISOR))
    data = bytes(random.Random(5).choices(range(256), k=48))
    await source.write(data)
    got = bytearray()
    for _ in range(4000):
        status = await bus.read(STATUS)
        assert not status & (OVERRUN | FERR), hex(status)
        if status & RX_VALID:
            got += await read_available(bus)
        if len(got) == len(data):
            break
    assert bytes(got) == data


@cocotb.test()
async def runtime_divisor_both_ways(dut):
    bus = await setup(dut)
    for divisor in (13, 4, DIVISOR):
        await bus.write(DIV, divisor)
        assert await bus.read(DIV) == divisor
        sink = UartSink(dut.txd, baud=baud(divisor))
        source = UartSource(dut.rxd, baud=baud(divisor))
        out = bytes(random.Random(divisor).choices(range(256), k=FIFO_DEPTH))
        for ch in out:
            await bus.write(DATA, ch)
        await source.write(out[::-1])
        assert await sink_bytes(sink, len(out), divisor) == out
        await source.wait()
        await ClockCycles(dut.clk, 3 * divisor)
        assert await bus.read(STATUS) == TX_READY | RX_VALID | FULL_WORD | FIFO_DEPTH << 8
        if FIFO_DEPTH == 4:   # one RXWORD read pops the four, the oldest in [7:0]
            assert (await bus.read(RXWORD)).to_bytes(4, "little") == out[::-1]
        else:
            assert await read_available(bus) == out[::-1]
        # The idle source and sink of this rate stay attached but are not used again.


@cocotb.test()
async def framing_error_and_overrun(dut):
    bus = await setup(dut)
    bit = Timer(CLOCK_NS * DIVISOR, "ns")
    # A frame whose stop bit is 0, bit-banged (cocotbext-uart always sends a good stop bit).
    for b in [0] + [(0x3C >> i) & 1 for i in range(8)] + [0]:
        dut.rxd.value = b
        await bit
    dut.rxd.value = 1
    await ClockCycles(dut.clk, 2 * DIVISOR)
    assert await bus.read(STATUS) == TX_READY | FERR  # the bad byte is dropped
    await bus.write(STATUS, 0)
    assert await bus.read(STATUS) == TX_READY

    source = UartSource(dut.rxd, baud=baud(DIVISOR))
    data = bytes(random.Random(9).choices(range(256), k=FIFO_DEPTH + 3))
    await source.write(data)
    await source.wait()
    await ClockCycles(dut.clk, 3 * DIVISOR)
    assert await bus.read(STATUS) == TX_READY | RX_VALID | OVERRUN | FULL_WORD | FIFO_DEPTH << 8
    assert await read_available(bus) == data[:FIFO_DEPTH]
    await bus.write(STATUS, 0)
    assert await bus.read(STATUS) == TX_READY
