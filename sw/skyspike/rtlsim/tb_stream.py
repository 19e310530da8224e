"""cocotb: end to end through the streaming host path. The firmware boots on PicoRV32 in the SoC
RTL; the host (HostClient in a bridge thread) raises the UART's rate with SET_DIVISOR, loads a
network, then streams every sample twice: once with counts, membranes and cycles, which must
equal the golden model's, and once as a user would (the class only), timed in simulated clock
cycles against what the link itself allows.

Environment: NETWORK (a netfile), INPUTS (npz: ``inputs``, spikes or values), CONFIG, DIVISOR
(the SoC's reset divisor), FAST_DIVISOR (the stream's), REPORT (JSON written here).
"""
from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb._bridge import bridge
from cocotb.utils import get_sim_time

from skyspike.spec.config import get_config
from skyspike.chip.golden import run as golden_run
from skyspike.chip.image import build_image
from skyspike.chip.netfile import load_network
from skyspike.link.client import HostClient
from skyspike.link.host import check_identity, infer_stream, load_image, stream_bytes
from skyspike.rtlsim.bus import CLOCK_NS
from skyspike.rtlsim.uartlink import SimUartLink, reset_soc


def _cycles() -> float:
    return get_sim_time("ns") / CLOCK_NS


@cocotb.test()
async def stream_end_to_end(dut):
    divisor = int(os.environ.get("DIVISOR", "32"))
    fast = int(os.environ.get("FAST_DIVISOR", str(divisor)))
    await reset_soc(dut)
    link = SimUartLink(dut, divisor, max_wait_cycles=4_000_000)
    cfg = get_config(os.environ.get("CONFIG", "small"))
    net = load_network(os.environ["NETWORK"])
    x = np.load(os.environ["INPUTS"])["inputs"]
    gold = golden_run(net, x, cfg)
    image = build_image(net, cfg)
    n_out = net.layers[-1].n_out
    log = dut._log

    @bridge
    def host():
        client = HostClient(link, timeout=float(os.environ.get("HOST_TIMEOUT", "60")), clock_hz=1e9 / CLOCK_NS)
        check_identity(client.identify(), cfg)
        if fast != divisor:
            client.set_divisor(fast)
        load_image(client, image)
        c0, sent0, got0 = _cycles(), link.bytes_out, link.bytes_in
        fast_run = infer_stream(client, image, x, n_out)
        elapsed = _cycles() - c0
        sent, got = link.bytes_out - sent0, link.bytes_in - got0
        assert np.array_equal(fast_run.classes, gold.prediction)
        log.info(f"stream, classes only: {len(x)} samples == golden, {elapsed:.0f} cycles")
        full = infer_stream(client, image, x, n_out, counts=True, membranes=True, cycles=True)
        assert np.array_equal(full.counts, gold.counts), (full.counts, gold.counts)
        assert np.array_equal(full.membranes, gold.membranes[-1][:, -1]), "final membranes"
        assert np.array_equal(full.cycles, gold.cycles), (full.cycles, gold.cycles)
        assert np.array_equal(full.classes, gold.prediction), (full.classes, gold.prediction)
        log.info(f"stream with counts, membranes, cycles: {len(x)} samples == golden")
        counters = client.status().counters
        assert counters["UART_OVERRUN"] == 0 and counters["TRUNCATED"] == 0, counters
        return {"samples": len(x), "divisor": fast, "cycles": elapsed,
                "bytes_to_chip": sent, "bytes_from_chip": got,
                "input_bytes": len(stream_bytes(x[0], image)), "core_cycles_mean": float(gold.cycles.mean()),
                "firmware_cycles": fast_run.cpu_cycles}

    r = await host()
    n = r["samples"]
    char = 10 * r["divisor"]
    per_inference = r["cycles"] / n
    limit = r["bytes_to_chip"] / n * char     # the link's time for one inference's bytes
    r.update(cycles_per_inference=per_inference, link_cycles_per_inference=limit,
             link_efficiency=limit / per_inference)
    log.info(f"STREAM END-TO-END: {n} samples, divisor {r['divisor']}: {per_inference:,.0f} cycles per inference, "
             f"{r['bytes_to_chip'] / n:.1f} + {r['bytes_from_chip'] / n:.1f} link bytes per inference "
             f"(input {r['input_bytes']} bytes), {limit / per_inference:.1%} of the link's limit")
    with open(os.environ["REPORT"], "w") as f:
        json.dump(r, f)
