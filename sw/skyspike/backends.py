"""Where a chip network runs: the golden model, the RTL simulation, or a chip on a serial
port. Every backend takes the same encoded input spikes and returns a :class:`Outcome`,
so their answers can be compared sample by sample (they must be equal, bit for bit).

* :class:`GoldenBackend` (``"golden"``): the bit-exact numpy model, batched; fast.
* :class:`SimBackend` (``"sim"``): the generated Verilog in cocotb. ``via="core"`` drives the
  core's Wishbone bus directly (Icarus or Verilator); ``via="soc"`` boots the real firmware
  on PicoRV32 in the SoC and talks the host protocol over the simulated UART (Verilator),
  exactly as with hardware.
* :class:`SerialBackend` (``"serial"``): real hardware through the host protocol over a
  serial port (pyserial URL or device path), with identity and capability checks.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skyspike.spec.config import CoreConfig, config_name, get_config
from skyspike.chip.network import ChipNetwork, as_inputs
from skyspike.chip.readout import predict

BACKENDS = ("golden", "sim", "serial")


@dataclass
class Outcome:
    counts: np.ndarray           # (batch, n_out): output spike counts
    finals: list[np.ndarray | None]   # per layer (batch, n_out): final membranes (None: not read back)
    cycles: np.ndarray           # (batch,): core clock cycles per inference
    spikes: list[np.ndarray] | None = None   # per layer (batch, steps, n_out), where the backend sees them

    @property
    def prediction(self) -> np.ndarray:
        return predict(self.counts, self.finals[-1])

    def __len__(self) -> int:
        return len(self.counts)


class GoldenBackend:
    """The golden model (:func:`skyspike.chip.golden.run`) in batches of ``batch``."""

    name = "golden"

    def __init__(self, batch: int = 2000, keep_spikes: bool = False):
        self.batch = batch
        self.keep_spikes = keep_spikes

    def run(self, net: ChipNetwork, spikes, cfg: CoreConfig | str = "chip", progress=None) -> Outcome:
        from skyspike.chip import golden

        cfg, x = get_config(cfg), as_inputs(spikes, net)
        parts = []
        for i in range(0, len(x), self.batch):
            g = golden.run(net, x[i:i + self.batch], cfg)
            parts.append((g.counts, [m[:, -1] for m in g.membranes], g.cycles,
                          g.spikes if self.keep_spikes else None))
            if progress:
                progress(len(parts[-1][0]))
        n = len(net.layers)
        return Outcome(np.concatenate([p[0] for p in parts]),
                       [np.concatenate([p[1][i] for p in parts]) for i in range(n)],
                       np.concatenate([p[2] for p in parts]),
                       [np.concatenate([p[3][i] for p in parts]) for i in range(n)] if self.keep_spikes else None)


class SimBackend:
    """The RTL simulation. ``via="core"``: the core alone over Wishbone (``simulator``
    icarus or verilator; default ``$SIM`` or icarus). ``via="soc"``: firmware + PicoRV32 +
    UART + core on Verilator, through the host protocol (slow: ~0.3 M cycles per sample);
    with ``board`` (``skyspike_hw.boards.BOARDS``), the SoC of that board's FPGA build (its
    memories block RAM). ``build_dir``: where simulator builds are cached (default under
    build/rtlsim)."""

    name = "sim"

    def __init__(self, simulator: str | None = None, via: str = "core", build_dir: Path | str | None = None,
                 board: str | None = None):
        if via not in ("core", "soc"):
            raise ValueError(f"via={via!r}: use 'core' or 'soc'")
        if board is not None and via != "soc":
            raise ValueError(f"board={board!r} needs via='soc': a board runs the whole SoC")
        self.simulator, self.via, self.board = simulator, via, board
        self.build_dir = Path(build_dir) if build_dir else None

    def run(self, net: ChipNetwork, spikes, cfg: CoreConfig | str = "chip", progress=None) -> Outcome:
        x = as_inputs(spikes, net)
        if self.via == "core":
            from skyspike.rtlsim import run_rtl

            r = run_rtl(net, x, cfg, sim=self.simulator, build_dir=self.build_dir)
            errors = np.flatnonzero(r.errors)
            if errors.size:
                raise RuntimeError(f"the core reported error 0x{int(r.errors[errors[0]]):02x} on sample {errors[0]}")
            out = Outcome(r.counts, r.finals, r.cycles, r.spikes)
        else:
            out = self._run_soc(net, x, get_config(cfg))
        if progress:
            progress(len(x))
        return out

    def _run_soc(self, net: ChipNetwork, x: np.ndarray, cfg: CoreConfig) -> Outcome:
        from skyspike.chip.netfile import save_network
        from skyspike.rtlsim.runner import run_cocotb
        from skyspike.rtlsim.system import DIVISOR, build_firmware_and_soc

        name = config_name(cfg)
        if name == "custom":
            raise ValueError("the SoC backend needs a named core configuration (skyspike.spec.config.CONFIGS)")
        where = f"fpga-{self.board}-{name}" if self.board else f"soc-{name}"
        build = (self.build_dir or Path("build") / "rtlsim" / where).resolve()
        sources = build_firmware_and_soc(build, name, self.board)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            save_network(tmp / "net.npz", net)
            np.savez(tmp / "inputs.npz", spikes=x)
            run_cocotb(sources, "skyspike_soc", "skyspike.rtlsim.tb_host", build_dir=build, sim="verilator",
                       extra_env={"NETWORK": str(tmp / "net.npz"), "INPUTS": str(tmp / "inputs.npz"),
                                  "CONFIG": name, "DIVISOR": str(DIVISOR),
                                  "RESULT": str(tmp / "result.npz")})
            r = dict(np.load(tmp / "result.npz"))
        return Outcome(r["counts"], [r.get(f"finals_{i}") for i in range(len(net.layers))], r["cycles"])


class SerialBackend:
    """A SkySpike chip (its firmware) on a serial port: ``port`` is a device path or a
    pyserial URL (``socket://host:port``, ``loop://``...). The image is loaded once per
    :meth:`run`. ``stream`` (default): all samples go through one STREAM, each crossing the
    link once as raw bytes (the Outcome's finals hold the last layer's membranes only);
    otherwise every sample is one LOAD_INPUTS / RUN / READ_RESULTS exchange (every layer's)."""

    name = "serial"

    def __init__(self, port: str | None = None, baudrate: int = 115200, *, timeout: float = 2.0,
                 clock_hz: float = 50e6, use_irq: bool = True, link=None, stream: bool = True):
        if port is None and link is None:
            raise ValueError("the serial backend needs a port (e.g. /dev/ttyUSB0)")
        self.port, self.baudrate, self.timeout = port, baudrate, timeout
        self.clock_hz, self.use_irq, self.link, self.stream = clock_hz, use_irq, link, stream

    def run(self, net: ChipNetwork, spikes, cfg: CoreConfig | str = "chip", progress=None) -> Outcome:
        from skyspike.link.host import check_identity, load_image, run_inferences
        from skyspike.chip.image import build_image
        from skyspike.link.client import HostClient
        from skyspike.link.links import SerialLink

        cfg, x = get_config(cfg), as_inputs(spikes, net)
        image = build_image(net, cfg)
        link = self.link or SerialLink.open(self.port, self.baudrate)
        try:
            client = HostClient(link, timeout=self.timeout, clock_hz=self.clock_hz)
            check_identity(client.identify(), cfg)
            load_image(client, image)
            counts, finals, cycles = run_inferences(client, image, x, [ly.n_out for ly in net.layers],
                                                    stream=self.stream, use_irq=self.use_irq, progress=progress)
        finally:
            if self.link is None:
                link.close()
        return Outcome(counts, finals, cycles)


def get_backend(name: str, **options):
    """A backend by name: ``golden``, ``sim`` (simulator, via) or ``serial`` (port, baudrate)."""
    classes = {"golden": GoldenBackend, "sim": SimBackend, "serial": SerialBackend}
    if name not in classes:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return classes[name](**options)


__all__ = ["Outcome", "GoldenBackend", "SimBackend", "SerialBackend", "get_backend", "BACKENDS"]
