"""Host link protocol: framed, versioned, CRC-checked commands over the SoC's UART.

One module for both ends of the wire (docs/protocol.md is the prose version):

* the wire format: :func:`encode_frame`, the incremental :class:`FrameParser` (resyncs on
  garbage, rejects bad lengths / CRCs, expires truncated frames) and :func:`crc16`;
* the command set, reply status codes and firmware error counters, which
  ``skyspike.apps.fwheader`` writes into ``firmware/include/skyspike_regs.h`` for the C firmware;
* the host side: the :class:`Link` byte-pipe interface (:class:`SerialLink` wraps a pyserial
  port, :class:`PipeLink` a subprocess, :class:`ModelLink` the model below) and
  :class:`HostClient`, which turns commands into frames, matches replies by sequence number,
  times out cleanly and raises :class:`ProtocolError` / :class:`LinkTimeoutError` /
  :class:`RemoteError` / :class:`CoreError`;
* :class:`FirmwareModel`: a pure-Python model of the firmware's command loop (same parser,
  same checks, same counters) over a small emulation of the core's memory map, for tests and
  as an executable specification of firmware/src/proto.c.

Frame (all multi-byte fields little endian)::

    A5 5A | ver | cmd | seq | len_lo len_hi | payload[len] | crc_lo crc_hi

CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) over
ver..payload. A reply has ``cmd | 0x80``, the request's ``seq``, and a payload that starts
with a status byte (:class:`Status`).
"""
from __future__ import annotations

import os
import select
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, runtime_checkable

from skyspike.spec import memmap as mm
from skyspike.spec.config import CONFIGS, CoreConfig

# -- wire format ----------------------------------------------------------------------------
PROTOCOL_VERSION = 1
#: Firmware version reported by IDENTIFY, 8.8.16 bits major.minor.patch like the core's VERSION.
FIRMWARE_VERSION = 0x0001_0000
SYNC = b"\xA5\x5A"
HEADER_SIZE = 7            # sync(2) ver cmd seq len(2)
CRC_SIZE = 2
MAX_PAYLOAD = 1024         # bytes, both directions
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
REPLY_FLAG = 0x80
CRC_POLY = 0x1021
CRC_INIT = 0xFFFF
#: Most words of one READ_MEM / WRITE_MEM / LOAD_INPUTS / READ_RESULTS (status byte + 4n <= MAX_PAYLOAD).
MAX_WORDS = (MAX_PAYLOAD - 4) // 4
#: Byte span of the core's address window on the SoC (the core decodes 16 word-address bits).
CORE_SPAN = mm.CORE_SPAN
#: RUN's wait bound, in CPU clock cycles, when the request says 0.
DEFAULT_RUN_TIMEOUT_CYCLES = 50_000_000

RUN_FLAG_IRQ = 0x01        # wait for the core's interrupt instead of polling STATUS
STATUS_FLAG_CLEAR = 0x01   # STATUS request: clear the error counters after the snapshot


class Cmd(IntEnum):
    IDENTIFY = 0x01
    READ_MEM = 0x02
    WRITE_MEM = 0x03
    LOAD_INPUTS = 0x04
    RUN = 0x05
    READ_RESULTS = 0x06
    STATUS = 0x07


class Status(IntEnum):
    OK = 0
    BAD_CRC = 1
    BAD_LENGTH = 2
    UNKNOWN_COMMAND = 3
    TRUNCATED = 4
    BAD_VERSION = 5
    BAD_ARG = 6
    BUSY = 7
    TIMEOUT = 8
    BUS_ERROR = 9


STATUS_DOC = {
    Status.OK: "done",
    Status.BAD_CRC: "the frame's CRC did not match (nothing was executed)",
    Status.BAD_LENGTH: f"the length field exceeds {MAX_PAYLOAD} (the frame was dropped)",
    Status.UNKNOWN_COMMAND: "no such command",
    Status.TRUNCATED: "the frame stopped before its CRC (inter-byte timeout in the firmware)",
    Status.BAD_VERSION: "unsupported protocol version (the reply's payload carries the firmware's)",
    Status.BAD_ARG: "payload size, alignment or range wrong for the command (nothing was executed)",
    Status.BUSY: "the core is running: RUN and writes outside the register block are refused",
    Status.TIMEOUT: "RUN: the core did not finish in time and was aborted (STATUS, CYCLES, waited follow)",
    Status.BUS_ERROR: "an access hit an unmapped address or wrote a read-only one (the address follows)",
}
#: Status codes that say the request was damaged on the way: worth a retry.
TRANSPORT_ERRORS = frozenset({Status.BAD_CRC, Status.BAD_LENGTH, Status.TRUNCATED})

