"""The firmware's STREAM command (firmware/src/proto.c, docs/protocol.md) in Python: raw image
bytes into alternate pages of the core's input buffer, a run per image, one answer per image.
Part of :class:`skyspike.emu.firmware_model.FirmwareModel`; the model's core finishes a run at
once, so an image is answered as soon as its last byte arrives (the firmware answers it while
the next image comes in: the same bytes, in the same order)."""
from __future__ import annotations

import struct
from dataclasses import dataclass

from skyspike.spec import memmap as mm
from skyspike.link.commands import (DEFAULT_RUN_TIMEOUT_CYCLES, REP_STREAM, REQ_STREAM, STREAM_FAILED,
                                    STREAM_FLAG_COUNTS, STREAM_FLAG_CYCLES, STREAM_FLAG_MEMBRANES, STREAM_MAX_ANSWER,
                                    Status)
from skyspike.chip.readback import state_membranes
from skyspike.link.streaming import answer_size as answer_bytes

_CORE_FLAGS = mm.STATUS.pack(bus_error=1, write_refused=1)
_FLAGS = STREAM_FLAG_COUNTS | STREAM_FLAG_MEMBRANES | STREAM_FLAG_CYCLES


@dataclass
class StreamModel:
    firmware: object           # the FirmwareModel (its core, counters and output)
    cmd: int
    seq: int
    images: int
    flags: int
    frames: int
    frame_bytes: int
    stride: int
    n_out: int
    out_state: int
    timeout: int
    page: int                  # the second page's base (input-buffer words); 0: one page
    net: int                   # NET without input_base
    status: Status = Status.OK
    answered: int = 0
    failed: int = 0
    first_status: int = 0
    cycles: int = 0

    @classmethod
    def start(cls, firmware, cmd: int, seq: int, p: bytes):
        """The stream a request asks for, or the Status that refuses it (proto.c: cmd_stream)."""
        if len(p) != struct.calcsize(REQ_STREAM):
            return Status.BAD_ARG
        images, flags, frames, frame_bytes, stride, n_out, out_state, timeout = struct.unpack(REQ_STREAM, p)
        core = firmware.core
        caps2 = mm.CAPS["CAPS2"].unpack(core.read(mm.REG["CAPS2"]))
        caps3 = mm.CAPS["CAPS3"].unpack(core.read(mm.REG["CAPS3"]))
        banks, depth = caps3["input_banks"], caps3["input_depth"]
        if (not images or not frames or not frame_bytes or not 0 < n_out <= 255 or not banks or flags & ~_FLAGS
                or frame_bytes > 4 * banks * stride or frames * stride > depth
                or n_out > caps2["max_outputs"] or out_state + n_out > caps2["state_neurons"]
                or answer_bytes(flags, n_out) > STREAM_MAX_ANSWER):
            return Status.BAD_ARG
        if core.busy:
            return Status.BUSY
        net = core.read(mm.REG["NET"]) & 0xFFFF
        return cls(firmware, cmd, seq, images, flags, frames, frame_bytes, stride, n_out, out_state,
                   timeout or DEFAULT_RUN_TIMEOUT_CYCLES, frames * stride if 2 * frames * stride <= depth else 0,
                   net)

    def __post_init__(self):
        self._buf = bytearray()

    @property
    def image_bytes(self) -> int:
        return self.frames * self.frame_bytes

    @property
    def finished(self) -> bool:
        return self.answered == self.images

    def feed(self, data: bytes) -> bytes:
        """Take stream bytes; returns those past the stream's end (for the frame parser)."""
        while data and not self.finished:
            take = self.image_bytes - len(self._buf)
            self._buf += data[:take]
            data = data[take:]
            if len(self._buf) == self.image_bytes:
                self._image(bytes(self._buf))
                self._buf.clear()
        return data

    def _image(self, data: bytes) -> None:
        core = self.firmware.core
        base = self.page if self.answered & 1 else 0
        caps3 = mm.CAPS["CAPS3"].unpack(core.read(mm.REG["CAPS3"]))
        banks, depth = caps3["input_banks"], caps3["input_depth"]
        for f in range(self.frames):
            frame = data[f * self.frame_bytes:(f + 1) * self.frame_bytes]
            frame += bytes(-len(frame) % 4)
            for w, (word,) in enumerate(struct.iter_unpack("<I", frame)):
                addr = base + f * self.stride + w // banks
                core.write(mm.INPUT_BASE + 4 * ((w % banks) * depth + addr), word)
        refused = core.read(mm.REG["STATUS"]) & _CORE_FLAGS
        if refused:
            self.firmware._flags_clear()
            return self._answer(False, refused)
        core.write(mm.REG["NET"], self.net | base << 16)
        core.write(mm.REG["CTRL"], mm.CTRL.pack(start=1, clear_flags=1))
        st = core.read(mm.REG["STATUS"])
        if core.busy or not core.done:   # a hung run: the firmware aborts it after the timeout
            self.firmware.counters["RUN_TIMEOUT"] += 1
            core.write(mm.REG["CTRL"], mm.CTRL.pack(abort=1))
            return self._answer(False, st)
        self._answer(mm.STATUS["error"].get(st) == 0, st)

    def _answer(self, ok: bool, status: int) -> None:
        core = self.firmware.core
        out = bytearray(answer_bytes(self.flags, self.n_out))
        if not ok:
            self.failed += 1
            self.first_status = self.first_status if self.failed > 1 else status
            out[0] = STREAM_FAILED
        else:
            self.cycles += core.read(mm.REG["CYCLES"])
            counts = [core.read(mm.COUNT_BASE + 4 * i) for i in range(self.n_out)]
            membranes = state_membranes([core.read(mm.STATE_BASE + 4 * (self.out_state + i))
                                         for i in range(self.n_out)]).tolist()
            best = max(range(self.n_out), key=lambda i: (counts[i], membranes[i], -i))
            out[0] = best
            at = 1
            if self.flags & STREAM_FLAG_COUNTS:
                out[at:at + self.n_out] = bytes(min(c, 255) for c in counts)
                at += self.n_out
            if self.flags & STREAM_FLAG_MEMBRANES:
                out[at:at + 2 * self.n_out] = struct.pack(f"<{self.n_out}h", *membranes)
                at += 2 * self.n_out
            if self.flags & STREAM_FLAG_CYCLES:
                out[at:] = struct.pack("<I", core.read(mm.REG["CYCLES"]))
        self.answered += 1
        if not self.firmware.silent:
            self.firmware.out += out

    def closing(self) -> bytes:
        """The closing reply's data (the model's CPU time: the runs' cycles)."""
        return struct.pack(REP_STREAM, self.answered, self.failed, self.first_status, self.cycles, self.cycles)


__all__ = ["StreamModel"]
