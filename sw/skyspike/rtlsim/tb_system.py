"""cocotb: the whole system. The firmware boots on the real PicoRV32 in the SoC RTL; the
Python host protocol code (skyspike.link.client.HostClient, unchanged, in a cocotb bridge
thread) talks to it over the simulated UART, loads a trained network, runs inferences and
reads results, which must equal the golden model; then a protocol fuzz of malformed frames
interleaved with valid commands, every one of which must still succeed.

Environment: NETWORK (a skyspike netfile), INPUTS (npz: spikes (batch, steps, n_in)),
DIVISOR (UART clocks per bit), FUZZ (malformed frames), SEED, REPORT (JSON file for the
end-to-end cycle figures; used by make bench).
"""
from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb._bridge import bridge
from cocotb.utils import get_sim_time

from skyspike.spec import memmap as mm
from skyspike.link.client import HostClient
from skyspike.link.commands import MAX_PAYLOAD, Cmd, Status
from skyspike.link.streaming import AnswerParser, stream_request
from skyspike.link.frames import encode_frame
from skyspike.spec.config import CONFIGS
from skyspike.chip.golden import run as golden_run
from skyspike.chip.image import build_image
from skyspike.chip.netfile import load_network
from skyspike.rtlsim.bus import CLOCK_NS
from skyspike.link.host import infer, infer_stream, load_image, stream_bytes, stream_geometry
from skyspike.rtlsim.uartlink import SimUartLink, reset_soc


FW_INTERBYTE_GAP = 24  # characters of silence (firmware gives up a partial frame well before)
#: The floor of the firmware's inter-byte timeout in CPU cycles (FW_MIN_TIMEOUT, firmware/src/
#: hal_soc.c): at fast simulation divisors it exceeds FW_INTERBYTE_GAP characters.
FW_MIN_TIMEOUT = 20_000


def fuzz_gap(char_cycles: int) -> int:
    """Cycles of silence after a malformed frame: longer than the firmware's inter-byte
    timeout (16 characters, at least FW_MIN_TIMEOUT cycles), so that a truncated frame is
    given up before the next one starts instead of swallowing it."""
    return max(FW_INTERBYTE_GAP * char_cycles, FW_MIN_TIMEOUT + 4 * char_cycles)


def malformed_frames(rng: random.Random, n: int):
    """Bad CRC, bad length, unknown command, bad version, truncated frames and garbage."""
    for i in range(n):
        kind = i % 6
        good = bytearray(encode_frame(Cmd.READ_MEM, rng.randrange(256), bytes(6)))
        if kind == 0:
            good[-1] ^= 1 << rng.randrange(8)                     # bad CRC
        elif kind == 1:
            good[5:7] = (MAX_PAYLOAD + 1 + rng.randrange(100)).to_bytes(2, "little")  # bad length
        elif kind == 2:
            good = bytearray(encode_frame(0x60 + rng.randrange(16), rng.randrange(256)))  # unknown command
        elif kind == 3:
            good = bytearray(encode_frame(Cmd.IDENTIFY, rng.randrange(256), version=7))  # bad version
        elif kind == 4:
            good = good[: rng.randrange(2, len(good) - 1)]          # truncated
        else:
            good = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 24)))  # garbage
        yield kind, bytes(good)