#: The firmware's error / event counters, in the order of the STATUS reply.
FW_COUNTERS = [
    ("RX_FRAMES", "frames received with a good CRC"),
    ("BAD_CRC", "frames rejected for their CRC"),
    ("BAD_LENGTH", "headers whose length field exceeds MAX_PAYLOAD"),
    ("UNKNOWN_COMMAND", "good frames with an unknown command"),
    ("TRUNCATED", "frames cut short (inter-byte timeout), with or without a readable header"),
    ("RESYNCS", "times the parser discarded bytes to find the next SYNC"),
    ("GARBAGE_BYTES", "bytes discarded outside accepted frames (includes rejected frames' bytes)"),
    ("BAD_VERSION", "good frames with another protocol version"),
    ("BAD_ARG", "commands refused for their payload"),
    ("UART_OVERRUN", "UART receive overruns (STATUS bit 2)"),
    ("UART_FRAMING", "UART framing errors (STATUS bit 3)"),
    ("TX_TIMEOUT", "reply bytes abandoned because tx_ready stayed low"),
    ("BUS_ERROR", "commands that hit an unmapped or read-only address (core or SoC bus error)"),
    ("CORE_IRQ", "core interrupts taken"),
    ("RUN_TIMEOUT", "RUN commands that timed out"),
    ("TRAPS", "CPU traps (illegal instruction, misaligned access): firmware restarted"),
]
COUNTER_INDEX = {name: i for i, (name, _) in enumerate(FW_COUNTERS)}

# Payload layouts (struct formats, little endian). Requests:
REQ_READ_MEM = "<IH"          # byte offset, word count
REQ_MEM_OFFSET = "<I"         # WRITE_MEM / LOAD_INPUTS: byte offset, then the words
REQ_RUN = "<BI"               # flags, timeout in CPU cycles (0 = default)
REQ_READ_RESULTS = "<HHHH"    # first count, n counts, first state entry, n state entries
# Replies (after the status byte):
REP_IDENTIFY = "<BIH6I"       # protocol, firmware version, max payload, ID, VERSION, CAPS0..3
REP_RUN = "<III"              # core STATUS, CYCLES, CPU cycles waited
REP_STATUS_HEAD = "<IIB"      # core STATUS, CYCLES, number of counters (then that many u32)

# Core register fields the firmware and the host decode (docs/memory-map.md).
# The core's CTRL/STATUS bits (skyspike.spec.memmap is their one definition).
CTRL_START = mm.CTRL.mask("start")
CTRL_ABORT = mm.CTRL.mask("abort")
CTRL_IRQ_EN = mm.CTRL.mask("irq_en")
CTRL_CLEAR_FLAGS = mm.CTRL.mask("clear_flags")
STATUS_BUSY = mm.STATUS.mask("busy")
STATUS_DONE = mm.STATUS.mask("done")
STATUS_BUS_ERROR = mm.STATUS.mask("bus_error")
STATUS_WRITE_REFUSED = mm.STATUS.mask("write_refused")
STATUS_ERROR_SHIFT = mm.STATUS["error"].lsb
STATUS_LAYER_SHIFT = mm.STATUS["error_layer"].lsb

