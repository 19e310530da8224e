"""cocotb: the SoC running a firmware image (test_soc.py builds it): collect its UART
output with cocotbext-uart, answer its echo prompt, and wait for the final ``ebreak`` trap.

Environment: DIVISOR (the UART divisor the SoC was generated with), EXPECT (the whole expected
UART output, hex-encoded), ECHO (the line to send after the "ECHO?" prompt, hex-encoded),
FIFO_DEPTH (the UART's receive FIFO), MAX_CYCLES.
"""
from __future__ import annotations

import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.uart import UartSink, UartSource

from skyspike.rtlsim.bus import CLOCK_NS
from skyspike.rtlsim.uartlink import uart_baud

DIVISOR = int(os.environ.get("DIVISOR", "8"))
EXPECT = bytes.fromhex(os.environ["EXPECT"])
ECHO = bytes.fromhex(os.environ.get("ECHO", ""))
MAX_CYCLES = int(os.environ.get("MAX_CYCLES", "400000"))
FIFO_DEPTH = int(os.environ.get("FIFO_DEPTH", "4"))


@cocotb.test()
async def boot_and_talk(dut):
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    sink = UartSink(dut.uart_tx, baud=uart_baud(DIVISOR))
    source = UartSource(dut.uart_rx, baud=uart_baud(DIVISOR))
    # A real 0 -> 1 -> 0 reset (see skyspike.rtlsim.bus.start_clock).
    dut.rst.value = 0
    await ClockCycles(dut.clk, 1)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0

    out = bytearray()
    echo_at = None
    sent = 0
    trap_cycle = None
    for cycle in range(MAX_CYCLES):
        await RisingEdge(dut.clk)
        if not sink.empty():
            out += sink.read_nowait()
            assert EXPECT.startswith(bytes(out)), f"unexpected UART output:\n{bytes(out).decode(errors='replace')}"
            if out.endswith(b"ECHO?\n"):
                echo_at = len(out)
            # Type the echo line in bursts of FIFO_DEPTH bytes, each once the previous burst has
            # come back: the CPU echoes more slowly than bytes arrive back to back at this rate.
            if echo_at is not None and sent < len(ECHO) and len(out) - echo_at >= sent:
                burst = ECHO[sent:sent + FIFO_DEPTH]
                await source.write(burst)
                sent += len(burst)
        if trap_cycle is None and dut.cpu_trap.value == 1:
            trap_cycle = cycle
            assert len(out) + 2 >= len(EXPECT), f"CPU trapped early after:\n{bytes(out).decode(errors='replace')}"
        if len(out) == len(EXPECT) and trap_cycle is not None:
            break
    dut._log.info(f"UART output ({cycle} cycles, trap at {trap_cycle}):\n{bytes(out).decode(errors='replace')}")
    assert bytes(out) == EXPECT, f"UART output after {cycle} cycles:\n{bytes(out).decode(errors='replace')}"
    assert trap_cycle is not None, "the program did not reach its final ebreak"
