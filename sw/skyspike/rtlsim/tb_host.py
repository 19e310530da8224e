"""cocotb: the SoC simulation as a backend. The firmware boots on PicoRV32; the host code
(:mod:`skyspike.link.host` over :class:`skyspike.link.client.HostClient`, in a bridge thread) loads
a chip image over the simulated UART and runs every sample, as on real hardware; the
results go to a file for :class:`skyspike.backends.SimBackend` (``via="soc"``).

Environment: NETWORK (a netfile), INPUTS (npz: spikes), CONFIG, DIVISOR (UART clocks per
bit), STREAM (1, the default: one STREAM for all samples, as the serial backend; 0: a command
exchange per sample), RESULT (npz written here: cycles, counts, finals_<layer> for the layers
read back).
"""
from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb._bridge import bridge

from skyspike.spec.config import get_config
from skyspike.link.client import HostClient
from skyspike.link.host import check_identity, load_image, run_inferences
from skyspike.chip.image import build_image
from skyspike.chip.netfile import load_network
from skyspike.rtlsim.bus import CLOCK_NS
from skyspike.rtlsim.uartlink import SimUartLink, reset_soc


@cocotb.test()
async def host_inference(dut):
    await reset_soc(dut)
    link = SimUartLink(dut, int(os.environ.get("DIVISOR", "32")))
    cfg = get_config(os.environ.get("CONFIG", "small"))
    net = load_network(os.environ["NETWORK"])
    x = np.load(os.environ["INPUTS"])["spikes"]
    image = build_image(net, cfg)
    n_outs = [ly.n_out for ly in net.layers]

    @bridge
    def host():
        client = HostClient(link, timeout=120.0, clock_hz=1e9 / CLOCK_NS)
        check_identity(client.identify(), cfg)
        load_image(client, image)
        counts, finals, cycles = run_inferences(client, image, x, n_outs, stream=os.environ.get("STREAM", "1") == "1")
        dut._log.info(f"{len(x)} samples: cycles {cycles.tolist()}")
        # layers the path did not read back (the stream's hidden layers) are left out
        return {"cycles": cycles, "counts": counts,
                **{f"finals_{i}": f for i, f in enumerate(finals) if f is not None}}

    out = await host()
    np.savez(os.environ["RESULT"], **out)
