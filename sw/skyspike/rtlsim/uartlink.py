"""The host link over the simulated SoC's UART: a blocking :class:`skyspike.link.links.Link`
for code running in a cocotb ``bridge`` thread (the real HostClient, unchanged), plus the
SoC reset sequence; the host-side sequence itself lives in :mod:`skyspike.link.host`."""
from __future__ import annotations

import logging
import os

from cocotb._bridge import resume  # cocotb 2.x: the public name is cocotb.task.resume
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.uart import UartSink, UartSource

from skyspike.link.commands import set_divisor_settle_cycles
from skyspike.rtlsim.bus import CLOCK_NS


async def reset_soc(dut, boot_cycles: int = 20_000) -> None:
    """Clock, UART line idle, a reset pulse with real edges, then time for the firmware to
    boot (clear .bss, unmask IRQs: a few thousand cycles)."""
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.uart_rx.value = 1
    dut.rst.value = 0
    await ClockCycles(dut.clk, 1)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, boot_cycles)


def uart_baud(divisor: int) -> float:
    """cocotbext-uart truncates 1e9 / baud to whole ns: make that exactly ``divisor`` clocks."""
    bit_ns = CLOCK_NS * divisor
    rate = 1e9 / bit_ns * (1 - 1e-12)
    assert int(1e9 / rate) == bit_ns and int(1e9 / rate / 2) == bit_ns // 2
    return rate


class SimUartLink:
    """Link.write/read on the SoC's uart_rx/uart_tx pins. ``read`` returns what has arrived
    as soon as anything has, or b"" after ``timeout`` seconds of *simulated* time (capped at
    ``max_wait_cycles``: the host's own deadline, in wall time, is the outer bound)."""

    def __init__(self, dut, divisor: int, max_wait_cycles: int = 400_000, poll: int = 64):
        self.dut = dut
        self.source = UartSource(dut.uart_rx, baud=uart_baud(divisor))
        self.sink = UartSink(dut.uart_tx, baud=uart_baud(divisor))
        for end in (self.source, self.sink):
            end.log.setLevel(logging.INFO if os.environ.get("UART_LOG") else logging.WARNING)  # a line per byte
        self.char_cycles = 10 * divisor
        self.max_wait_cycles = max_wait_cycles
        self.poll = poll
        self.bytes_out = self.bytes_in = 0

    @resume
    async def write(self, data: bytes) -> None:
        self.bytes_out += len(data)
        await self.source.write(data)
        await self.source.wait()

    def set_divisor(self, divisor: int, baud: float) -> None:
        """Follow the firmware's SET_DIVISOR after the settle time (commands.SET_DIVISOR_SETTLE_*:
        the firmware switches a little after the reply's stop bit). (cocotbext-uart's ``baud``
        setter recurses: set the rate and restart its coroutines directly.)"""
        self.idle(set_divisor_settle_cycles(self.char_cycles // 10))
        for end in (self.source, self.sink):
            end._baud = uart_baud(divisor)
            end._restart()
        self.char_cycles = 10 * divisor

    @resume
    async def idle(self, cycles: int) -> None:
        """Keep the line quiet (e.g. longer than the firmware's inter-byte timeout)."""
        await ClockCycles(self.dut.clk, cycles)

    @resume
    async def read(self, n: int, timeout: float) -> bytes:
        budget = min(self.max_wait_cycles, int(timeout * 1e9 / CLOCK_NS))
        waited = 0
        while self.sink.empty() and waited < budget:
            await ClockCycles(self.dut.clk, self.poll)
            waited += self.poll
            if self.dut.cpu_trap.value == 1:
                raise RuntimeError("PicoRV32 trapped (halted)")
        data = bytes(self.sink.read_nowait(min(n, self.sink.count()))) if not self.sink.empty() else b""
        self.bytes_in += len(data)
        return data
