"""An emulated SkySpike chip on a pseudo-terminal, for testing the serial path without
hardware: ``with FakeChip("chip") as chip: SerialBackend(chip.port).run(...)``.

The firmware's protocol is :class:`skyspike.emu.firmware_model.FirmwareModel`; its core
(:class:`skyspike.emu.core_model.CoreModel`) computes every run with the golden model from what
the host actually loaded (read back by :mod:`skyspike.chip.readback`), so a transfer error shows
up as a wrong answer. POSIX only (``os.openpty``).
"""
from __future__ import annotations

import os
import select
import threading
import tty

from skyspike.spec import memmap as mm
from skyspike.spec.config import CoreConfig, get_config
from skyspike.spec.layouts import STATE_ENTRY
from skyspike.chip import golden
from skyspike.errors import SkySpikeError
from skyspike.chip.readback import read_inputs, read_network
from skyspike.emu.core_model import CoreModel
from skyspike.emu.firmware_model import FirmwareModel

#: Quiet time after which a partial frame is dropped (the firmware's inter-byte timeout).
IDLE_S = 0.05


class FakeChip:
    """Serve the host protocol on a pseudo-terminal; ``port`` is its device path.

    Parameters
    ----------
    config : str or CoreConfig
        The emulated core's configuration (reported by IDENTIFY).
    """

    def __init__(self, config: str | CoreConfig = "chip"):
        self.cfg = get_config(config)
        self.firmware = FirmwareModel(CoreModel(self.cfg, on_run=self._run, checks=True))
        self.runs = 0
        #: Runs the emulator could not compute (listed here instead of stopping the server).
        self.failures: list[str] = []
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fakechip", daemon=True)

    def _read(self, core: CoreModel):
        return lambda addr, n: [core.read(addr + 4 * i) for i in range(n)]

    def _run(self, core: CoreModel) -> int:
        """One inference of what the core holds (its table passed the core's checks)."""
        try:
            return self._compute(core)
        except SkySpikeError as e:   # a table the checks pass but the golden model cannot place
            self.failures.append(f"run {self.runs + 1}: {e}")
            return 0

    def _compute(self, core: CoreModel) -> int:
        read = self._read(core)
        net, pl = read_network(read, self.cfg, strict=False)
        x = read_inputs(read, net, pl, self.cfg, base=mm.NET["input_base"].get(core.net))
        g = golden.run(net, x[None], self.cfg)
        core.counts[: net.layers[-1].n_out] = [int(c) for c in g.counts[0]]
        for ly, lp, v, s in zip(net.layers, pl.layers, g.membranes, g.spikes):
            for j in range(ly.n_out):
                core.state[lp.state_base + j] = STATE_ENTRY.pack(v=int(v[0, -1, j]), fired=int(s[0, -1, j]))
        self.runs += 1
        return int(g.cycles[0])

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], IDLE_S)
            if not ready:
                self.firmware.idle()
            else:
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    return
                self.firmware.receive(data)
            out = self.firmware.take_output()
            if out:
                os.write(self._master, out)

    def __enter__(self) -> FakeChip:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self._master)
        os.close(self._slave)


__all__ = ["FakeChip"]
