"""A pure-Python model of the firmware's command loop (firmware/src/proto.c): the same
parser, the same checks, the same counters, over a :class:`CoreModel`. The executable
specification of proto.c, and the far end of :class:`ModelLink` for tests."""
from __future__ import annotations

import struct
import time
from collections import Counter

from skyspike.spec import memmap as mm
from skyspike.link.commands import (DEFAULT_RUN_TIMEOUT_CYCLES, FIRMWARE_VERSION, FW_COUNTERS, MAX_PAYLOAD,
                                    MAX_WORDS, PROTOCOL_VERSION, REP_IDENTIFY, REP_RUN, REP_STATUS_HEAD,
                                    REPLY_FLAG, REQ_MEM_OFFSET, REQ_READ_MEM, REQ_READ_RESULTS, REQ_RUN,
                                    REQ_SET_DIVISOR, RUN_FLAG_IRQ, STATUS_FLAG_CLEAR, Cmd, Status)
from skyspike.link.frames import Frame, FrameError, FrameParser, ParserStats, encode_frame
from skyspike.emu.core_model import CoreModel
from skyspike.emu.stream_model import StreamModel

#: The UART's divisor range (hw/skyspike_hw/uart.py; the firmware header's SOC_UART_*_DIVISOR).
MIN_DIVISOR, MAX_DIVISOR = 4, 0xFFFF
#: The core's sticky flags in STATUS, which the firmware checks around every command's accesses.
_CORE_FLAGS = mm.STATUS.pack(bus_error=1, write_refused=1)


