"""The RTL-simulation backend: run a chip network on the generated Verilog (cocotb, with
Icarus or Verilator) through the core's Wishbone bus, exactly as a host would."""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skyspike.spec import memmap as mm
from skyspike.spec.config import CoreConfig, get_config
from skyspike.chip.golden import run as golden_run
from skyspike.chip.image import build_image, image_writes, input_writes
from skyspike.chip.network import ChipNetwork

DEFAULT_BUILD = Path(os.environ.get("SKYSPIKE_BUILD", "build")) / "rtlsim"


@dataclass
class RTLResult:
    status: np.ndarray          # (batch,) STATUS register after each run
    cycles: np.ndarray          # (batch,) CYCLES register
    counts: np.ndarray          # (batch, n_out of the last layer)
    finals: list[np.ndarray]    # per layer (batch, n_out): membranes read back over the bus
    spikes: list[np.ndarray]    # per layer (batch, steps, n_out), from the engine's update trace
    membranes: list[np.ndarray]
    sim_cycles: int = 0         # clock cycles simulated in the inference loop
    wall_s: float = 0.0         # wall time of that loop

    @property
    def cycles_per_second(self) -> float:
        return self.sim_cycles / self.wall_s if self.wall_s else 0.0

    @property
    def errors(self) -> np.ndarray:
        error = mm.STATUS["error"]
        return (self.status >> error.lsb) & ((1 << error.width) - 1)


def run_rtl(net: ChipNetwork, inputs: np.ndarray, config: str | CoreConfig = "chip", *,
            sim: str | None = None, build_dir: Path | None = None) -> RTLResult:
    """Run input spikes (batch, steps, n_in) through ``net`` on the RTL simulation of ``config``."""
    from skyspike_hw.gen import write as write_verilog

    from skyspike.rtlsim.runner import run_cocotb

    cfg = get_config(config)
    x = np.asarray(inputs, bool)
    if x.ndim == 2:
        x = x[None]
    image = build_image(net, cfg)
    gold_cycles = golden_run(net, x, cfg).cycles  # also validates shapes; bounds the wait
    tag = hashlib.sha256(repr(cfg).encode()).hexdigest()[:10]
    build = Path(build_dir or DEFAULT_BUILD).resolve() / tag
    verilog = write_verilog(cfg, build / "verilog")
    per_sample = [input_writes(s, image) for s in x]
    with tempfile.TemporaryDirectory() as tmp:
        job, result = Path(tmp) / "job.npz", Path(tmp) / "result.npz"
        np.savez(job, image_writes=np.array(image_writes(image), np.int64).reshape(-1, 2),
                 input_addr=np.array([a for a, _ in per_sample[0]], np.int64),
                 input_words=np.array([[w for _, w in ws] for ws in per_sample], np.int64),
                 n_outs=[ly.n_out for ly in net.layers],
                 state_bases=[lp.state_base for lp in image.placement.layers],
                 steps=net.steps, lanes=cfg.update_lanes, max_cycles=2 * gold_cycles + 100)
        run_cocotb([verilog], "skyspike_core", "skyspike.rtlsim.tb_infer", build_dir=build,
                   extra_env={"SKYSPIKE_JOB": str(job), "SKYSPIKE_RESULT": str(result)}, sim=sim)
        r = dict(np.load(result))
    n = len(net.layers)
    return RTLResult(r["status"], r["cycles"], r["counts"], [r[f"finals_{i}"] for i in range(n)],
                     [r[f"spikes_{i}"] for i in range(n)], [r[f"membranes_{i}"] for i in range(n)],
                     int(r["sim_cycles"]), float(r["wall_s"]))


__all__ = ["RTLResult", "run_rtl"]
