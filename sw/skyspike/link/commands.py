"""The host link's command set (docs/protocol.md): protocol and firmware versions, payload
limits, commands, reply status codes, request / reply payload layouts, flags and the
firmware's error counters.

``skyspike.apps.fwheader`` writes all of it into ``firmware/include/skyspike_regs.h`` for
the C firmware. The byte-level frame around a payload is :mod:`skyspike.link.frames`.
"""
from __future__ import annotations

from enum import IntEnum

PROTOCOL_VERSION = 1
#: Firmware version reported by IDENTIFY, 16.8.8 bits major.minor.patch like the core's VERSION.
FIRMWARE_VERSION = 0x0001_0101    # 1.1.1: STREAM keeps up at 12.5 Mbaud (RXWORD)
#: Bytes of a payload, both directions: the firmware buffers one request and one reply frame
#: in the 1 KB data RAM of the chip (hw/skyspike_hw/cpuram.py) beside its stack.
MAX_PAYLOAD = 256
#: Most words of one READ_MEM / WRITE_MEM / LOAD_INPUTS / READ_RESULTS (status byte + 4n <= MAX_PAYLOAD).
MAX_WORDS = (MAX_PAYLOAD - 4) // 4
#: A reply's command byte is the request's with this bit set.
REPLY_FLAG = 0x80
#: RUN's wait bound, in CPU clock cycles, when the request says 0.
DEFAULT_RUN_TIMEOUT_CYCLES = 50_000_000

RUN_FLAG_IRQ = 0x01        # wait for the core's interrupt instead of polling STATUS
STATUS_FLAG_CLEAR = 0x01   # STATUS request: clear the error counters after the snapshot
STREAM_FLAG_COUNTS = 0x01      # STREAM: each answer carries the outputs' spike counts (u8 each)
STREAM_FLAG_MEMBRANES = 0x02   # STREAM: ... and the outputs' final membranes (i16 each)
STREAM_FLAG_CYCLES = 0x04      # STREAM: ... and the run's core CYCLES (u32)
#: STREAM's marker in place of the class of an image whose run failed (core error or timeout).
STREAM_FAILED = 0xFF
#: Most bytes of one STREAM answer: while the firmware sends one, it stashes the bytes that
#: arrive meanwhile (64 of them, firmware/src/proto.c), and the line carries as many as it sends.
STREAM_MAX_ANSWER = 64


class Cmd(IntEnum):
    IDENTIFY = 0x01
    READ_MEM = 0x02
    WRITE_MEM = 0x03
    LOAD_INPUTS = 0x04
    RUN = 0x05
    READ_RESULTS = 0x06
    STATUS = 0x07
    STREAM = 0x08
    SET_DIVISOR = 0x09


class Status(IntEnum):
    """The status byte that starts every reply's payload."""

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
    OVERRUN = 10


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
    Status.OVERRUN: "STREAM: the UART receiver overflowed, the firmware could not keep up with the link "
                    "(the answers are void: use a lower baud rate or a smaller window)",
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
#: STREAM: images, flags, frames per image, bytes per frame, input-buffer words per bank per
#: frame, outputs, the first output's state entry, run timeout in CPU cycles (0 = default).
REQ_STREAM = "<HBBHHHHI"
REQ_SET_DIVISOR = "<I"        # UART clock cycles per bit, from after the (OK) reply on
#: After SET_DIVISOR's reply the host stays quiet this long before it sends at the new rate: the
#: firmware switches once the reply's stop bit is out, a few hundred cycles later (the longer of
#: the two: character times at the old rate, CPU clock cycles).
SET_DIVISOR_SETTLE_CHARS = 2
SET_DIVISOR_SETTLE_CYCLES = 2000


def set_divisor_settle_cycles(old_divisor: float) -> float:
    """Clock cycles the host waits after SET_DIVISOR's reply, sent at ``old_divisor``."""
    return max(SET_DIVISOR_SETTLE_CHARS * 10 * old_divisor, SET_DIVISOR_SETTLE_CYCLES)
# Replies (after the status byte):
REP_IDENTIFY = "<BIH6I"       # protocol, firmware version, max payload, ID, VERSION, CAPS0..3
REP_RUN = "<III"              # core STATUS, CYCLES, CPU cycles waited
REP_STATUS_HEAD = "<IIB"      # core STATUS, CYCLES, number of counters (then that many u32)
#: STREAM's closing reply: images answered, failed runs, the first failed run's core STATUS,
#: the sum of the runs' core CYCLES, CPU cycles from the request to the last answer.
REP_STREAM = "<HHIII"

__all__ = [
    "PROTOCOL_VERSION", "FIRMWARE_VERSION", "MAX_PAYLOAD", "MAX_WORDS", "REPLY_FLAG",
    "DEFAULT_RUN_TIMEOUT_CYCLES", "RUN_FLAG_IRQ", "STATUS_FLAG_CLEAR", "STREAM_FLAG_COUNTS",
    "STREAM_FLAG_MEMBRANES", "STREAM_FLAG_CYCLES", "STREAM_FAILED", "STREAM_MAX_ANSWER", "REQ_STREAM", "REP_STREAM", "REQ_SET_DIVISOR", "SET_DIVISOR_SETTLE_CHARS",
    "SET_DIVISOR_SETTLE_CYCLES", "set_divisor_settle_cycles", "Cmd", "Status", "STATUS_DOC",
    "TRANSPORT_ERRORS", "FW_COUNTERS", "COUNTER_INDEX", "REQ_READ_MEM", "REQ_MEM_OFFSET", "REQ_RUN",
    "REQ_READ_RESULTS", "REP_IDENTIFY", "REP_RUN", "REP_STATUS_HEAD",
]
