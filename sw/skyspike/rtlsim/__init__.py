"""The RTL-simulation backend: run a chip network on the generated Verilog (cocotb, with
Icarus or Verilator) through the core's Wishbone bus, exactly as a host would."""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skyspike.spec import memmap as mm
from skyspike.spec.config import CoreConfig, get_config
from skyspike.chip.golden import run as golden_run
from skyspike.chip.image import build_image, image_writes, input_writes
from skyspike.chip.network import ChipNetwork, as_inputs

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
            sim: str | None = None, build_dir: Path | None = None, backdoor: bool = False,
            quick_build: bool = False, progress: Callable[[RTLEvent], None] | None = None) -> RTLResult:
    """Run input spikes (batch, steps, n_in) through ``net`` on the RTL simulation of ``config``.

    ``backdoor``: load the weight and input SRAMs straight into their simulation models and wait
    for the core's interrupt, instead of bus writes and STATUS polls (what a host does, and the
    default): the same inferences, minutes faster on Icarus for the chip configuration.
    ``quick_build``: an unoptimized Verilator model (see ``run_cocotb``), for short runs.
    ``progress`` gets an :class:`RTLEvent` as the run goes (started, loaded, each sample)."""
    from skyspike_hw.gen import write as write_verilog

    from skyspike.rtlsim.runner import run_cocotb

    cfg = get_config(config)
    x = as_inputs(inputs, net)
    image = build_image(net, cfg)
    gold_cycles = golden_run(net, x, cfg).cycles  # also validates shapes; bounds the wait
    tag = hashlib.sha256(repr(cfg).encode()).hexdigest()[:10]
    build = Path(build_dir or DEFAULT_BUILD).resolve() / tag
    verilog = write_verilog(cfg, build / "verilog")
    per_sample = [input_writes(s, image) for s in x]
    with tempfile.TemporaryDirectory() as tmp:
        job, result, log = Path(tmp) / "job.npz", Path(tmp) / "result.npz", Path(tmp) / "progress.txt"
        np.savez(job, image_writes=np.array(image_writes(image), np.int64).reshape(-1, 2),
                 input_addr=np.array([a for a, _ in per_sample[0]], np.int64),
                 input_words=np.array([[w for _, w in ws] for ws in per_sample], np.int64),
                 n_outs=[ly.n_out for ly in net.layers],
                 state_bases=[lp.state_base for lp in image.placement.layers],
                 steps=net.steps, lanes=cfg.update_lanes, max_cycles=2 * gold_cycles + 100,
                 backdoor=backdoor, bank_depth=cfg.bank_depth, input_depth=cfg.input_depth)
        env = {"SKYSPIKE_JOB": str(job), "SKYSPIKE_RESULT": str(result), "SKYSPIKE_PROGRESS": str(log)}
        with _following(log, progress):
            run_cocotb([verilog], "skyspike_core", "skyspike.rtlsim.tb_infer", build_dir=build, extra_env=env, sim=sim,
                       quick_build=quick_build)
        r = dict(np.load(result))
    n = len(net.layers)
    return RTLResult(r["status"], r["cycles"], r["counts"], [r[f"finals_{i}"] for i in range(n)],
                     [r[f"spikes_{i}"] for i in range(n)], [r[f"membranes_{i}"] for i in range(n)],
                     int(r["sim_cycles"]), float(r["wall_s"]))


@dataclass(frozen=True)
class RTLEvent:
    """A step of an RTL run, as it happens: ``kind`` "started" (the simulator is built and
    running), "loaded" (the image is in its memories, after ``seconds``) or "sample" (sample
    ``sample`` finished in ``cycles`` clock cycles with output spike ``counts``)."""

    kind: str
    seconds: float = 0.0
    sample: int = -1
    cycles: int = 0
    counts: tuple[int, ...] = ()

    @classmethod
    def parse(cls, line: str) -> RTLEvent:
        kind, *rest = line.split()
        if kind == "sample":
            return cls(kind, sample=int(rest[0]), cycles=int(rest[1]),
                       counts=tuple(int(c) for c in rest[2].split(",")) if len(rest) > 2 and rest[2] else ())
        return cls(kind, seconds=float(rest[0]) if rest else 0.0)


@contextmanager
def _following(path: Path, progress: Callable[[RTLEvent], None] | None):
    """Call ``progress`` with each event line the simulation appends to ``path``."""
    if progress is None:
        yield
        return
    done = threading.Event()

    def follow():
        seen = 0
        while True:
            finished = done.is_set()
            text = path.read_text() if path.exists() else ""
            lines = text.splitlines()[: text.count("\n")]   # whole lines only
            for line in lines[seen:]:
                progress(RTLEvent.parse(line))
            seen = len(lines)
            if finished:
                return
            done.wait(0.1)

    thread = threading.Thread(target=follow, name="rtl-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


__all__ = ["RTLResult", "RTLEvent", "run_rtl"]
