"""cocotb: the real firmware image (build/firmware/firmware.hex) on the SoC RTL (PicoRV32 +
UART + SNN core), driven over its UART with the host link protocol (skyspike.link).
tests/firmware/test_firmware.py::test_firmware_on_soc_rtl generates the SoC and runs this.

Exercises what only the hardware can: start.S (reset, .bss, stack), the IRQ entry at 0x10
with PicoRV32's getq/retirq/maskirq, the level-sensitive core interrupt, rdcycle time-outs
(truncated frames), the UART driver, and the core's bus flags.

Environment: DIVISOR (the UART divisor the SoC was generated with), CAPS (hex CAPS0..3 of
the core configuration, comma separated), MAX_CYCLES (per reply).
"""
from __future__ import annotations

import os
import struct

import cocotb
from cocotb.triggers import ClockCycles
from cocotbext.uart import UartSink, UartSource

from skyspike.spec import memmap as mm
from skyspike.link import commands as P
from skyspike.link.commands import Cmd, Status
from skyspike.link.frames import Frame, FrameParser, encode_frame
from skyspike.rtlsim.uartlink import reset_soc, uart_baud

DIVISOR = int(os.environ.get("DIVISOR", "64"))
CAPS = tuple(int(x, 16) for x in os.environ["CAPS"].split(","))
MAX_CYCLES = int(os.environ.get("MAX_CYCLES", "400000"))


class Host:
    def __init__(self, dut):
        self.dut = dut
        self.source = UartSource(dut.uart_rx, baud=uart_baud(DIVISOR))
        self.sink = UartSink(dut.uart_tx, baud=uart_baud(DIVISOR))
        self.parser = FrameParser()
        self.seq = 0

    async def send(self, data: bytes) -> None:
        await self.source.write(data)
        await self.source.wait()

    async def reply(self, cmd: int, seq: int) -> Frame:
        for _ in range(MAX_CYCLES // 64):
            await ClockCycles(self.dut.clk, 64)
            assert self.dut.cpu_trap.value == 0, "PicoRV32 trapped (halted)"
            if not self.sink.empty():
                for f in self.parser.feed(bytes(self.sink.read_nowait())):
                    if f.cmd == cmd | P.REPLY_FLAG and f.seq == seq:
                        return f
        raise AssertionError(f"no reply to command {cmd:#x} seq {seq} within {MAX_CYCLES} cycles")

    async def call(self, cmd: int, payload: bytes = b"", expect: Status = Status.OK) -> bytes:
        self.seq = (self.seq + 1) & 0xFF
        await self.send(encode_frame(cmd, self.seq, payload))
        f = await self.reply(cmd, self.seq)
        assert f.payload[0] == expect, f"command {cmd:#x}: status {Status(f.payload[0]).name}, expected {expect.name}"
        return f.payload[1:]


@cocotb.test()
async def firmware_serves_protocol(dut):
    await reset_soc(dut, boot_cycles=0)
    host = Host(dut)
    await ClockCycles(dut.clk, 20_000)      # boot: clear .bss, unmask IRQs (a few thousand cycles)

    # IDENTIFY
    data = await host.call(Cmd.IDENTIFY)
    proto, fw, maxp, cid, cver, *caps = struct.unpack(P.REP_IDENTIFY, data)
    assert (proto, fw, maxp, cid, cver) == (P.PROTOCOL_VERSION, P.FIRMWARE_VERSION, P.MAX_PAYLOAD,
                                            mm.CORE_ID, mm.CORE_VERSION)
    assert tuple(caps) == CAPS

    # memory round trip (weights SRAM) and the core's bus flags
    words = [0x11111111, 0xDEADBEEF, 0x01234567, 0x89ABCDEF]
    await host.call(Cmd.WRITE_MEM, struct.pack("<I4I", mm.WEIGHT_BASE + 16, *words))
    assert struct.unpack("<4I", await host.call(Cmd.READ_MEM, struct.pack("<IH", mm.WEIGHT_BASE + 16, 4))) == tuple(words)
    addr = await host.call(Cmd.READ_MEM, struct.pack("<IH", 0x18, 1), expect=Status.BUS_ERROR)
    assert struct.unpack("<I", addr) == (0x18,)
    await host.call(Cmd.WRITE_MEM, struct.pack("<II", mm.REG["CAPS0"], 1), expect=Status.BUS_ERROR)

    # RUN with a bad network (0 layers): the core finishes at once with BAD_LAYER_COUNT --
    # via the interrupt (start.S IRQ entry, level-sensitive irq[3]) and by polling
    await host.call(Cmd.WRITE_MEM, struct.pack("<II", mm.REG["NET"], 0x0100))
    for flags in (P.RUN_FLAG_IRQ, 0):
        st, cycles, waited = struct.unpack(P.REP_RUN, await host.call(Cmd.RUN, struct.pack(P.REQ_RUN, flags, 100_000)))
        assert mm.STATUS["done"].get(st) and not mm.STATUS["busy"].get(st), hex(st)
        assert mm.STATUS["error"].get(st) == mm.ERROR_CODE["BAD_LAYER_COUNT"]
        assert 0 < waited < 100_000, waited
    assert struct.unpack("<I", await host.call(Cmd.READ_MEM, struct.pack("<IH", mm.REG["CTRL"], 1))) == (0,)

    # line noise: a bad CRC, garbage, a truncated frame (the rdcycle inter-byte timeout)
    host.seq += 1
    bad = bytearray(encode_frame(Cmd.IDENTIFY, host.seq))
    bad[-1] ^= 0x01
    await host.send(bytes(bad))
    assert (await host.reply(Cmd.IDENTIFY, host.seq)).payload == bytes([Status.BAD_CRC])
    await host.send(b"\x00\xA5\x13\x37")
    host.seq += 1
    await host.send(encode_frame(Cmd.READ_MEM, host.seq, bytes(6))[:9])
    assert (await host.reply(Cmd.READ_MEM, host.seq)).payload == bytes([Status.TRUNCATED])
    await host.call(Cmd.IDENTIFY)

    # STATUS: the counters saw all of it, and nothing was lost by the UART
    data = await host.call(Cmd.STATUS, b"\x00")
    st, cyc, n = struct.unpack(P.REP_STATUS_HEAD, data[:9])
    counters = dict(zip([name for name, _ in P.FW_COUNTERS], struct.unpack(f"<{n}I", data[9:])))
    dut._log.info(f"firmware counters: {counters}")
    assert counters["BAD_CRC"] == 1 and counters["TRUNCATED"] == 1 and counters["RESYNCS"] >= 1
    assert counters["CORE_IRQ"] == 1 and counters["BUS_ERROR"] == 2
    assert counters["UART_OVERRUN"] == 0 and counters["UART_FRAMING"] == 0
    assert counters["TRAPS"] == 0 and counters["TX_TIMEOUT"] == 0
    assert counters["RX_FRAMES"] == 11
