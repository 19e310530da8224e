"""``make fpga-check``: the driver against a board running the FPGA build (``make fpga``,
``make fpga-prog``), end to end: identity and capabilities, the image load, then a STREAM of
test images of the trained digits network, every answer checked against the golden model, and
the throughput measured (inferences per second, with the time of the identity check and of
the image load).

``python -m skyspike.apps.fpgacheck --port /dev/ttyUSB0`` (a device or a pyserial URL). The
network (64-48-10, the digits recipe) fits every configuration. With no board on the port it
says so in one line and exits with 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from skyspike.spec.config import CONFIGS, CoreConfig, get_config

__all__ = ["measure", "report_lines", "main"]

BUILD = Path("build") / "fpga-check"


def measure(link, net, x: np.ndarray, cfg: str | CoreConfig, *, clock_hz: float = 50e6, timeout: float = 2.0) -> dict:
    """Identity check, image load and a STREAM of ``x`` over ``link`` (a Link: a port, or the
    simulated UART in the tests), timed in wall-clock time, the answers compared with the golden
    model's. ``clock_hz`` and ``timeout``: the driver's (HostClient's)."""
    from skyspike.backends import GoldenBackend
    from skyspike.chip.image import build_image
    from skyspike.link.client import HostClient
    from skyspike.link.host import check_identity, load_image, run_inferences

    cfg = get_config(cfg)
    image = build_image(net, cfg)
    client = HostClient(link, timeout=timeout, clock_hz=clock_hz)
    t0 = time.monotonic()
    check_identity(client.identify(), cfg)
    t1 = time.monotonic()
    load_image(client, image)
    t2 = time.monotonic()
    counts, finals, cycles = run_inferences(client, image, x, [ly.n_out for ly in net.layers])
    t3 = time.monotonic()
    gold = GoldenBackend().run(net, x, cfg)
    equal = bool(np.array_equal(counts, gold.counts) and np.array_equal(cycles, gold.cycles)
                 and np.array_equal(finals[-1], gold.finals[-1]))
    n = len(x)
    return {"samples": n, "identify_s": t1 - t0, "load_s": t2 - t1, "stream_s": t3 - t2,
            "inferences_per_s": n / max(t3 - t2, 1e-9), "core_cycles_mean": float(np.mean(cycles)),
            "golden_equal": equal}


def report_lines(r: dict) -> list[str]:
    """:func:`measure`'s report as the lines the command prints."""
    return [f"identify {r['identify_s'] * 1e3:.1f} ms, image load {r['load_s']:.2f} s",
             f"{r['samples']} inferences in {r['stream_s']:.2f} s: {r['inferences_per_s']:.1f} inferences/s "
             f"({r['core_cycles_mean']:.0f} core cycles each)",
             f"answers equal to the golden model: {'yes' if r['golden_equal'] else 'NO'}"]


def _no_board(port: str) -> str | None:
    """Why there is no board on ``port`` (a device path that does not exist), or None."""
    if "://" in port:
        return None
    if not Path(port).exists():
        return f"no board: {port} does not exist (connect a board with `make fpga-prog`, or give PORT=...)"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Check a board running the SkySpike FPGA build, end to end.")
    ap.add_argument("--port", default="/dev/ttyUSB0", help="serial device or pyserial URL")
    ap.add_argument("--baud", type=int, default=115200, help="the board's UART rate (the bitstream's metadata)")
    ap.add_argument("--clock-mhz", type=float, default=50.0, help="the board's clock (for the driver's timeouts)")
    ap.add_argument("--samples", type=int, default=100, help="test images to stream")
    ap.add_argument("--out", type=Path, default=BUILD, help="where the network is trained (cached)")
    ap.add_argument("--config", default="small", choices=sorted(CONFIGS),
                    help="the configuration the board's bitstream was built for (make fpga FPGA_CONFIG=)")
    args = ap.parse_args(argv)
    why = _no_board(args.port)
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    from rich.console import Console

    from skyspike.errors import SkySpikeError
    from skyspike.link.links import SerialLink
    from skyspike.rtlsim.system import trained_small_network
    from skyspike.chip.netfile import load_network

    console = Console()
    try:
        with console.status("training (or loading) the digits network"):
            network, inputs = trained_small_network(args.out, samples=args.samples)
        net, x = load_network(network), np.load(inputs)["spikes"]
        link = SerialLink.open(args.port, args.baud)
    except (OSError, ValueError) as exc:
        print(f"error: no board: {args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        with console.status(f"{args.samples} inferences on the board at {args.port}"):
            r = measure(link, net, x, args.config, clock_hz=args.clock_mhz * 1e6)
    except (SkySpikeError, OSError, TimeoutError) as exc:
        print(f"error: the board at {args.port} did not answer as a SkySpike {args.config} build: {exc}",
              file=sys.stderr)
        return 1
    finally:
        link.close()
    for line in report_lines(r):
        console.print(line)
    return 0 if r["golden_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