REG_BLOCK = mm.REG_BLOCK


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE; ``crc16(b"123456789") == 0x29B1``."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def encode_frame(cmd: int, seq: int, payload: bytes = b"", version: int = PROTOCOL_VERSION) -> bytes:
    """One frame. Refuses (ValueError) what the other end would reject as BAD_LENGTH."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD={MAX_PAYLOAD}")
    body = bytes([version & 0xFF, cmd & 0xFF, seq & 0xFF]) + struct.pack("<H", len(payload)) + bytes(payload)
    return SYNC + body + struct.pack("<H", crc16(body))


@dataclass(frozen=True)
class Frame:
    version: int
    cmd: int
    seq: int
    payload: bytes

    @property
    def is_reply(self) -> bool:
        return bool(self.cmd & REPLY_FLAG)


@dataclass(frozen=True)
class FrameError:
    """A rejected frame. ``cmd``/``seq``/``version`` are None when its header was not read."""
    kind: Status      # BAD_CRC, BAD_LENGTH or TRUNCATED
    version: int | None = None
    cmd: int | None = None
    seq: int | None = None

    @property
    def header_known(self) -> bool:
        return self.cmd is not None


@dataclass
class ParserStats:
    frames: int = 0
    bad_crc: int = 0
    bad_length: int = 0
    truncated: int = 0
    resyncs: int = 0
    garbage_bytes: int = 0


class FrameParser:
    """Incremental frame decoder; the firmware's parser (firmware/src/proto.c) does the same.

    ``feed(data)`` returns the good frames completed by ``data``; ``feed_events(data)`` also
    returns :class:`FrameError` records for rejected ones, in stream order. The rules:

    * bytes before a SYNC (A5 5A) are discarded (``resyncs`` counts runs of discarded bytes:
      one per run, however the bytes were chunked; a confirmed SYNC ends a run);
    * a length above MAX_PAYLOAD rejects the header (BAD_LENGTH), a CRC mismatch the frame
      (BAD_CRC); either way only the first SYNC byte is dropped and the search restarts at
      the next byte, so a real frame hidden behind a false SYNC in garbage is still found;
    * :meth:`expire` (the firmware's inter-byte timeout; the host calls it when a read times
      out) declares the buffered partial frame TRUNCATED and rescans what followed its SYNC.
    """

    def __init__(self) -> None:
        self.buf = bytearray()
        self.stats = ParserStats()
        self._discarding = False    # inside a run of discarded bytes (one resync per run)

    def reset(self) -> None:
        self.buf.clear()

    @property
    def pending(self) -> int:
        return len(self.buf)

    def feed(self, data: bytes) -> list[Frame]:
        return [e for e in self.feed_events(data) if isinstance(e, Frame)]

    def feed_events(self, data: bytes) -> list[Frame | FrameError]:
        self.buf += data
        return self._scan(stale=False)

    def expire(self) -> list[Frame | FrameError]:
        """No more bytes are coming for what is buffered: resolve it completely."""
        return self._scan(stale=True)

    def _drop(self, n: int) -> None:
        del self.buf[:n]

    def _scan(self, stale: bool) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        buf = self.buf
        st = self.stats
        while buf:
            # 1. align on SYNC
            skip = 0
            while skip < len(buf):
                if buf[skip] == SYNC[0] and (skip + 1 == len(buf) or buf[skip + 1] == SYNC[1]):
                    break
                skip += 1
            if skip:
                st.garbage_bytes += skip
                st.resyncs += not self._discarding
                self._discarding = True
                self._drop(skip)
                continue
            if len(buf) >= 2:                  # a confirmed SYNC ends a run of garbage
                self._discarding = False
            # 2. header
            if len(buf) < HEADER_SIZE:
                if stale:                      # truncated before the header was complete
                    st.truncated += 1
                    st.garbage_bytes += 1
                    self._drop(1)
                    continue
                break
            ver, cmd, seq = buf[2], buf[3], buf[4]
            length = buf[5] | buf[6] << 8
            if length > MAX_PAYLOAD:
                st.bad_length += 1
                st.garbage_bytes += 1
                out.append(FrameError(Status.BAD_LENGTH, ver, cmd, seq))
                self._drop(1)
                continue
            end = HEADER_SIZE + length + CRC_SIZE
            if len(buf) < end:
                if stale:
                    st.truncated += 1
                    st.garbage_bytes += 1
                    out.append(FrameError(Status.TRUNCATED, ver, cmd, seq))
                    self._drop(1)
                    continue
                break
            # 3. CRC
            got = buf[end - 2] | buf[end - 1] << 8
            if crc16(bytes(buf[2:end - 2])) != got:
                st.bad_crc += 1
                st.garbage_bytes += 1
                out.append(FrameError(Status.BAD_CRC, ver, cmd, seq))
                self._drop(1)
                continue
            st.frames += 1
            out.append(Frame(ver, cmd, seq, bytes(buf[HEADER_SIZE:end - 2])))
            self._drop(end)
        return out


# -- exceptions -----------------------------------------------------------------------------
class ProtocolError(Exception):
    """The link misbehaved: an unexpected or malformed reply."""


class LinkTimeoutError(ProtocolError, TimeoutError):
    """No (complete) reply arrived in time; the message says what was awaited."""


class RemoteError(ProtocolError):
    """The firmware refused the command; ``code`` is its :class:`Status`."""

    def __init__(self, command: str, code: int, detail: str = ""):
        self.command = command
        self.code = Status(code) if code in Status._value2member_map_ else code
        name = self.code.name if isinstance(self.code, Status) else f"status {code}"
        doc = STATUS_DOC.get(self.code, "unknown status code")
        super().__init__(f"{command}: firmware replied {name} ({doc}){': ' + detail if detail else ''}")


class CoreError(Exception):
    """RUN finished but the core flagged a descriptor error (memmap.ERRORS)."""

    def __init__(self, result: RunResult):
        self.result = result
        name, doc = mm.ERRORS.get(result.error, (f"code {result.error}", "unknown"))
        super().__init__(f"core error {result.error} {name} in layer {result.error_layer}: {doc}")


# -- links ----------------------------------------------------------------------------------
@runtime_checkable
class Link(Protocol):
    """A byte pipe to the firmware's UART.

    ``read(n, timeout)`` returns 1..n bytes as soon as at least one is available, or ``b""``
    once ``timeout`` seconds pass without any (pyserial-like, but never waits for all ``n``).
    """

    def write(self, data: bytes) -> None: ...

    def read(self, n: int, timeout: float) -> bytes: ...


class SerialLink:
    """A :class:`Link` over a pyserial port (``serial.Serial`` or ``serial.serial_for_url``)."""

    def __init__(self, port) -> None:
        self.port = port

    @classmethod
    def open(cls, device: str, baudrate: int = 115200) -> SerialLink:
        import serial  # pyserial: only needed for real hardware

        return cls(serial.serial_for_url(device, baudrate=baudrate, timeout=0))

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def read(self, n: int, timeout: float) -> bytes:
        self.port.timeout = max(0.0, timeout)
        first = self.port.read(1)           # blocks up to the timeout for the first byte
        if not first or n <= 1:
            return first
        self.port.timeout = 0               # then whatever is already buffered
        waiting = self.port.in_waiting
        return first + (self.port.read(min(n - 1, waiting)) if waiting else b"")

    def close(self) -> None:
        self.port.close()


class PipeLink:
    """A :class:`Link` over a pair of file descriptors (e.g. a subprocess's stdin/stdout)."""

    def __init__(self, wfd: int, rfd: int) -> None:
        self.wfd, self.rfd = wfd, rfd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.wfd, view):]

    def read(self, n: int, timeout: float) -> bytes:
        ready, _, _ = select.select([self.rfd], [], [], max(0.0, timeout))
        return os.read(self.rfd, n) if ready else b""


