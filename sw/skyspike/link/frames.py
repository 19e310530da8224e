"""The host link's wire format: frames, their CRC and the incremental parser.

Frame (all multi-byte fields little endian)::

    A5 5A | ver | cmd | seq | len_lo len_hi | payload[len] | crc_lo crc_hi

CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) over
ver..payload. A reply has ``cmd | REPLY_FLAG``, the request's ``seq``, and a payload that
starts with a status byte (:class:`skyspike.link.commands.Status`). The firmware's parser
(firmware/src/proto.c) follows the same rules as :class:`FrameParser`.
"""
from __future__ import annotations

import binascii

import struct
from dataclasses import dataclass

from skyspike.link.commands import MAX_PAYLOAD, PROTOCOL_VERSION, REPLY_FLAG, Status

SYNC = b"\xA5\x5A"
HEADER_SIZE = 7            # sync(2) ver cmd seq len(2)
CRC_SIZE = 2
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
CRC_POLY = 0x1021
CRC_INIT = 0xFFFF


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE; ``crc16(b"123456789") == 0x29B1``. The standard library's
    ``binascii.crc_hqx`` is this CRC (polynomial 0x1021, not reflected) from a given start
    value, in C: the parser checks a candidate frame per false SYNC in line noise, so a
    per-bit Python loop made its worst case slower than the link."""
    return binascii.crc_hqx(bytes(data), crc)


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


__all__ = ["SYNC", "HEADER_SIZE", "CRC_SIZE", "MAX_FRAME", "CRC_POLY", "CRC_INIT", "crc16", "encode_frame",
           "Frame", "FrameError", "ParserStats", "FrameParser"]