class FirmwareModel:
    """Pure-Python model of firmware/src/proto.c: feed it request bytes, collect reply bytes.

    ``receive(data)`` parses and executes; ``idle()`` stands for the firmware's inter-byte
    timeout firing (what happens while the host waits for a reply)."""

    def __init__(self, core: CoreModel | None = None):
        self.core = core or CoreModel()
        self.parser = FrameParser()
        self.counters = Counter()
        self.out = bytearray()
        self.silent = False        # stop answering (host timeout tests)
        self.irq_seen = False      # firmware's core_irq_seen
        self.stream: StreamModel | None = None   # a STREAM command is taking raw image bytes
        self.divisor: int | None = None          # the last SET_DIVISOR

    # -- transport --------------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        data = bytes(data)
        while data:
            if self.stream is not None:
                data = self.stream.feed(data)
                if self.stream.finished:
                    self._close_stream()
                continue
            # byte by byte, so that the bytes after a STREAM request go to the stream (the
            # parser decides the same however the bytes are chunked)
            for i in range(len(data)):
                self._handle_events(self.parser.feed_events(data[i:i + 1]))
                if self.stream is not None:
                    data = data[i + 1:]
                    break
            else:
                data = b""

    def idle(self) -> None:
        if self.stream is not None:           # the host went quiet inside a stream
            self.counters["TRUNCATED"] += 1
            self.stream.status = Status.TRUNCATED
            self._close_stream()
        elif self.parser.pending:
            self._handle_events(self.parser.expire())

    def take_output(self) -> bytes:
        out = bytes(self.out)
        self.out.clear()
        return out

    def _reply(self, cmd: int, seq: int, status: Status, data: bytes = b"") -> None:
        if not self.silent:
            self.out += encode_frame((cmd | REPLY_FLAG) & 0xFF, seq, bytes([status]) + data)

    def _handle_events(self, events) -> None:
        for ev in events:
            if isinstance(ev, FrameError):
                if ev.header_known:
                    self._reply(ev.cmd, ev.seq, ev.kind)
            else:
                self._execute(ev)

    def counter_values(self) -> list[int]:
        st = self.parser.stats
        base = {"RX_FRAMES": st.frames, "BAD_CRC": st.bad_crc, "BAD_LENGTH": st.bad_length,
                "TRUNCATED": st.truncated, "RESYNCS": st.resyncs, "GARBAGE_BYTES": st.garbage_bytes}
        return [(base.get(name, 0) + self.counters[name]) & 0xFFFF_FFFF for name, _ in FW_COUNTERS]

    def clear_counters(self) -> None:
        self.parser.stats = ParserStats()
        self.counters.clear()

    # -- commands ---------------------------------------------------------------------------
    def _execute(self, f: Frame) -> None:
        if f.version != PROTOCOL_VERSION:
            self.counters["BAD_VERSION"] += 1
            return self._reply(f.cmd, f.seq, Status.BAD_VERSION, bytes([PROTOCOL_VERSION]))
        handler = {
            Cmd.IDENTIFY: self._identify, Cmd.READ_MEM: self._read_mem, Cmd.WRITE_MEM: self._write_mem,
            Cmd.LOAD_INPUTS: self._load_inputs, Cmd.RUN: self._run, Cmd.READ_RESULTS: self._read_results,
            Cmd.STATUS: self._status, Cmd.STREAM: lambda p: self._stream(f, p), Cmd.SET_DIVISOR: self._set_divisor,
        }.get(f.cmd)
        if handler is None:
            self.counters["UNKNOWN_COMMAND"] += 1
            return self._reply(f.cmd, f.seq, Status.UNKNOWN_COMMAND)
        status, data = handler(f.payload)
        if status is None:                    # STREAM under way: its answers come as bytes arrive
            return
        if status == Status.BAD_ARG:
            self.counters["BAD_ARG"] += 1
        self._reply(f.cmd, f.seq, status, data)

    def _identify(self, p: bytes):
        if p:
            return Status.BAD_ARG, b""
        c = self.core
        words = [c.read(mm.REG[n]) for n in ("ID", "VERSION", "CAPS0", "CAPS1", "CAPS2", "CAPS3")]
        return Status.OK, struct.pack(REP_IDENTIFY, PROTOCOL_VERSION, FIRMWARE_VERSION, MAX_PAYLOAD, *words)

    # The core's sticky flags around a command's accesses (proto.c: flags_clear / flags_check).
    def _flags_clear(self) -> None:
        c = self.core
        if c.read(mm.REG["STATUS"]) & _CORE_FLAGS:
            irq_en = mm.CTRL["irq_en"].get(c.read(mm.REG["CTRL"]))
            c.write(mm.REG["CTRL"], mm.CTRL.pack(clear_flags=1, irq_en=irq_en))

    def _flags_check(self):
        c = self.core
        st = c.read(mm.REG["STATUS"])
        if st & mm.STATUS.mask("bus_error"):
            self.counters["BUS_ERROR"] += 1
            return Status.BUS_ERROR, struct.pack("<I", c.read(mm.REG["BUS_ADDR"]))
        if st & mm.STATUS.mask("write_refused"):
            return Status.BUSY, b""
        return None

    def _read_mem(self, p: bytes):
        if len(p) != struct.calcsize(REQ_READ_MEM):
            return Status.BAD_ARG, b""
        off, n = struct.unpack(REQ_READ_MEM, p)
        if off & 3 or n > MAX_WORDS or off + 4 * n > mm.CORE_SPAN:
            return Status.BAD_ARG, b""
        self._flags_clear()
        data = b"".join(struct.pack("<I", self.core.read(off + 4 * i)) for i in range(n))
        return self._flags_check() or (Status.OK, data)

    def _write_words(self, p: bytes, base: int, limit: int):
        if len(p) < 4 or (len(p) - 4) % 4:
            return Status.BAD_ARG, b""
        (off,) = struct.unpack(REQ_MEM_OFFSET, p[:4])
        n = (len(p) - 4) // 4
        if off & 3 or off + 4 * n > limit:
            return Status.BAD_ARG, b""
        if self.core.busy and base + off + 4 * n > mm.REG_BLOCK:
            return Status.BUSY, b""      # the core would refuse them (CTRL still works: abort)
        self._flags_clear()
        for i, w in enumerate(struct.unpack(f"<{n}I", p[4:])):
            self._core_write(base + off + 4 * i, w)
        return self._flags_check() or (Status.OK, b"")

    def _core_write(self, off: int, value: int) -> None:
        """A core write, then the interrupt if it raised the core's irq (fw_irq in C)."""
        c = self.core
        c.write(off, value)
        if c.irq:
            c.write(mm.REG["CTRL"], 0)
            if not self.irq_seen:
                self.counters["CORE_IRQ"] += 1
            self.irq_seen = True

    def _write_mem(self, p: bytes):
        return self._write_words(p, 0, mm.CORE_SPAN)

    def _load_inputs(self, p: bytes):
        caps3 = mm.CAPS["CAPS3"].unpack(self.core.read(mm.REG["CAPS3"]))
        size = 4 * caps3["input_banks"] * caps3["input_depth"]
        return self._write_words(p, mm.INPUT_BASE, min(size, mm.CORE_SPAN - mm.INPUT_BASE))

    def _run(self, p: bytes):
        if len(p) != struct.calcsize(REQ_RUN):
            return Status.BAD_ARG, b""
        flags, timeout = struct.unpack(REQ_RUN, p)
        timeout = timeout or DEFAULT_RUN_TIMEOUT_CYCLES
        c = self.core
        if c.busy:
            return Status.BUSY, b""
        use_irq = bool(flags & RUN_FLAG_IRQ)
        self.irq_seen = False
        self._core_write(mm.REG["CTRL"], mm.CTRL.pack(start=1, clear_flags=1, irq_en=use_irq))
        finished = self.irq_seen if use_irq else c.done and not c.busy
        reply = struct.pack(REP_RUN, c.read(mm.REG["STATUS"]), c.read(mm.REG["CYCLES"]),
                            c.cycles if finished else timeout)
        if not finished:   # hung core: after `timeout` cycles the firmware aborts the run
            self.counters["RUN_TIMEOUT"] += 1
            c.write(mm.REG["CTRL"], mm.CTRL.pack(abort=1))
            return Status.TIMEOUT, reply
        return Status.OK, reply

    def _read_results(self, p: bytes):
        if len(p) != struct.calcsize(REQ_READ_RESULTS):
            return Status.BAD_ARG, b""
        cf, nc, sf, ns = struct.unpack(REQ_READ_RESULTS, p)
        caps2 = mm.CAPS["CAPS2"].unpack(self.core.read(mm.REG["CAPS2"]))
        if nc + ns > MAX_WORDS or cf + nc > caps2["max_outputs"] or sf + ns > caps2["state_neurons"]:
            return Status.BAD_ARG, b""
        self._flags_clear()
        words = [self.core.read(mm.COUNT_BASE + 4 * (cf + i)) for i in range(nc)]
        words += [self.core.read(mm.STATE_BASE + 4 * (sf + i)) for i in range(ns)]
        return self._flags_check() or (Status.OK, struct.pack(f"<{len(words)}I", *words))

    def _set_divisor(self, p: bytes):
        if len(p) != struct.calcsize(REQ_SET_DIVISOR):
            return Status.BAD_ARG, b""
        (d,) = struct.unpack(REQ_SET_DIVISOR, p)
        if not MIN_DIVISOR <= d <= MAX_DIVISOR:
            return Status.BAD_ARG, b""
        self.divisor = d        # from after the reply on (nothing to time in the model)
        return Status.OK, b""

    def _stream(self, f: Frame, p: bytes):
        stream = StreamModel.start(self, f.cmd, f.seq, p)
        if isinstance(stream, Status):
            return stream, b""
        self._reply(f.cmd, f.seq, Status.OK)  # go ahead
        self.stream = stream
        return None, b""

    def _close_stream(self) -> None:
        st, self.stream = self.stream, None
        self._reply(st.cmd, st.seq, st.status, st.closing())

    def _status(self, p: bytes):
        if len(p) > 1:
            return Status.BAD_ARG, b""
        values = self.counter_values()
        data = struct.pack(REP_STATUS_HEAD, self.core.read(mm.REG["STATUS"]), self.core.read(mm.REG["CYCLES"]),
                           len(values)) + struct.pack(f"<{len(values)}I", *values)
        if p and p[0] & STATUS_FLAG_CLEAR:
            self.clear_counters()
        return Status.OK, data


class ModelLink:
    """A :class:`Link` whose far end is a :class:`FirmwareModel` (no port, no sleep unless the
    model stays silent)."""

    def __init__(self, model: FirmwareModel | None = None):
        self.model = model or FirmwareModel()
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.model.receive(bytes(data))

    def read(self, n: int, timeout: float) -> bytes:
        out = self.model.out
        if not out and timeout > 0:
            self.model.idle()        # the host is waiting: the firmware's inter-byte timeout fires
        if not out:
            time.sleep(max(0.0, timeout))
            return b""
        data = bytes(out[:n])
        del out[:n]
        return data


__all__ = ["FirmwareModel", "ModelLink"]