# -- host client ----------------------------------------------------------------------------
class _RawCmd(int):
    """A command code outside :class:`Cmd` (tests, future firmware)."""

    @property
    def name(self) -> str:
        return f"command {int(self):#04x}"


@dataclass(frozen=True)
class Identity:
    protocol: int
    firmware_version: int
    max_payload: int
    core_id: int
    core_version: int
    caps: tuple[int, int, int, int]

    @property
    def core_ok(self) -> bool:
        return self.core_id == mm.CORE_ID


@dataclass(frozen=True)
class RunResult:
    status: int     # core STATUS
    cycles: int     # core CYCLES
    waited: int     # CPU cycles the firmware waited

    @property
    def busy(self) -> bool:
        return bool(self.status & STATUS_BUSY)

    @property
    def done(self) -> bool:
        return bool(self.status & STATUS_DONE)

    @property
    def error(self) -> int:
        return (self.status >> STATUS_ERROR_SHIFT) & 0xFF

    @property
    def error_layer(self) -> int:
        return (self.status >> STATUS_LAYER_SHIFT) & 0xFF


@dataclass(frozen=True)
class Results:
    counts: list[int]
    state: list[int]    # raw state words: V[15:0] signed, armed[16], fired[17]

    @property
    def membranes(self) -> list[int]:
        return [((w & 0xFFFF) ^ 0x8000) - 0x8000 for w in self.state]


@dataclass(frozen=True)
class FirmwareStatus:
    core_status: int
    core_cycles: int
    counters: dict[str, int]