@cocotb.test()
async def system(dut):
    divisor = int(os.environ.get("DIVISOR", "32"))
    await reset_soc(dut)
    link = SimUartLink(dut, divisor)

    cfg = CONFIGS[os.environ.get("CONFIG", "small")]
    net = load_network(os.environ["NETWORK"])
    x = np.load(os.environ["INPUTS"])["spikes"]
    gold = golden_run(net, x, cfg)
    image = build_image(net, cfg)
    n_outs = [ly.n_out for ly in net.layers]
    log = dut._log

    @bridge
    def host():
        # Wall-clock deadlines are generous: simulated time is what the link measures.
        client = HostClient(link, timeout=120.0, clock_hz=1e9 / CLOCK_NS)
        ident = client.identify()
        assert ident.core_ok, ident
        load_image(client, image)
        report = []
        for b in range(len(x)):  # odd samples: the firmware polls; even: it waits for the interrupt
            c0, t0 = get_sim_time("ns") / CLOCK_NS, link.bytes_out + link.bytes_in
            result, counts, finals = infer(client, image, x[b], n_outs, use_irq=bool(b % 2 == 0))
            total = get_sim_time("ns") / CLOCK_NS - c0
            assert result.error == 0, result
            assert result.cycles == gold.cycles[b], (result.cycles, gold.cycles[b])
            assert np.array_equal(counts, gold.counts[b]), (counts, gold.counts[b])
            for ly in range(len(n_outs)):
                assert np.array_equal(finals[ly], gold.membranes[ly][b, -1]), f"sample {b} layer {ly}"
            report.append((result.cycles, total, link.bytes_out + link.bytes_in - t0))
            log.info(f"sample {b}: core {result.cycles} cycles, end to end {total:.0f} cycles "
                     f"({report[-1][2]} UART bytes), counts {counts.tolist()} == golden")

        # Protocol fuzz: malformed frames interleaved with valid commands.
        rng = random.Random(int(os.environ.get("SEED", "1")))
        n_fuzz = int(os.environ.get("FUZZ", "200"))
        if not n_fuzz:
            return report
        probe = mm.WEIGHT_BASE
        expect = client.read_mem(probe, 4)
        for i, (_, frame) in enumerate(malformed_frames(rng, n_fuzz)):
            link.write(frame)
            # Quiet for longer than the firmware's inter-byte timeout: a partial frame is
            # given up there, as a host does after line noise, before the next command.
            link.idle(fuzz_gap(link.char_cycles))
            if i % 8 == 7:
                assert client.read_mem(probe, 4) == expect, f"after malformed frame {i}"
                assert client.identify().core_ok
        stats = client.status()
        log.info(f"fuzz: {n_fuzz} malformed frames; firmware counters {stats.counters}")
        assert stats.counters["BAD_CRC"] > 0 and stats.counters["UNKNOWN_COMMAND"] > 0
        # The state survived: the same network still gives the golden answer.
        result, counts, _ = infer(client, image, x[0], n_outs)
        assert np.array_equal(counts, gold.counts[0]) and result.cycles == gold.cycles[0]
        # A stream cut short (half an image, then silence) closes with TRUNCATED; the next
        # stream, through the same parser, is golden.
        geo = stream_geometry(image, x.shape[-1], n_outs[-1])
        client.request(Cmd.STREAM, stream_request(2, 0, geo), retry=False)
        link.write(stream_bytes(x[0], image)[: geo.image_bytes // 2])
        closing = AnswerParser(Cmd.STREAM, client.seq, 2, 1)
        while closing.closing is None:
            closing.feed(link.read(64, 1.0))
        assert closing.closing.status == Status.TRUNCATED and not closing.answers, closing.closing
        streamed = infer_stream(client, image, x, n_outs[-1], counts=True)
        assert np.array_equal(streamed.counts, gold.counts) and np.array_equal(streamed.classes, gold.prediction)
        log.info("stream after the fuzz and a truncated stream: golden")
        return report

    report = await host()
    cores = float(np.mean([r[0] for r in report]))
    ends = float(np.mean([r[1] for r in report]))
    uart_bytes = float(np.mean([r[2] for r in report]))
    log.info(f"END-TO-END: core {cores:.0f} cycles/inference, through firmware and UART "
             f"(divisor {divisor}) {ends:.0f} cycles ({ends / cores:.1f}x), {uart_bytes:.0f} UART bytes per inference")
    if os.environ.get("REPORT"):
        with open(os.environ["REPORT"], "w") as f:
            json.dump({"core_cycles": cores, "end_to_end_cycles": ends, "uart_bytes": uart_bytes,
                       "uart_cycles": uart_bytes * 10 * divisor, "divisor": divisor}, f)
