"""Byte pipes to the firmware's UART: the :class:`Link` interface that
:class:`skyspike.link.client.HostClient` talks through, over a pyserial port
(:class:`SerialLink`) or a pair of file descriptors (:class:`PipeLink`). The simulated SoC's
UART (:mod:`skyspike.rtlsim.uartlink`) and the firmware model (:mod:`skyspike.emu`) are
links too."""
from __future__ import annotations

import os
import select
import time
from typing import Protocol, runtime_checkable

from .commands import set_divisor_settle_cycles


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

    def set_divisor(self, divisor: int, baud: float) -> None:
        """The far end now sends and expects ``baud`` (HostClient.set_divisor): after the settle
        time (commands.SET_DIVISOR_SETTLE_*), the port's rate."""
        clock_hz = baud * divisor
        time.sleep(set_divisor_settle_cycles(clock_hz / self.port.baudrate) / clock_hz)
        self.port.baudrate = round(baud)

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


__all__ = ["Link", "SerialLink", "PipeLink"]