class HostClient:
    """Commands to the firmware over a :class:`Link`.

    ``timeout`` bounds the wait for each reply (seconds); ``retries`` re-sends a request
    (with a new sequence number) after a timeout or a transport error reply (BAD_CRC,
    BAD_LENGTH, TRUNCATED) -- RUN is never re-sent. ``clock_hz`` is the CPU clock, used to
    turn RUN's cycle timeout into a host wait.
    """

    def __init__(self, link: Link, *, timeout: float = 1.0, retries: int = 1, clock_hz: float = 10e6,
                 interbyte: float = 0.1):
        self.link = link
        self.timeout = timeout
        self.retries = retries
        self.clock_hz = clock_hz
        self.interbyte = interbyte  # quiet time after which a partial frame is given up (expire)
        self.parser = FrameParser()
        self.seq = 0
        self.stray_frames = 0   # replies that matched no outstanding request
        self._backlog: list[Frame | FrameError] = []

    # -- transport --------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def _await(self, cmd: Cmd, seq: int, wait: float) -> Frame:
        deadline = time.monotonic() + wait
        received = 0
        while True:
            for item in self._backlog:
                if isinstance(item, Frame) and item.cmd == (cmd | REPLY_FLAG) and item.seq == seq:
                    self._backlog.clear()
                    return item
                self.stray_frames += isinstance(item, Frame)
            self._backlog.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                self.parser.expire()   # whatever partial frame is buffered will never complete
                raise LinkTimeoutError(
                    f"no reply to {cmd.name} (seq {seq}) within {wait:.3f} s: received {received} bytes "
                    f"({self.parser.stats.truncated} truncated frames, {self.stray_frames} unrelated "
                    f"frames so far)")
            data = self.link.read(MAX_FRAME, min(left, self.interbyte) if self.parser.pending else left)
            received += len(data)
            if data:
                self._backlog.extend(self.parser.feed(data))
            elif self.parser.pending:
                # quiet inside a frame: like the firmware's inter-byte timeout, give it up and
                # rescan (a reply hidden behind a false SYNC in line noise is found)
                self._backlog.extend(self.parser.expire())

    def request(self, cmd: int, payload: bytes = b"", *, wait: float | None = None,
                retry: bool = True, version: int = PROTOCOL_VERSION) -> bytes:
        """Send ``cmd`` and return the reply's data (after the OK status byte)."""
        cmd = Cmd(cmd) if cmd in Cmd._value2member_map_ else _RawCmd(cmd)
        wait = self.timeout if wait is None else wait
        attempts = 1 + (self.retries if retry else 0)
        last: Exception | None = None
        for _ in range(attempts):
            seq = self._next_seq()
            self._backlog = []
            self.link.write(encode_frame(cmd, seq, payload, version))
            try:
                reply = self._await(cmd, seq, wait)
            except LinkTimeoutError as e:
                last = e
                continue
            # (a BAD_VERSION reply comes in the firmware's own version)
            if reply.version != PROTOCOL_VERSION and reply.payload[:1] != bytes([Status.BAD_VERSION]):
                raise ProtocolError(f"{cmd.name}: reply has protocol version {reply.version}, "
                                    f"expected {PROTOCOL_VERSION}")
            if not reply.payload:
                raise ProtocolError(f"{cmd.name}: reply without a status byte")
            status = reply.payload[0]
            if status == Status.OK:
                return reply.payload[1:]
            data = reply.payload[1:]
            detail = data.hex()
            if status == Status.BUS_ERROR and len(data) == 4:
                detail = f"address {struct.unpack('<I', data)[0]:#x}"
            elif status == Status.BAD_VERSION and len(data) == 1:
                detail = f"the firmware speaks version {data[0]}"
            err = RemoteError(cmd.name, status, detail)
            err.payload = data
            if status in TRANSPORT_ERRORS:
                last = err
                continue
            raise err
        assert last is not None
        raise last

    @staticmethod
    def _expect(cmd: Cmd, data: bytes, size: int) -> bytes:
        if len(data) != size:
            raise ProtocolError(f"{cmd.name}: reply carries {len(data)} bytes, expected {size}")
        return data

    # -- commands ---------------------------------------------------------------------------
    def identify(self, *, check: bool = True) -> Identity:
        data = self._expect(Cmd.IDENTIFY, self.request(Cmd.IDENTIFY), struct.calcsize(REP_IDENTIFY))
        proto, fw, maxp, cid, cver, *caps = struct.unpack(REP_IDENTIFY, data)
        ident = Identity(proto, fw, maxp, cid, cver, tuple(caps))
        if check and not ident.core_ok:
            raise ProtocolError(f"IDENTIFY: core ID {cid:#010x}, expected {mm.CORE_ID:#010x} ('SKYS')")
        return ident

    def read_mem(self, offset: int, count: int) -> list[int]:
        """``count`` words from core byte ``offset`` (split into MAX_WORDS requests)."""
        words: list[int] = []
        while count > 0:
            n = min(count, MAX_WORDS)
            data = self._expect(Cmd.READ_MEM, self.request(Cmd.READ_MEM, struct.pack(REQ_READ_MEM, offset, n)), 4 * n)
            words += struct.unpack(f"<{n}I", data)
            offset += 4 * n
            count -= n
        return words

    def _write(self, cmd: Cmd, offset: int, words) -> None:
        words = [int(w) & 0xFFFF_FFFF for w in words]
        for i in range(0, len(words), MAX_WORDS):
            chunk = words[i:i + MAX_WORDS]
            payload = struct.pack(REQ_MEM_OFFSET, offset + 4 * i) + struct.pack(f"<{len(chunk)}I", *chunk)
            self._expect(cmd, self.request(cmd, payload), 0)

    def write_mem(self, offset: int, words) -> None:
        """Write ``words`` at core byte ``offset``."""
        self._write(Cmd.WRITE_MEM, offset, words)

    def load_inputs(self, words, offset: int = 0) -> None:
        """Write ``words`` into the input buffer at byte ``offset`` within it (bounds checked
        by the firmware against CAPS3)."""
        self._write(Cmd.LOAD_INPUTS, offset, words)

    def run(self, *, timeout_cycles: int = 20_000_000, use_irq: bool = True,
            wait: float | None = None, check: bool = True) -> RunResult:
        """Start an inference and wait for it (``use_irq``: the firmware waits for the core's
        interrupt, else it polls STATUS). Raises RemoteError(TIMEOUT) when the core does not
        finish within ``timeout_cycles`` CPU cycles -- the firmware then aborts the run; the
        error's ``result`` holds STATUS/CYCLES from before the abort -- and CoreError when
        ``check`` and the core flagged a descriptor error."""
        if not 0 < timeout_cycles <= 0xFFFF_FFFF:
            raise ValueError("timeout_cycles must be 1 .. 2**32-1")
        if wait is None:
            wait = self.timeout + timeout_cycles / self.clock_hz
        payload = struct.pack(REQ_RUN, RUN_FLAG_IRQ if use_irq else 0, timeout_cycles)
        try:
            data = self.request(Cmd.RUN, payload, wait=wait, retry=False)
        except RemoteError as e:
            if e.code == Status.TIMEOUT and len(getattr(e, "payload", b"")) == struct.calcsize(REP_RUN):
                e.result = RunResult(*struct.unpack(REP_RUN, e.payload))
            raise
        result = RunResult(*struct.unpack(REP_RUN, self._expect(Cmd.RUN, data, struct.calcsize(REP_RUN))))
        if check and result.error:
            raise CoreError(result)
        return result

    def read_results(self, n_counts: int, *, count_first: int = 0, state_first: int = 0,
                     n_state: int = 0) -> Results:
        """Spike counts ``count_first .. +n_counts`` and state words ``state_first .. +n_state``."""
        counts: list[int] = []
        state: list[int] = []
        while n_counts > 0 or n_state > 0:
            nc = min(n_counts, MAX_WORDS)
            ns = min(n_state, MAX_WORDS - nc)
            req = struct.pack(REQ_READ_RESULTS, count_first, nc, state_first, ns)
            data = self._expect(Cmd.READ_RESULTS, self.request(Cmd.READ_RESULTS, req), 4 * (nc + ns))
            words = struct.unpack(f"<{nc + ns}I", data)
            counts += words[:nc]
            state += words[nc:]
            count_first, n_counts = count_first + nc, n_counts - nc
            state_first, n_state = state_first + ns, n_state - ns
        return Results(counts, state)

    def status(self, *, clear: bool = False) -> FirmwareStatus:
        data = self.request(Cmd.STATUS, bytes([STATUS_FLAG_CLEAR if clear else 0]))
        head = struct.calcsize(REP_STATUS_HEAD)
        if len(data) < head:
            raise ProtocolError(f"STATUS: reply of {len(data)} bytes is shorter than {head}")
        st, cyc, n = struct.unpack(REP_STATUS_HEAD, data[:head])
        values = struct.unpack(f"<{n}I", self._expect(Cmd.STATUS, data[head:], 4 * n))
        names = [name for name, _ in FW_COUNTERS] + [f"COUNTER{i}" for i in range(len(FW_COUNTERS), n)]
        return FirmwareStatus(st, cyc, dict(zip(names, values)))


