"""cocotb: the SoC simulation as a backend. The firmware boots on PicoRV32; the host code
(:mod:`skyspike.link.host` over :class:`skyspike.link.client.HostClient`, in a bridge thread) loads
a chip image over the simulated UART and runs every sample, as on real hardware; the
results go to a file for :class:`skyspike.backends.SimBackend` (``via="soc"``).

Environment: NETWORK (a netfile), INPUTS (npz: spikes), CONFIG, DIVISOR (UART clocks per
bit), RESULT (npz written here: cycles, counts, finals_<layer>).
"""
from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb._bridge import bridge

from skyspike.spec.config import get_config
from skyspike.link.client import HostClient
from skyspike.link.host import check_identity, infer, load_image
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
        out = {"cycles": [], "counts": [], **{f"finals_{i}": [] for i in range(len(n_outs))}}
        for b in range(len(x)):
            result, counts, finals = infer(client, image, x[b], n_outs)
            out["cycles"].append(result.cycles)
            out["counts"].append(counts)
            for i, f in enumerate(finals):
                out[f"finals_{i}"].append(f)
            dut._log.info(f"sample {b}: {result.cycles} cycles, counts {counts.tolist()}")
        return out

    out = await host()
    np.savez(os.environ["RESULT"], **{k: np.array(v) for k, v in out.items()})
