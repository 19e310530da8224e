"""Switching activity of a gate-level simulation, per time window, from its VCD.

:func:`read_activity` reads a VCD of one scope (``$dumpvars(1, <netlist top>)``: the netlist's
nets, not the cell models' insides) and returns, for each window [start, end) of simulated
time, every net's toggles and the time it spent at 1. Icarus writes a net's value once per time
step (its ``$dumpvars`` callback runs at the end of the step), so the zero-delay simulation's
delta-cycle glitches are not counted: the toggles are those of the settled values, cycle by cycle.

Written here rather than taken from a VCD library: the ones on PyPI (``pyvcd``, ``vcdvcd``)
tokenize or store every change as Python objects; a one-pass counter over 10^6-10^7 changes
with per-window totals is both simpler and several times faster.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Activity", "read_activity", "dump_module", "TIMESCALE_NS"]

#: VCD time units in ns.
TIMESCALE_NS = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0, "ps": 1e-3, "fs": 1e-6}

_VAR_RE = re.compile(r"\$var\s+\S+\s+(\d+)\s+(\S+)\s+(.+?)\s*\$end")


@dataclass
class Activity:
    """Per-window switching of every net (one bit each) of a VCD scope.

    ``nets``: names as the netlist writes them without Verilog's escape (``_001234_``,
    ``bank_q[0]``, a port bit ``wb_adr[3]``); ``toggles``: int (windows, nets);
    ``high_ns``: float (windows, nets), time at 1; ``length_ns``: float (windows,).
    """

    nets: list[str]
    toggles: np.ndarray
    high_ns: np.ndarray
    length_ns: np.ndarray

    def index(self, net: str) -> int:
        return self.nets.index(net)

    def duty(self) -> np.ndarray:
        """Fraction of each window at 1 (windows, nets)."""
        return self.high_ns / self.length_ns[:, None]


def dump_module(scope: str, vcd: str = "activity.vcd", name: str = "activity_dump") -> str:
    """A root module for Icarus (``-s <name>`` beside the design's top) that dumps the nets of
    ``scope`` (one level: not the cell models' insides) into ``vcd``."""
    return (f"module {name};\n  initial begin\n    $dumpfile(\"{vcd}\");\n"
            f"    $dumpvars(1, {scope});\n  end\nendmodule\n")


def _header(f) -> tuple[float, dict[str, list[tuple[int, str]]], list[str]]:
    """Read up to ``$enddefinitions``: (ns per VCD time unit, {id: [(width, name)]}, bit names)."""
    scale, ids, names, depth, text = 1.0, {}, [], 0, ""
    for line in f:
        text += line
        if "$enddefinitions" in line:
            break
    m = re.search(r"\$timescale\s+(\d+)\s*(\w+)\s+\$end", text)
    if m:
        scale = int(m.group(1)) * TIMESCALE_NS[m.group(2)]
    for tok in re.finditer(r"\$scope\s+\S+\s+\S+\s+\$end|\$upscope\s+\$end|" + _VAR_RE.pattern, text):
        s = tok.group(0)
        if s.startswith("$scope"):
            depth += 1
        elif s.startswith("$upscope"):
            depth -= 1
        elif depth == 1:
            width, ident, ref = int(tok.group(1)), tok.group(2), tok.group(3)
            ref = ref.lstrip("\\").split()
            base, rng = ref[0], (ref[1] if len(ref) > 1 else "")
            if width == 1:
                bits = [base + rng if rng else base]
            else:
                hi, lo = (int(v) for v in re.match(r"\[(\d+):(\d+)\]", rng).groups())
                step = -1 if hi >= lo else 1
                bits = [f"{base}[{i}]" for i in range(hi, lo + step, step)]  # MSB first, as VCD values
            start = len(names)
            names += bits
            ids.setdefault(ident, []).append((start, width))
    return scale, ids, names


def read_activity(vcd: Path, windows_ns: list[tuple[float, float]]) -> Activity:
    """Toggles and time at 1 of every net of the VCD's top scope in each window
    ``[start, end)`` (ns, sorted, not overlapping). X and Z count as 0."""
    windows = [(float(a), float(b)) for a, b in windows_ns]
    if any(b <= a for a, b in windows) or any(b1 > a2 for (_, b1), (a2, _) in zip(windows, windows[1:])):
        raise ValueError(f"windows must be sorted, non-empty and not overlap: {windows_ns}")
    with open(vcd) as f:
        scale, ids, names = _header(f)
        n = len(names)
        val, last, tog, high = [0] * n, [0.0] * n, [0] * n, [0.0] * n
        out_tog, out_high = [], []
        w, inside, t = 0, False, 0.0

        def cross(t_new):
            # Close or open windows up to time t_new (ns).
            nonlocal w, inside, tog, high, last
            while w < len(windows):
                start, end = windows[w]
                if not inside and t_new >= start:
                    inside, last, tog, high = True, [start] * n, [0] * n, [0.0] * n
                elif inside and t_new >= end:
                    out_tog.append(tog)
                    out_high.append([h + (end - t0) * v for h, t0, v in zip(high, last, val)])
                    inside, w = False, w + 1
                else:
                    break

        def change(i, v):
            if v != val[i]:
                if inside:
                    tog[i] += 1
                    if val[i]:
                        high[i] += t - last[i]
                    last[i] = t
                val[i] = v

        for line in f:
            c = line[0]
            if c == "#":
                t = int(line[1:]) * scale
                cross(t)
                if w >= len(windows):
                    break
            elif c in "01xzXZ":
                for start, _width in ids.get(line[1:].strip(), ()):
                    change(start, 1 if c == "1" else 0)
            elif c in "bB":
                bits, ident = line[1:].split()
                for start, width in ids.get(ident, ()):
                    bits_ = bits.rjust(width, "0" if bits[0] in "01" else bits[0])[-width:]
                    for k, b in enumerate(bits_):
                        change(start + k, 1 if b == "1" else 0)
        cross(t)   # the dump ends at its last time stamp
    if len(out_tog) != len(windows):
        raise ValueError(f"{vcd} ends at {t} ns, before window {len(out_tog)} ends ({windows[len(out_tog)]})")
    return Activity(names, np.array(out_tog, np.int64), np.array(out_high, float),
                    np.array([b - a for a, b in windows]))
