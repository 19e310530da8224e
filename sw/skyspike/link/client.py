"""The host side of the link: :class:`HostClient` turns commands into frames, matches
replies by sequence number, retries damaged requests, times out cleanly and raises
:class:`ProtocolError` / :class:`LinkTimeoutError` / :class:`RemoteError` /
:class:`CoreError`; and the decoded replies (:class:`Identity`, :class:`RunResult`,
:class:`Results`, :class:`FirmwareStatus`)."""
from __future__ import annotations

import numbers
import struct
import time
from dataclasses import dataclass

import numpy as np

from skyspike.errors import CoreRunError, InputError, LinkError
from skyspike.spec import memmap as mm
from skyspike.chip.readback import state_membranes
from skyspike.link.commands import (FW_COUNTERS, MAX_WORDS, PROTOCOL_VERSION, REP_IDENTIFY, REP_RUN,
                                    REP_STATUS_HEAD, REPLY_FLAG, REQ_MEM_OFFSET, REQ_READ_MEM, REQ_READ_RESULTS,
                                    REQ_RUN, REQ_SET_DIVISOR, RUN_FLAG_IRQ, STATUS_DOC, STATUS_FLAG_CLEAR, TRANSPORT_ERRORS, Cmd,
                                    Status)
from skyspike.link.frames import MAX_FRAME, Frame, FrameError, FrameParser, encode_frame
from skyspike.link.links import Link
from skyspike.link.streaming import (MAX_STREAM_IMAGES, AnswerParser, StreamGeometry, StreamResult, answer_size,
                                     decode_answers, stream_flags, stream_request)


class ProtocolError(LinkError):
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


class CoreError(CoreRunError):
    """RUN finished but the core flagged a descriptor error (memmap.ERRORS)."""

    def __init__(self, result: RunResult):
        self.result = result
        name, doc = mm.ERRORS.get(result.error, (f"code {result.error}", "unknown"))
        super().__init__(f"core error {result.error} {name} in layer {result.error_layer}: {doc}")


class StreamRunError(CoreRunError):
    """Some images of a stream failed on the core (their class is -1); ``result`` holds the
    stream's answers."""

    def __init__(self, result: StreamResult, images: int):
        self.result = result
        st = result.first_status
        err = mm.STATUS["error"].get(st)
        if err:
            name, doc = mm.ERRORS.get(err, (f"code {err}", "unknown"))
            why = f"core error {err} {name} in layer {mm.STATUS['error_layer'].get(st)}: {doc}"
        elif st & mm.STATUS.mask("busy"):
            why = "the run did not finish within the timeout and was aborted"
        else:
            why = "the core refused the image's input writes (the stream's geometry does not fit the network)"
        super().__init__(f"{result.failed} of {images} streamed images failed; the first: {why}")


def _is_int(v) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_span(offset, count, lo: int, hi: int) -> None:
    """``count`` words at byte ``offset`` lie word-aligned within ``lo .. hi``, else InputError."""
    if not _is_int(offset) or not _is_int(count):
        raise InputError(f"offset={offset!r} and count={count!r} must be integers")
    if offset % 4 or not lo <= offset or count < 0 or offset + 4 * count > hi:
        raise InputError(f"{count} words at byte offset {offset:#x} do not fit {lo:#x}..{hi:#x} word-aligned")


def check_words(words) -> list[int]:
    """``words`` as a list of ints that fit 32 bits (unsigned), else InputError (never masked)."""
    out = []
    for w in words:
        if not _is_int(w) or not 0 <= int(w) <= 0xFFFF_FFFF:
            raise InputError(f"word {w!r} is not an unsigned 32-bit integer")
        out.append(int(w))
    return out


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
        return bool(mm.STATUS["busy"].get(self.status))

    @property
    def done(self) -> bool:
        return bool(mm.STATUS["done"].get(self.status))

    @property
    def error(self) -> int:
        return mm.STATUS["error"].get(self.status)

    @property
    def error_layer(self) -> int:
        return mm.STATUS["error_layer"].get(self.status)


