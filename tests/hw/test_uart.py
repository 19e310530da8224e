"""UART and its Wishbone wrapper: Amaranth-simulator tests (exact TX bit timing, RX at the
nominal rate and with a +-3 % baud mismatch, loopback of random bytes at several divisors,
runtime DIVISOR, framing error, overrun, glitch rejection, stalled DATA writes, word-wide
RXWORD reads), and a
cocotb run of the generated Verilog against cocotbext-uart (tb_uart.py)."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from amaranth import Elaboratable, Module
from amaranth.sim import Simulator

from skyspike_hw.uart import (
    DATA_RX_EMPTY, MIN_DIVISOR, REG_DATA, REG_DIVISOR, REG_RXWORD, REG_STATUS, STATUS_FRAMING_ERROR,
    STATUS_RX_OVERRUN, STATUS_RX_VALID, STATUS_RX_WORD, STATUS_TX_READY, UART, UARTPeripheral, divisor_for,
)

BUILD = Path(__file__).resolve().parents[2] / "build" / "tests"
DIVISORS = [4, 5, 7, 16]


def run(dut, *benches, background=(), max_cycles=200_000):
    """Simulate ``dut`` until the ``benches`` return; fails if they take over ``max_cycles``."""
    sim = Simulator(dut)
    period = 1e-6
    sim.add_clock(period)
    finished = []

    def tracked(bench):
        async def wrapper(ctx):
            await bench(ctx)
            finished.append(bench)
        return wrapper

    for b in benches:
        sim.add_testbench(tracked(b))
    for b in background:
        sim.add_testbench(b, background=True)
    cycles = 0
    while len(finished) < len(benches):
        assert cycles < max_cycles, f"simulation ran past {max_cycles} cycles"
        cycles += 1000
        sim.run_until(cycles * period)


# -- serial line models ----------------------------------------------------------------------

def frame_bits(byte: int, stop: int = 1) -> list[int]:
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


async def send_serial(ctx, pin, byte: int, period: float, *, stop: int = 1, offset: float = 0.0):
    """Drive one 8N1 frame on ``pin``; ``period`` is the bit time in (possibly fractional)
    clock cycles, applied without accumulating rounding error."""
    t = 0
    for k, bit in enumerate(frame_bits(byte, stop)):
        ctx.set(pin, bit)
        end = round(offset + (k + 1) * period)
        await ctx.tick().repeat(max(1, end - t))
        t = end
    ctx.set(pin, 1)


async def recv_serial(ctx, pin, divisor: int, n: int) -> list[int]:
    """Receive ``n`` frames from ``pin``, checking that every bit lasts exactly ``divisor`` cycles."""
    out = []
    while len(out) < n:
        while ctx.get(pin) == 1:
            await ctx.tick()
        bits = []
        for k in range(10):
            vals = []
            for _ in range(divisor):
                vals.append(ctx.get(pin))
                await ctx.tick()
            assert len(set(vals)) == 1, f"frame {len(out)} bit {k} not stable for {divisor} cycles: {vals}"
            bits.append(vals[0])
        assert bits[0] == 0 and bits[9] == 1, f"frame {len(out)}: bad start/stop bits {bits}"
        out.append(sum(b << i for i, b in enumerate(bits[1:9])))
    return out


# -- Wishbone access from an Amaranth testbench -------------------------------------------------

async def wb(ctx, p, addr: int, data: int | None = None, timeout: int = 64) -> tuple[int, int]:
    """One access (write if ``data`` is given); returns (read data, cycles to the ack)."""
    ctx.set(p.wb.cyc, 1)
    ctx.set(p.wb.stb, 1)
    ctx.set(p.wb.we, data is not None)
    ctx.set(p.wb.sel, 0xF)
    ctx.set(p.wb.adr, addr >> 2)
    ctx.set(p.wb.dat_w, data or 0)
    for cycles in range(1, timeout + 1):
        await ctx.tick()
        if ctx.get(p.wb.ack):
            value = ctx.get(p.wb.dat_r)
            ctx.set(p.wb.cyc, 0)
            ctx.set(p.wb.stb, 0)
            return value, cycles
    raise AssertionError(f"no ack for the access at {addr:#x} within {timeout} cycles")


async def rd(ctx, p, addr):
    return (await wb(ctx, p, addr))[0]


async def wr(ctx, p, addr, data, timeout=64):
    return (await wb(ctx, p, addr, data, timeout))[1]


class Loopback(Elaboratable):
    def __init__(self, periph):
        self.p = periph

    def elaborate(self, platform):
        m = Module()
        m.submodules.p = self.p
        m.d.comb += self.p.rxd.eq(self.p.txd)
        return m


# -- the UART itself -----------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", DIVISORS)
def test_uart_tx_timing_random_bytes(divisor):
    dut = UART(divisor)
    data = random.Random(divisor).choices(range(256), k=24)
    got = []

    async def feeder(ctx):
        for b in data:
            ctx.set(dut.tx.payload, b)
            ctx.set(dut.tx.valid, 1)
            await ctx.tick().until(dut.tx.ready)  # accepted at this edge
        ctx.set(dut.tx.valid, 0)

    async def receiver(ctx):
        got.extend(await recv_serial(ctx, dut.txd, divisor, len(data)))

    run(dut, receiver, background=[feeder])
    assert got == data


@pytest.mark.parametrize("divisor", DIVISORS)
@pytest.mark.parametrize("skew", [0.0, -0.03, 0.03])
def test_uart_rx_random_bytes(divisor, skew):
    """Mid-bit sampling takes frames from a sender up to 3 % off the nominal baud rate."""
    dut = UART(divisor)
    rng = random.Random(divisor * 100 + int(skew * 100))
    data = rng.choices(range(256), k=24)
    got = []

    async def sender(ctx):
        await ctx.tick().repeat(3)
        for b in data:
            await send_serial(ctx, dut.rxd, b, divisor * (1 + skew), offset=rng.random())
            gap = rng.choice([0, 0, 1, divisor])  # back-to-back frames, or idle time
            if gap:
                await ctx.tick().repeat(gap)
        await ctx.tick().repeat(4 * divisor)

    async def collector(ctx):
        while True:
            await ctx.tick()
            if ctx.get(dut.rx.valid):
                assert not ctx.get(dut.rx_ferr)
                got.append(ctx.get(dut.rx.payload))

    run(dut, sender, background=[collector])
    assert got == data


def test_uart_rejects_glitch_and_break():
    """A 1-cycle low glitch is not a start bit; a held-low line (break) is one framing error."""
    divisor = 8
    dut = UART(divisor)
    frames = []

    async def sender(ctx):
        await ctx.tick().repeat(5)
        ctx.set(dut.rxd, 0)
        await ctx.tick()
        ctx.set(dut.rxd, 1)
        await ctx.tick().repeat(30 * divisor)
        ctx.set(dut.rxd, 0)              # break: 3 frame times low
        await ctx.tick().repeat(30 * divisor)
        ctx.set(dut.rxd, 1)
        await ctx.tick().repeat(3 * divisor)
        await send_serial(ctx, dut.rxd, 0xA5, divisor)
        await ctx.tick().repeat(3 * divisor)

    async def collector(ctx):
        while True:
            await ctx.tick()
            if ctx.get(dut.rx.valid):
                frames.append((ctx.get(dut.rx.payload), ctx.get(dut.rx_ferr)))

    run(dut, sender, background=[collector])
    assert frames == [(0x00, 1), (0xA5, 0)]


# -- the Wishbone peripheral -------------------------------------------------------------------

@pytest.mark.parametrize("divisor", DIVISORS)
def test_peripheral_loopback_random_bytes(divisor):
    depth = 4
    top = Loopback(UARTPeripheral(divisor, fifo_depth=depth))
    p = top.p
    data = random.Random(7 + divisor).choices(range(256), k=32)
    got = []

    async def cpu(ctx):
        assert await rd(ctx, p, REG_DIVISOR) == divisor
        assert await rd(ctx, p, REG_STATUS) == STATUS_TX_READY
        assert await rd(ctx, p, REG_DATA) == DATA_RX_EMPTY
        for i in range(0, len(data), depth):
            for b in data[i:i + depth]:
                await wr(ctx, p, REG_DATA, 0xFFFFFF00 | b, timeout=12 * divisor)  # upper bits ignored
            await ctx.tick().repeat(12 * divisor)  # the last frame lands
            status = await rd(ctx, p, REG_STATUS)
            assert status == STATUS_TX_READY | STATUS_RX_VALID | STATUS_RX_WORD | depth << 8, hex(status)
            for _ in range(depth):
                got.append(await rd(ctx, p, REG_DATA))
            assert await rd(ctx, p, REG_STATUS) == STATUS_TX_READY

    run(top, cpu)
    assert got == data


def test_peripheral_runtime_divisor_and_stall():
    """DIVISOR is read/write (clamped to 4); frames follow it with exact bit times; a DATA
    write while the transmitter is busy stalls until it takes the byte."""
    p = UARTPeripheral(9)
    seen = {}

    async def cpu(ctx):
        assert await wr(ctx, p, REG_DIVISOR, 1) <= 2  # 2 right after an access
        assert await rd(ctx, p, REG_DIVISOR) == MIN_DIVISOR
        assert await wr(ctx, p, REG_DIVISOR, 0xABCD0006) <= 2
        assert await rd(ctx, p, REG_DIVISOR) == 6
        seen["first"] = await wr(ctx, p, REG_DATA, 0x3C)
        assert not (await rd(ctx, p, REG_STATUS)) & STATUS_TX_READY
        seen["second"] = await wr(ctx, p, REG_DATA, 0xC3, timeout=100)
        await ctx.tick().repeat(70)
        assert await wr(ctx, p, REG_DIVISOR, 11) <= 2
        await wr(ctx, p, REG_DATA, 0x81)
        await ctx.tick().repeat(130)

    async def line(ctx):
        seen["rx6"] = await recv_serial(ctx, p.txd, 6, 2)
        seen["rx11"] = await recv_serial(ctx, p.txd, 11, 1)

    run(p, cpu, background=[line])
    assert seen["rx6"] == [0x3C, 0xC3] and seen["rx11"] == [0x81]
    assert seen["first"] <= 2
    # The write after the first one waits about one frame (10 bits of 6 cycles) for its ack.
    assert 10 * 6 - 8 <= seen["second"] <= 10 * 6 + 2, seen


def test_peripheral_framing_error():
    divisor = 6
    p = UARTPeripheral(divisor)

    async def line(ctx):
        await ctx.tick().repeat(4)
        await send_serial(ctx, p.rxd, 0x5A, divisor, stop=0)
        await ctx.tick().repeat(2 * divisor)
        await send_serial(ctx, p.rxd, 0x42, divisor)

    async def cpu(ctx):
        await ctx.tick().repeat(12 * divisor)
        status = await rd(ctx, p, REG_STATUS)
        assert status == STATUS_TX_READY | STATUS_FRAMING_ERROR, hex(status)  # bad byte dropped
        await ctx.tick().repeat(12 * divisor)
        status = await rd(ctx, p, REG_STATUS)
        assert status == STATUS_TX_READY | STATUS_RX_VALID | STATUS_FRAMING_ERROR | 1 << 8, hex(status)
        assert await rd(ctx, p, REG_DATA) == 0x42
        await wr(ctx, p, REG_STATUS, 0)  # any write clears the sticky bits
        assert await rd(ctx, p, REG_STATUS) == STATUS_TX_READY

    run(p, cpu, background=[line])


@pytest.mark.parametrize("depth", [1, 4])
def test_peripheral_overrun(depth):
    divisor = 5
    p = UARTPeripheral(divisor, fifo_depth=depth)
    data = random.Random(depth).choices(range(256), k=depth + 2)

    async def line(ctx):
        await ctx.tick().repeat(3)
        for b in data:
            await send_serial(ctx, p.rxd, b, divisor)

    async def cpu(ctx):
        await ctx.tick().repeat(3 + 10 * divisor * len(data) + 2 * divisor)
        status = await rd(ctx, p, REG_STATUS)
        word = STATUS_RX_WORD if depth >= 4 else 0
        assert status == STATUS_TX_READY | STATUS_RX_VALID | STATUS_RX_OVERRUN | word | depth << 8, hex(status)
        got = [await rd(ctx, p, REG_DATA) for _ in range(depth)]
        assert got == data[:depth]  # the first bytes are kept; later ones are lost
        assert await rd(ctx, p, REG_DATA) == DATA_RX_EMPTY
        assert await rd(ctx, p, REG_STATUS) == STATUS_TX_READY | STATUS_RX_OVERRUN
        await wr(ctx, p, REG_STATUS, 0xFFFFFFFF)
        assert await rd(ctx, p, REG_STATUS) == STATUS_TX_READY

    run(p, cpu, background=[line])


def test_peripheral_rxword():
    """RXWORD pops 4 bytes at once (oldest in [7:0], acked 4 cycles after the strobe) when the
    FIFO holds 4; with fewer it pops nothing and returns 0; DATA reads interleave in order."""
    divisor = 5
    p = UARTPeripheral(divisor, fifo_depth=16)
    data = random.Random(11).choices(range(256), k=15)
    little = lambda bs: sum(b << 8 * i for i, b in enumerate(bs))  # noqa: E731

    async def line(ctx):
        await ctx.tick().repeat(3)
        for b in data[:3]:
            await send_serial(ctx, p.rxd, b, divisor)
        await ctx.tick().repeat(40 * divisor)
        for b in data[3:]:
            await send_serial(ctx, p.rxd, b, divisor)

    async def cpu(ctx):
        await ctx.tick().repeat(3 + 32 * divisor)
        assert await rd(ctx, p, REG_STATUS) == STATUS_TX_READY | STATUS_RX_VALID | 3 << 8
        _, plain = await wb(ctx, p, REG_DIVISOR)
        value, cycles = await wb(ctx, p, REG_RXWORD)
        assert (value, cycles) == (0, plain)              # 3 bytes: nothing popped
        await ctx.tick().repeat(40 * divisor + 10 * divisor * 12)
        assert await rd(ctx, p, REG_STATUS) == STATUS_TX_READY | STATUS_RX_VALID | STATUS_RX_WORD | 15 << 8
        value, cycles = await wb(ctx, p, REG_RXWORD)
        assert (value, cycles) == (little(data[0:4]), plain + 3)   # a byte a cycle
        assert await rd(ctx, p, REG_DATA) == data[4]
        assert await rd(ctx, p, REG_RXWORD) == little(data[5:9])
        assert await rd(ctx, p, REG_RXWORD) == little(data[9:13])
        assert await rd(ctx, p, REG_STATUS) == STATUS_TX_READY | STATUS_RX_VALID | 2 << 8
        assert await rd(ctx, p, REG_RXWORD) == 0
        assert [await rd(ctx, p, REG_DATA) for _ in range(3)] == data[13:] + [DATA_RX_EMPTY]
        assert await wr(ctx, p, REG_RXWORD, 0x12345678) == plain   # ignored
        assert await rd(ctx, p, REG_STATUS) == STATUS_TX_READY

    run(p, cpu, background=[line])


def test_bad_parameters():
    for bad in (0, 3, 1 << 16, -5):
        with pytest.raises(ValueError, match=str(bad)):
            UART(bad)
        with pytest.raises(ValueError, match=str(bad)):
            UARTPeripheral(bad)
    with pytest.raises(TypeError):
        UART(16.0)
    for bad in (0, 256):
        with pytest.raises(ValueError, match=str(bad)):
            UARTPeripheral(16, fifo_depth=bad)
    assert divisor_for(50e6, 115200) == 434
    with pytest.raises(ValueError, match="1200000"):
        divisor_for(5e6, 1_000_000 * 1.2)   # 4.17 -> 4: 4 % off
    with pytest.raises(ValueError, match="1000000000"):
        divisor_for(1e9, 1)                  # divisor above 65535


# -- the generated Verilog against cocotbext-uart ------------------------------------------------

def test_uart_verilog_cocotb(sim):
    pytest.importorskip("cocotbext.uart", reason="cocotbext-uart is not installed (pip install cocotbext-uart)")
    from simrun import run_cocotb
    from skyspike_hw.gen import verilog_text, write_if_changed

    divisor = 8
    src = write_if_changed(BUILD / "verilog" / "uart" / "skyspike_uart.v",
                           verilog_text(UARTPeripheral(divisor, fifo_depth=4), "skyspike_uart"))
    run_cocotb([src], "skyspike_uart", "tb_uart", build_dir=BUILD / "uart",
               extra_env={"DIVISOR": str(divisor), "FIFO_DEPTH": "4"}, sim=sim)
