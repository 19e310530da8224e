"""The data of a STREAM command (docs/protocol.md): the request's geometry, the host-side parser
of the answers (raw bytes, one answer per image, then the closing frame) and the decoded result.
:meth:`skyspike.link.client.HostClient.stream` drives them."""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from skyspike.link.commands import (DEFAULT_RUN_TIMEOUT_CYCLES, PROTOCOL_VERSION, REP_STREAM, REPLY_FLAG, REQ_STREAM,
                                    STREAM_FAILED, STREAM_FLAG_COUNTS, STREAM_FLAG_CYCLES, STREAM_FLAG_MEMBRANES,
                                    STREAM_MAX_ANSWER)
from skyspike.link.frames import CRC_SIZE, HEADER_SIZE, SYNC, crc16

#: Most images of one STREAM request (u16); HostClient.stream splits longer streams.
MAX_STREAM_IMAGES = 0xFFFF
CLOSING_DATA = struct.calcsize(REP_STREAM)


@dataclass(frozen=True)
class StreamGeometry:
    """Where an image's bytes go and what the answer reads (skyspike.link.host.stream_geometry
    derives it from a chip image): ``frames`` per image (time steps or bit planes) of
    ``frame_bytes`` bytes (the frame's bitmap, input i at byte i // 8, bit i % 8), ``stride``
    input-buffer words per bank per frame; ``n_out`` outputs whose state entries start at
    ``out_state``."""

    frames: int
    frame_bytes: int
    stride: int
    n_out: int
    out_state: int

    def __post_init__(self):
        for name, lo, hi in (("frames", 1, 0xFF), ("frame_bytes", 1, 0xFFFF), ("stride", 1, 0xFFFF),
                             ("n_out", 1, 0xFF), ("out_state", 0, 0xFFFF)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not lo <= v <= hi:
                raise ValueError(f"StreamGeometry {name}={v!r}: must be an integer in {lo}..{hi}")

    @property
    def image_bytes(self) -> int:
        return self.frames * self.frame_bytes


def stream_flags(counts: bool, membranes: bool, cycles: bool = False) -> int:
    return ((STREAM_FLAG_COUNTS if counts else 0) | (STREAM_FLAG_MEMBRANES if membranes else 0)
            | (STREAM_FLAG_CYCLES if cycles else 0))


def answer_size(flags: int, n_out: int) -> int:
    """Bytes of one answer: the class, then u8 counts, i16 membranes and the u32 core cycles on
    request."""
    return (1 + (n_out if flags & STREAM_FLAG_COUNTS else 0) + (2 * n_out if flags & STREAM_FLAG_MEMBRANES else 0)
            + (4 if flags & STREAM_FLAG_CYCLES else 0))


def stream_request(images: int, flags: int, geo: StreamGeometry, timeout_cycles: int = 0) -> bytes:
    if answer_size(flags, geo.n_out) > STREAM_MAX_ANSWER:
        raise ValueError(f"an answer of {answer_size(flags, geo.n_out)} bytes ({geo.n_out} outputs with counts/"
                         f"membranes) exceeds the stream's {STREAM_MAX_ANSWER}: ask for fewer extras")
    return struct.pack(REQ_STREAM, images, flags, geo.frames, geo.frame_bytes, geo.stride, geo.n_out,
                       geo.out_state, timeout_cycles or DEFAULT_RUN_TIMEOUT_CYCLES)


@dataclass(frozen=True)
class StreamClosing:
    """The closing reply: its status and REP_STREAM's fields."""

    status: int
    answered: int
    failed: int
    first_status: int
    core_cycles: int     # sum of the answered runs' CYCLES
    cpu_cycles: int      # firmware time from the go-ahead to the last answer


class AnswerParser:
    """Splits the bytes after the go-ahead into answers and the closing frame. The closing
    frame can come early (the firmware stopped: TRUNCATED, OVERRUN), always at an answer's
    boundary; there it is told from an answer by its whole header and CRC."""

    def __init__(self, cmd: int, seq: int, images: int, size: int):
        self.images, self.size = images, size
        self.header = bytes([*SYNC, PROTOCOL_VERSION, (cmd | REPLY_FLAG) & 0xFF, seq]) + \
            struct.pack("<H", 1 + CLOSING_DATA)
        self.frame_len = HEADER_SIZE + 1 + CLOSING_DATA + CRC_SIZE
        self.buf = bytearray()
        self.answers: list[bytes] = []
        self.closing: StreamClosing | None = None

    def feed(self, data: bytes) -> None:
        self.buf += data
        while self.closing is None:
            if self._at_closing():
                return
            more = len(self.answers) < self.images
            if not more or len(self.buf) < self.size or self._maybe_closing():
                return
            self.answers.append(bytes(self.buf[:self.size]))
            del self.buf[:self.size]

    def _maybe_closing(self) -> bool:
        """The buffer could still become the closing frame (wait for more bytes)."""
        n = min(len(self.buf), len(self.header))
        return len(self.buf) < self.frame_len and self.buf[:n] == self.header[:n]

    def _at_closing(self) -> bool:
        b = self.buf
        if len(b) < self.frame_len or b[:len(self.header)] != self.header:
            return False
        body = bytes(b[2:self.frame_len - CRC_SIZE])
        if crc16(body) != int.from_bytes(b[self.frame_len - CRC_SIZE:self.frame_len], "little"):
            return False
        status = b[HEADER_SIZE]
        fields = struct.unpack(REP_STREAM, bytes(b[HEADER_SIZE + 1:self.frame_len - CRC_SIZE]))
        self.closing = StreamClosing(status, *fields)
        del b[:self.frame_len]
        return True


@dataclass(frozen=True)
class StreamResult:
    """A stream's answers: ``classes`` (images,) (-1 where the run failed), ``counts`` and
    ``membranes`` (images, n_out) and ``cycles`` (images,) when asked for, and the closing
    reply's figures."""

    classes: np.ndarray
    counts: np.ndarray | None
    membranes: np.ndarray | None
    cycles: np.ndarray | None
    failed: int
    first_status: int
    core_cycles: int
    cpu_cycles: int


def decode_answers(answers: list[bytes], flags: int, n_out: int):
    """classes, counts, membranes, cycles (None unless asked for) of raw answers."""
    raw = np.frombuffer(b"".join(answers), np.uint8).reshape(len(answers), answer_size(flags, n_out))
    classes = raw[:, 0].astype(np.int64)
    classes[classes == STREAM_FAILED] = -1
    at = 1
    counts = membranes = cycles = None
    if flags & STREAM_FLAG_COUNTS:
        counts = raw[:, at:at + n_out].astype(np.int64)
        at += n_out
    if flags & STREAM_FLAG_MEMBRANES:
        membranes = raw[:, at:at + 2 * n_out].copy().view("<i2").astype(np.int64)
        at += 2 * n_out
    if flags & STREAM_FLAG_CYCLES:
        cycles = raw[:, at:at + 4].copy().view("<u4")[:, 0].astype(np.int64)
    return classes, counts, membranes, cycles


__all__ = ["MAX_STREAM_IMAGES", "StreamGeometry", "StreamClosing", "StreamResult", "AnswerParser", "stream_flags",
           "answer_size", "stream_request", "decode_answers"]