@dataclass(frozen=True)
class Results:
    counts: list[int]
    state: list[int]    # raw neuron-state words (skyspike.spec.layouts.STATE_ENTRY)

    @property
    def membranes(self) -> list[int]:
        return state_membranes(self.state).tolist()


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

    def _await(self, cmd: Cmd, seq: int, wait: float, settle: bool = False) -> Frame:
        """The reply to (cmd, seq). ``settle``: a transport-error reply (BAD_CRC, BAD_LENGTH,
        TRUNCATED) is only taken if no other reply with the same header follows before the
        deadline: line noise can form a false header with the next request's command and
        sequence number, whose error reply then arrives before the real request's reply."""
        deadline = time.monotonic() + wait
        received = 0
        provisional: Frame | None = None
        while True:
            for item in self._backlog:
                if isinstance(item, Frame) and item.cmd == (cmd | REPLY_FLAG) and item.seq == seq:
                    if settle and item.payload[:1] and item.payload[0] in TRANSPORT_ERRORS:
                        provisional = provisional or item
                        continue
                    self._backlog.clear()
                    return item
                self.stray_frames += isinstance(item, Frame)
            self._backlog.clear()
            left = deadline - time.monotonic()
            if left <= 0 and provisional is not None:
                return provisional
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
        # A request that must not run twice (RUN) is still re-sent after a transport-error
        # reply: the firmware did not execute a frame it could not read.
        attempts = 1 + (self.retries if retry else 1)
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt and not retry and not (isinstance(last, RemoteError) and last.code in TRANSPORT_ERRORS):
                break
            seq = self._next_seq()
            self._backlog = []
            self.link.write(encode_frame(cmd, seq, payload, version))
            try:
                reply = self._await(cmd, seq, wait, settle=not retry)
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
        check_span(offset, count, 0, mm.CORE_SPAN)
        words: list[int] = []
        while count > 0:
            n = min(count, MAX_WORDS)
            data = self._expect(Cmd.READ_MEM, self.request(Cmd.READ_MEM, struct.pack(REQ_READ_MEM, offset, n)), 4 * n)
            words += struct.unpack(f"<{n}I", data)
            offset += 4 * n
            count -= n
        return words

    def _write(self, cmd: Cmd, offset: int, words, span: int) -> None:
        words = check_words(words)
        check_span(offset, len(words), 0, span)
        for i in range(0, len(words), MAX_WORDS):
            chunk = words[i:i + MAX_WORDS]
            payload = struct.pack(REQ_MEM_OFFSET, offset + 4 * i) + struct.pack(f"<{len(chunk)}I", *chunk)
            self._expect(cmd, self.request(cmd, payload), 0)

    def write_mem(self, offset: int, words) -> None:
        """Write ``words`` at core byte ``offset``."""
        self._write(Cmd.WRITE_MEM, offset, words, mm.CORE_SPAN)

    def load_inputs(self, words, offset: int = 0) -> None:
        """Write ``words`` into the input buffer at byte ``offset`` within it (bounds checked
        by the firmware against CAPS3)."""
        self._write(Cmd.LOAD_INPUTS, offset, words, mm.CORE_SPAN - mm.INPUT_BASE)

    def run(self, *, timeout_cycles: int = 20_000_000, use_irq: bool = True,
            wait: float | None = None, check: bool = True) -> RunResult:
        """Start an inference and wait for it (``use_irq``: the firmware waits for the core's
        interrupt, else it polls STATUS). Raises RemoteError(TIMEOUT) when the core does not
        finish within ``timeout_cycles`` CPU cycles -- the firmware then aborts the run; the
        error's ``result`` holds STATUS/CYCLES from before the abort -- and CoreError when
        ``check`` and the core flagged a descriptor error."""
        if not _is_int(timeout_cycles) or not 0 < timeout_cycles <= 0xFFFF_FFFF:
            raise InputError(f"timeout_cycles={timeout_cycles!r} must be an integer in 1 .. 2**32-1")
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
        for name, v in (("n_counts", n_counts), ("count_first", count_first), ("state_first", state_first),
                        ("n_state", n_state)):
            if not _is_int(v) or not 0 <= v <= 0xFFFF:
                raise InputError(f"{name}={v!r} must be an integer in 0..65535")
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

    def stream(self, images, geometry: StreamGeometry, *, counts: bool = False, membranes: bool = False,
               cycles: bool = False, timeout_cycles: int = 20_000_000, window: int | str | None = "auto",
               check: bool = True) -> StreamResult:
        """Run one inference per image with the STREAM command: each image's raw bytes
        (``geometry.image_bytes`` of them, frame by frame) cross the link once, the firmware
        loads the next while the core runs the current one, and one answer per image comes
        back: its class, and on request its outputs' spike counts and final membranes and the
        run's core cycles.

        ``window``: most images sent ahead of their answers (None: no limit; the firmware keeps
        up with the link whenever a run is shorter than an image's transfer, else the stream
        ends with RemoteError(OVERRUN); ``window=1`` is always safe). ``"auto"``: no limit,
        unless an answer is longer than a quarter of an image (the firmware sends one answer
        byte per received word): then 1. Raises
        :class:`StreamRunError` when ``check`` and some runs failed (their class is -1)."""
        images = [bytes(im) for im in images]
        if not images:
            raise InputError("stream: no images")
        for i, im in enumerate(images):
            if len(im) != geometry.image_bytes:
                raise InputError(f"stream: image {i} has {len(im)} bytes, the geometry says {geometry.image_bytes}")
        flags = stream_flags(counts, membranes, cycles)
        if window == "auto":
            window = None if 4 * answer_size(flags, geometry.n_out) <= geometry.image_bytes else 1
        if window is not None and (not _is_int(window) or window < 1):
            raise InputError(f"window={window!r} must be a positive integer or None")
        if not _is_int(timeout_cycles) or not 0 < timeout_cycles <= 0xFFFF_FFFF:
            raise InputError(f"timeout_cycles={timeout_cycles!r} must be an integer in 1 .. 2**32-1")
        parts = [self._stream_part(images[i:i + MAX_STREAM_IMAGES], geometry, flags, timeout_cycles, window)
                 for i in range(0, len(images), MAX_STREAM_IMAGES)]
        result = StreamResult(*(np.concatenate([getattr(p, f) for p in parts]) if getattr(parts[0], f) is not None
                                else None for f in ("classes", "counts", "membranes", "cycles")),
                              failed=sum(p.failed for p in parts),
                              first_status=next((p.first_status for p in parts if p.failed), 0),
                              core_cycles=sum(p.core_cycles for p in parts),
                              cpu_cycles=sum(p.cpu_cycles for p in parts))
        if check and result.failed:
            raise StreamRunError(result, len(images))
        return result

    def _stream_part(self, images: list[bytes], geo: StreamGeometry, flags: int, timeout_cycles: int,
                     window: int | None) -> StreamResult:
        payload = stream_request(len(images), flags, geo, timeout_cycles)
        self.request(Cmd.STREAM, payload, retry=False)           # the go-ahead
        parser = AnswerParser(Cmd.STREAM, self.seq, len(images), answer_size(flags, geo.n_out))
        quiet = self.timeout + timeout_cycles / self.clock_hz     # longest silence while answers are due
        sent = 0
        deadline = time.monotonic() + quiet
        while parser.closing is None:
            ahead = len(images) if window is None else len(parser.answers) + window
            batch = images[sent:min(ahead, sent + 16)]
            if batch:
                self.link.write(b"".join(batch))
                sent += len(batch)
                deadline = time.monotonic() + quiet
            data = self.link.read(MAX_FRAME, 0.0 if sent < len(images) and batch else
                                  max(0.0, min(self.interbyte, deadline - time.monotonic())))
            if data:
                parser.feed(data)
                deadline = time.monotonic() + quiet
            elif time.monotonic() > deadline:
                raise LinkTimeoutError(f"STREAM (seq {self.seq}): {len(parser.answers)} of {len(images)} answers "
                                       f"and no closing reply within {quiet:.3f} s of silence")
        close = parser.closing
        if close.status != Status.OK:
            raise RemoteError("STREAM", close.status, f"{close.answered} of {len(images)} images answered")
        if close.answered != len(images) or len(parser.answers) != len(images):
            raise ProtocolError(f"STREAM: {len(parser.answers)} answers and a closing reply for {close.answered}, "
                                f"{len(images)} images sent")
        classes, counts, membranes, cycles = decode_answers(parser.answers, flags, geo.n_out)
        return StreamResult(classes, counts, membranes, cycles, close.failed, close.first_status, close.core_cycles,
                            close.cpu_cycles)

    def set_divisor(self, divisor: int) -> float:
        """Switch the chip's UART to ``divisor`` CPU clock cycles per bit (baud = clock_hz /
        divisor; the SoC boots at 115 200 baud) and the link with it (its ``set_divisor``, where
        it has one: a serial port changes its baud rate). The firmware answers at the old rate
        and switches once the reply is out. Returns the new baud rate."""
        if not _is_int(divisor) or not 1 <= divisor <= 0xFFFF:
            raise InputError(f"divisor={divisor!r} must be an integer in 1..65535 (clock cycles per bit)")
        self._expect(Cmd.SET_DIVISOR, self.request(Cmd.SET_DIVISOR, struct.pack(REQ_SET_DIVISOR, divisor),
                                                    retry=False), 0)
        baud = self.clock_hz / divisor
        if hasattr(self.link, "set_divisor"):
            self.link.set_divisor(divisor, baud)
        return baud

    def status(self, *, clear: bool = False) -> FirmwareStatus:
        data = self.request(Cmd.STATUS, bytes([STATUS_FLAG_CLEAR if clear else 0]))
        head = struct.calcsize(REP_STATUS_HEAD)
        if len(data) < head:
            raise ProtocolError(f"STATUS: reply of {len(data)} bytes is shorter than {head}")
        st, cyc, n = struct.unpack(REP_STATUS_HEAD, data[:head])
        values = struct.unpack(f"<{n}I", self._expect(Cmd.STATUS, data[head:], 4 * n))
        names = [name for name, _ in FW_COUNTERS] + [f"COUNTER{i}" for i in range(len(FW_COUNTERS), n)]
        return FirmwareStatus(st, cyc, dict(zip(names, values)))



__all__ = ["ProtocolError", "LinkTimeoutError", "RemoteError", "CoreError", "StreamRunError", "StreamGeometry",
           "StreamResult", "Identity", "RunResult", "Results",
           "FirmwareStatus", "HostClient"]
