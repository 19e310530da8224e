"""cocotb: the driver's serial backend (:class:`skyspike.backends.SerialBackend`, unchanged but
for its link: the simulated UART instead of a port) against the firmware on the SoC of an FPGA
board's build. Identity and capability checks, image load, a STREAM of every sample; the
answers must equal the golden model's. Then ``make fpga-check``'s measurement
(:func:`skyspike.apps.fpgacheck.measure`) on the same link.

Environment: NETWORK (a netfile), INPUTS (npz: spikes), CONFIG, DIVISOR (UART clocks per bit).
"""
from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb._bridge import bridge

from skyspike.apps.fpgacheck import measure
from skyspike.backends import GoldenBackend, SerialBackend
from skyspike.chip.netfile import load_network
from skyspike.rtlsim.bus import CLOCK_NS
from skyspike.rtlsim.uartlink import SimUartLink, reset_soc
from skyspike.spec.config import get_config


@cocotb.test()
async def serial_backend(dut):
    await reset_soc(dut)
    link = SimUartLink(dut, int(os.environ["DIVISOR"]))
    cfg = get_config(os.environ["CONFIG"])
    net = load_network(os.environ["NETWORK"])
    x = np.load(os.environ["INPUTS"])["spikes"]
    backend = SerialBackend(link=link, timeout=120.0, clock_hz=1e9 / CLOCK_NS)

    @bridge
    def host():
        return backend.run(net, x, cfg)

    out = await host()
    gold = GoldenBackend().run(net, x, cfg)
    dut._log.info(f"{len(x)} samples: classes {out.prediction.tolist()}, cycles {out.cycles.tolist()}")
    np.testing.assert_array_equal(out.counts, gold.counts)
    np.testing.assert_array_equal(out.cycles, gold.cycles)
    np.testing.assert_array_equal(out.finals[-1], gold.finals[-1])
    np.testing.assert_array_equal(out.prediction, gold.prediction)

    @bridge
    def check():
        return measure(link, net, x, cfg, clock_hz=1e9 / CLOCK_NS, timeout=120.0)

    r = await check()
    dut._log.info(f"fpga-check: {r}")
    assert r["golden_equal"] and r["samples"] == len(x)