# -- firmware model -------------------------------------------------------------------------
class CoreModel:
    """The core's memory map as the firmware sees it (hw/skyspike_hw/core.py): registers,
    descriptors, counts, state, input and weight SRAMs, the sticky bus-error / write-refused
    flags and BUS_ADDR. ``run`` completes instantly by default (``on_run`` may fill in
    counts/state and return the cycle count); ``hang = True`` leaves it busy until aborted.
    firmware/host/hal_host.c emulates the same core for the C build."""

    def __init__(self, cfg: CoreConfig | None = None, on_run: Callable[[CoreModel], int] | None = None):
        self.cfg = cfg or CONFIGS["chip"]
        self.on_run = on_run
        self.hang = False
        self.regions = mm.region_sizes(self.cfg)
        self.mem: dict[int, int] = {}          # descriptors, inputs, weights
        self.counts = [0] * self.cfg.max_outputs
        self.state = [0] * self.cfg.state_neurons
        self.status = 0                         # busy, done, error, layer (flags kept apart)
        self.bus_error = False
        self.write_refused = False
        self.bus_addr = 0
        self.cycles = 0
        self.net = 0
        self.irq_en = False
        c = self.cfg
        self.caps = {
            "ID": mm.CORE_ID, "VERSION": mm.CORE_VERSION,
            "CAPS0": c.banks | c.max_slots << 8 | c.update_lanes << 16 | c.max_layers << 24,
            "CAPS1": c.max_neurons | c.max_inputs << 16,
            "CAPS2": c.state_neurons | c.max_outputs << 16,
            "CAPS3": c.bank_depth | c.input_banks << 16 | (c.input_depth // 256) << 24,
        }
        self._reg_names = {r.offset: r.name for r in mm.REGS}
        self._reg_writable = {r.offset for r in mm.REGS if "w" in r.access}

    def _region(self, off: int) -> str | None:
        for name, (base, size) in self.regions.items():
            if base <= off < base + size:
                return name
        return None

    @property
    def busy(self) -> bool:
        return bool(self.status & STATUS_BUSY)

    @property
    def irq(self) -> bool:
        return self.irq_en and bool(self.status & STATUS_DONE)

    def _flag(self, off: int, refused: bool = False) -> None:
        self.bus_addr = off
        if refused:
            self.write_refused = True
        else:
            self.bus_error = True

    def read(self, off: int) -> int:
        region = self._region(off)
        if region == "regs":
            name = self._reg_names.get(off)
            if name is None:
                self._flag(off)
                return 0
            if name in self.caps:
                return self.caps[name]
            return {"STATUS": self.status | self.bus_error << 2 | self.write_refused << 3,
                    "NET": self.net, "CYCLES": self.cycles, "CTRL": int(self.irq_en) << 2,
                    "BUS_ADDR": self.bus_addr}[name]
        if region == "counts":
            return self.counts[(off - mm.COUNT_BASE) >> 2]
        if region == "state":
            return self.state[(off - mm.STATE_BASE) >> 2]
        if region in ("descriptors", "inputs", "weights"):
            return self.mem.get(off, 0)
        self._flag(off)
        return 0

    def write(self, off: int, value: int) -> None:
        region = self._region(off)
        if region is None or region in ("counts", "state") or \
                (region == "regs" and off not in self._reg_writable):
            self._flag(off)
        elif off == mm.REG["CTRL"]:
            self.irq_en = bool(value & CTRL_IRQ_EN)
            if value & (CTRL_CLEAR_FLAGS | CTRL_ABORT):
                self.bus_error = self.write_refused = False
            if value & CTRL_ABORT:
                self.status = 0
            elif value & CTRL_START and not self.busy:
                self._start()
        elif self.busy:        # NET, descriptors, inputs, weights are frozen while running
            self._flag(off, refused=True)
        elif off == mm.REG["NET"]:
            self.net = value & 0xFFFF
        else:
            self.mem[off] = value & 0xFFFF_FFFF

    def _start(self) -> None:
        self.counts = [0] * self.cfg.max_outputs
        if self.hang:
            self.status, self.cycles = STATUS_BUSY, 0
            return
        n_layers = self.net & 0xFF
        if n_layers == 0 or n_layers > self.cfg.max_layers:
            self.status = STATUS_DONE | mm.ERROR_CODE["BAD_LAYER_COUNT"] << STATUS_ERROR_SHIFT
            self.cycles = 2
            return
        if self.on_run:
            self.cycles = self.on_run(self)
        else:  # a deterministic stand-in for an inference (firmware/host/hal_host.c does the same)
            steps = self.net >> 8
            self.counts = [(i * 3 + n_layers + steps) & 0xFF for i in range(self.cfg.max_outputs)]
            self.state = [((e * 37 + steps) & 0xFFFF) | (e & 1) << 16 for e in range(self.cfg.state_neurons)]
            self.cycles = 100 * n_layers * max(1, steps)
        self.status = STATUS_DONE


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

    # -- transport --------------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        self._handle_events(self.parser.feed_events(data))

    def idle(self) -> None:
        if self.parser.pending:
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
            Cmd.STATUS: self._status,
        }.get(f.cmd)
        if handler is None:
            self.counters["UNKNOWN_COMMAND"] += 1
            return self._reply(f.cmd, f.seq, Status.UNKNOWN_COMMAND)
        status, data = handler(f.payload)
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
        if c.read(mm.REG["STATUS"]) & (STATUS_BUS_ERROR | STATUS_WRITE_REFUSED):
            c.write(mm.REG["CTRL"], CTRL_CLEAR_FLAGS | (c.read(mm.REG["CTRL"]) & CTRL_IRQ_EN))

    def _flags_check(self):
        c = self.core
        st = c.read(mm.REG["STATUS"])
        if st & STATUS_BUS_ERROR:
            self.counters["BUS_ERROR"] += 1
            return Status.BUS_ERROR, struct.pack("<I", c.read(mm.REG["BUS_ADDR"]))
        if st & STATUS_WRITE_REFUSED:
            return Status.BUSY, b""
        return None

    def _read_mem(self, p: bytes):
        if len(p) != struct.calcsize(REQ_READ_MEM):
            return Status.BAD_ARG, b""
        off, n = struct.unpack(REQ_READ_MEM, p)
        if off & 3 or n > MAX_WORDS or off + 4 * n > CORE_SPAN:
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
        if self.core.busy and base + off + 4 * n > REG_BLOCK:
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
        return self._write_words(p, 0, CORE_SPAN)

    def _load_inputs(self, p: bytes):
        caps3 = self.core.read(mm.REG["CAPS3"])
        size = 4 * ((caps3 >> 16) & 0xFF) * (((caps3 >> 24) & 0xFF) * 256)
        return self._write_words(p, mm.INPUT_BASE, min(size, CORE_SPAN - mm.INPUT_BASE))

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
        self._core_write(mm.REG["CTRL"], CTRL_START | CTRL_CLEAR_FLAGS | (CTRL_IRQ_EN if use_irq else 0))
        finished = self.irq_seen if use_irq else (c.status & (STATUS_BUSY | STATUS_DONE)) == STATUS_DONE
        reply = struct.pack(REP_RUN, c.read(mm.REG["STATUS"]), c.read(mm.REG["CYCLES"]),
                            c.cycles if finished else timeout)
        if not finished:   # hung core: after `timeout` cycles the firmware aborts the run
            self.counters["RUN_TIMEOUT"] += 1
            c.write(mm.REG["CTRL"], CTRL_ABORT)
            return Status.TIMEOUT, reply
        return Status.OK, reply

    def _read_results(self, p: bytes):
        if len(p) != struct.calcsize(REQ_READ_RESULTS):
            return Status.BAD_ARG, b""
        cf, nc, sf, ns = struct.unpack(REQ_READ_RESULTS, p)
        caps2 = self.core.read(mm.REG["CAPS2"])
        if nc + ns > MAX_WORDS or cf + nc > caps2 >> 16 or sf + ns > caps2 & 0xFFFF:
            return Status.BAD_ARG, b""
        self._flags_clear()
        words = [self.core.read(mm.COUNT_BASE + 4 * (cf + i)) for i in range(nc)]
        words += [self.core.read(mm.STATE_BASE + 4 * (sf + i)) for i in range(ns)]
        return self._flags_check() or (Status.OK, struct.pack(f"<{len(words)}I", *words))

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
        if not out:
            self.model.idle()        # the host is waiting: the firmware's inter-byte timeout fires
        if not out:
            time.sleep(max(0.0, timeout))
            return b""
        data = bytes(out[:n])
        del out[:n]
        return data

