"""Clock gating: flops that share an enable take their clock through one integrated
clock-gating cell (ICG) instead of recirculating their output through a multiplexer.

Why: the gate-level energy runs (docs/energy.md) show that ~80 % of the core's energy is the
clock pins of flops that are clocked every cycle, while ~77 % of the flops never change in an
inference (weights of idle lanes, descriptors, membranes of layers not being updated). A
flop behind an ICG is clocked only in the cycles where its enable is on.

Yosys 0.23 (Debian's) has no ``clockgate`` pass, so this one works on its netlist as JSON
(``write_json`` / ``read_json``), at the coarse level: after ``memory_map`` and ``opt``,
where every register is one ``$dff``-family cell with its enable found by ``opt_dff``. Both
``make synth`` (synth.ys) and the Verilog handed to OpenLane (:func:`.synth.export_verilog`)
run it, so the chip that is laid out is the one whose energy is measured. For each (clock,
enable) group of registers with a rising-edge clock and at least ``min_flops`` bits:

* one ``sky130_fd_sc_hd__dlclkp_1`` (CLK, GATE -> GCLK: a latch-based positive-edge ICG,
  glitch-free) is added, its GCLK a new net named ``clockgate<k>_gclk``;
* the registers become their enable-less kind clocked by GCLK: ``$dffe`` -> ``$dff``;
  ``$adffe`` -> ``$adff`` (an asynchronous reset needs no clock); ``$sdffce`` -> ``$sdff``
  (reset only when enabled: GATE = enable); ``$sdffe`` -> ``$sdff`` (the reset wins over the
  enable: GATE = enable | reset).

Function is unchanged cycle for cycle: a gated flop keeps its value exactly when its enable
(and, for ``$_SDFFE_``, its reset) is off. Smaller groups stay multiplexed: an ICG's own
clock pin costs more than a few flops' (docs/energy.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["ICG_FAMILY", "ICG_CELL", "ICG_PORTS", "MIN_FLOPS", "GatingReport", "gate_clocks", "gate_json_file", "main"]

#: The library's integrated clock gate: latch (transparent while CLK is low) and AND.
ICG_FAMILY = "sky130_fd_sc_hd__dlclkp"
ICG_CELL = f"{ICG_FAMILY}_1"
#: Its ports (clock in, enable in, gated clock out).
ICG_PORTS = ("CLK", "GATE", "GCLK")
#: Groups smaller than this keep their multiplexers.
MIN_FLOPS = 8

#: Registers with an enable, and what they become without it.
_PLAIN = {"$dffe": "$dff", "$adffe": "$adff", "$sdffe": "$sdff", "$sdffce": "$sdff"}


@dataclass(frozen=True)
class GatingReport:
    """What :func:`gate_clocks` did: ICGs added, flop bits now behind them, all flop bits with
    an enable, and all flop bits."""

    icgs: int
    gated_flops: int
    enable_flops: int
    flops: int

    def as_dict(self) -> dict:
        return asdict(self)


def _flag(cell: dict, name: str) -> bool:
    return int(cell["parameters"][name], 2) == 1


def _gate_key(cell: dict) -> tuple:
    """(clock, enable bit, enable polarity, reset bit or None, reset polarity)."""
    conn = cell["connections"]
    reset = (conn["SRST"][0], _flag(cell, "SRST_POLARITY")) if cell["type"] == "$sdffe" else (None, True)
    return (conn["CLK"][0], conn["EN"][0], _flag(cell, "EN_POLARITY"), *reset)


class _Netlist:
    """Adds nets and cells to one module of a Yosys JSON netlist."""

    def __init__(self, design: dict, module: dict):
        self.module = module
        self.next_bit = 1 + max((b for m in design["modules"].values() for n in m.get("netnames", {}).values()
                                 for b in n["bits"] if isinstance(b, int)), default=1)

    def net(self, name: str) -> int:
        bit, self.next_bit = self.next_bit, self.next_bit + 1
        self.module["netnames"][name] = {"hide_name": 0, "bits": [bit], "attributes": {}}
        return bit

    def cell(self, name: str, type_: str, ins: dict, outs: dict) -> None:
        self.module["cells"][name] = {
            "hide_name": 0, "type": type_, "parameters": {}, "attributes": {},
            "port_directions": {**{p: "input" for p in ins}, **{p: "output" for p in outs}},
            "connections": {p: [b] for p, b in {**ins, **outs}.items()}}

    def literal(self, name: str, bit: int, positive: bool) -> int:
        """``bit`` or its complement (a ``$_NOT_``)."""
        if positive:
            return bit
        out = self.net(f"{name}_n")
        self.cell(f"{name}_not", "$_NOT_", {"A": bit}, {"Y": out})
        return out


def _icg_module() -> dict:
    ports = {p: {"direction": "output" if p == "GCLK" else "input", "bits": [2 + i]} for i, p in enumerate(ICG_PORTS)}
    return {"attributes": {"blackbox": "00000000000000000000000000000001"}, "ports": ports, "cells": {},
            "netnames": {p: {"hide_name": 0, "bits": v["bits"], "attributes": {}} for p, v in ports.items()}}


def gate_clocks(design: dict, top: str, *, min_flops: int = MIN_FLOPS) -> GatingReport:
    """Clock-gate module ``top`` of the Yosys JSON netlist ``design`` in place (module
    docstring); returns what it did. ``min_flops`` must be a positive int."""
    if isinstance(min_flops, bool) or not isinstance(min_flops, int) or min_flops < 1:
        raise ValueError(f"min_flops must be a positive int, not {min_flops!r}")
    if top not in design.get("modules", {}):
        raise ValueError(f"no module {top!r} in the netlist (has {', '.join(design.get('modules', {}))})")
    module = design["modules"][top]
    groups, flops, enables = defaultdict(list), 0, 0
    for name, cell in module["cells"].items():
        if "dff" not in cell["type"]:
            continue
        width = int(cell["parameters"]["WIDTH"], 2)
        flops += width
        if cell["type"] not in _PLAIN:
            continue
        enables += width
        key = _gate_key(cell)
        if _flag(cell, "CLK_POLARITY") and all(isinstance(b, int) for b in (key[0], key[1], key[3] or 0)):
            groups[key].append((name, width))
    net = _Netlist(design, module)
    icgs = gated = 0
    for key, members in sorted(groups.items(), key=lambda kv: (-sum(w for _, w in kv[1]), kv[0][:2])):
        bits = sum(w for _, w in members)
        if bits < min_flops:
            continue
        _gate_group(net, f"clockgate{icgs}", key, [name for name, _ in members])
        icgs += 1
        gated += bits
    if icgs:
        design["modules"].setdefault(ICG_CELL, _icg_module())
    return GatingReport(icgs=icgs, gated_flops=gated, enable_flops=enables, flops=flops)


def _gate_group(net: _Netlist, name: str, key: tuple, members: list) -> None:
    clock, enable, enable_pos, reset, reset_pos = key
    gate = net.literal(f"{name}_en", enable, enable_pos)
    if reset is not None:
        any_reset = net.literal(f"{name}_rst", reset, reset_pos)
        gate_or = net.net(f"{name}_gate")
        net.cell(f"{name}_or", "$_OR_", {"A": gate, "B": any_reset}, {"Y": gate_or})
        gate = gate_or
    gclk = net.net(f"{name}_gclk")
    net.cell(name, ICG_CELL, {"CLK": clock, "GATE": gate}, {"GCLK": gclk})
    for cell_name in members:
        cell = net.module["cells"][cell_name]
        cell["type"] = _PLAIN[cell["type"]]
        cell["connections"]["CLK"] = [gclk]
        del cell["connections"]["EN"], cell["port_directions"]["EN"], cell["parameters"]["EN_POLARITY"]


def gate_json_file(src: Path, dst: Path, top: str, *, min_flops: int = MIN_FLOPS) -> GatingReport:
    """:func:`gate_clocks` from the JSON file ``src`` to ``dst``."""
    design = json.loads(Path(src).read_text())
    report = gate_clocks(design, top, min_flops=min_flops)
    Path(dst).write_text(json.dumps(design))
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Clock-gate the enable flops of a Yosys JSON netlist (sky130 ICGs).")
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--top", required=True)
    ap.add_argument("--min-flops", type=int, default=MIN_FLOPS)
    ap.add_argument("--report", type=Path, default=None, help="write what was done as JSON here")
    args = ap.parse_args(argv)
    try:
        report = gate_json_file(args.src, args.dst, args.top, min_flops=args.min_flops)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.report:
        args.report.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    print(f"clock gating: {report.icgs} ICGs, {report.gated_flops} of {report.flops} flops gated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
