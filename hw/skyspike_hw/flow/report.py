"""The synthesis report: area, cells, flops, timing, power, next to OpenSpike's figures.

:func:`build` makes the machine-readable report (``report.json``), :func:`text` the
human-readable one. Areas in um^2 unless a key says mm2; times in ns; power in W.
"""
from __future__ import annotations

import json
import subprocess
from collections import Counter

from .pdk import CORNER, lef_size, read_liberty_cells

__all__ = ["OPENSPIKE", "TARGETS", "OPENFRAME_AREA_UM", "build", "block", "text"]

#: The OpenFrame harness's user area (um): what the chip top must fit in.
OPENFRAME_AREA_UM = (3166.63, 4766.63)

#: OpenSpike, from ../shared/docs/reference-figures.md: its published RTL synthesized on the
#: same tools (Yosys 0.23, tt liberty) and its own OpenLane run (post-route).
OPENSPIKE = {
    "source": "shared/docs/reference-figures.md",
    "std_cell_area_mm2": 1.139, "cells": 144553, "flops": 24701, "synth_time_min": 4,
    "openlane_core_area_mm2": 8.9, "openlane_cells": 129000, "openlane_clock_period_ns": 40.0,
    "openlane_critical_path_ns": 24.56, "openlane_fmax_mhz": 24.4, "prelayout_path_ns": 4.0,
    "paper_chip_area_mm2": 33.3,
}

#: Targets of the chip configuration at the tt corner.
TARGETS = {"fmax_mhz_min": 50.0, "total_area_mm2_max": 9.0}


def _version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def _cells(files, pdk):
    stat = json.loads(files["stat_json"].read_text())
    (module,) = stat["modules"].values()
    by_type = Counter(module["num_cells_by_type"])
    lib = read_liberty_cells(pdk.liberty)
    std = {c: n for c, n in by_type.items() if c in lib}
    return lib, std, {c: n for c, n in by_type.items() if c not in lib}


def block(files, timing, pdk) -> dict:
    """Cells, flops, area and fmax of a block synthesized alone (the CPU, the boot ROM)."""
    lib, std, _ = _cells(files, pdk)
    area = sum(lib[c].area * n for c, n in std.items())
    return {"cells": sum(std.values()), "flops": sum(n for c, n in std.items() if lib[c].sequential),
            "area_um2": round(area, 1), "area_mm2": round(area / 1e6, 4),
            "fmax_mhz": round(timing.fmax_mhz, 1), "min_period_ns": round(timing.min_period, 3),
            "worst_slack_ns": round(timing.worst_slack, 3), "clock_period_ns": timing.period,
            "critical_path": timing.path_summary()}


def _clock_gating(files) -> dict | None:
    """What :mod:`.clockgate` did (None: synthesized without clock gating)."""
    path = files.get("gating")
    return json.loads(path.read_text()) if path is not None and path.is_file() else None


def build(name, cfg, pdk, files, timing, *, runtime, top="skyspike_core_syn", blocks=None) -> dict:
    """The report of one run of :func:`skyspike_hw.flow.synth.run`."""
    stat = json.loads(files["stat_json"].read_text())
    (module,) = stat["modules"].values()
    by_type = Counter(module["num_cells_by_type"])
    lib = read_liberty_cells(pdk.liberty)
    std = {c: n for c, n in by_type.items() if c in lib}
    others = {c: n for c, n in by_type.items() if c not in lib}

    srams = {}
    for macro, count in sorted(others.items()):
        files_ = pdk.sram(macro)
        area_lib = read_liberty_cells(files_.lib)[macro].area
        w, h = lef_size(files_.lef) if files_.lef.is_file() else (None, None)
        srams[macro] = {"count": count, "area_each_um2": area_lib, "lef_size_um": [w, h] if w else None,
                        "leakage_each_mw": read_liberty_cells(files_.lib)[macro].leakage,
                        "area_um2": count * area_lib}
    std_area = sum(lib[c].area * n for c, n in std.items())
    sram_area = sum(s["area_um2"] for s in srams.values())
    flops = sum(n for c, n in std.items() if lib[c].sequential)
    latches = sum(n for c, n in std.items() if lib[c].latch)
    total_mm2 = (std_area + sram_area) / 1e6
    sram_power_w = sum(row["total"] for row in timing.macro_power.values())
    frame_mm2 = OPENFRAME_AREA_UM[0] * OPENFRAME_AREA_UM[1] / 1e6
    report = {
        "config": name,
        "top": top,
        "core_config": cfg.as_dict(),
        "pdk": {"root": str(pdk.root), "liberty": str(pdk.liberty), "corner": CORNER},
        "tools": {"yosys": _version(["yosys", "-V"]), "opensta": _version(["sta", "-version"])},
        "area": {
            "std_cell_um2": round(std_area, 2), "std_cell_mm2": round(std_area / 1e6, 4),
            "sram_um2": round(sram_area, 2), "sram_mm2": round(sram_area / 1e6, 4),
            "total_mm2": round(total_mm2, 4),
            "openframe_mm2": round(frame_mm2, 3),
            "utilization_pct": round(100 * total_mm2 / frame_mm2, 1),
            "note": "cell and macro area only: no placement density, halos, power grid or I/O ring; "
                    "utilization = (cells + macros) / OpenFrame's user area",
        },
        "sram_macros": srams,
        "cells": {"std_cells": sum(std.values()), "macros": sum(others.values()), "flops": flops,
                  "latches": latches, "by_type": dict(sorted(std.items(), key=lambda kv: -kv[1]))},
        "clock_gating": _clock_gating(files),
        "timing": {
            "prelayout": True, "clock_period_ns": timing.period,
            "worst_slack_ns": round(timing.worst_slack, 3), "wns_ns": round(timing.wns, 3),
            "tns_ns": round(timing.tns, 3), "hold_worst_slack_ns": round(timing.hold_slack, 3),
            "min_period_ns": round(timing.min_period, 3), "fmax_mhz": round(timing.fmax_mhz, 1),
            "critical_path": timing.path_summary(),
            "note": "pre-layout: ideal clock, no wire parasitics; same SDC as OpenLane (openlane/skyspike.sdc)",
        },
        "power": {
            "activity": timing.activity, "clock_period_ns": timing.period,
            "groups_w": timing.power, "total_w": timing.power.get("total", {}).get("total"),
            "sram_macros_w": sram_power_w,
            "note": (f"OpenSTA report_power, set_power_activity -global -activity {timing.activity} "
                     "(transitions per clock cycle on every net), pre-layout (no wire capacitance, "
                     "ideal clock: no clock tree); the totals include the SRAM macros, whose "
                     "liberty models clock-pin energy per access and leakage"),
        },
        "runtime": {k: round(v, 1) for k, v in runtime.items()},
        "blocks": blocks or {},
        "targets": {
            **TARGETS,
            "fmax_met": timing.fmax_mhz >= TARGETS["fmax_mhz_min"],
            "area_met": total_mm2 <= TARGETS["total_area_mm2_max"],
        },
        "openspike": OPENSPIKE,
    }
    return report


def text(r: dict) -> str:
    """The report as text."""
    a, c, t, p = r["area"], r["cells"], r["timing"], r["power"]
    lines = [
        f"SkySpike '{r['config']}' ({r.get('top', 'skyspike_core_syn')}) on sky130_fd_sc_hd ({r['pdk']['corner']}), "
        f"{r['tools']['yosys']}, OpenSTA {r['tools']['opensta']}",
        "",
        "Area",
        f"  standard cells       {a['std_cell_mm2']:9.4f} mm^2  ({c['std_cells']:,} cells, {c['flops']:,} flops)",
    ]
    if r.get("clock_gating"):
        g = r["clock_gating"]
        lines.append(f"  clock gating         {g['gated_flops']:,} of {g['flops']:,} flops behind {g['icgs']} ICGs "
                     f"(dlclkp_1)")
    for name, s in r["sram_macros"].items():
        lines.append(f"  {name}  {s['count']:3d} x {s['area_each_um2'] / 1e6:.4f} mm^2 = {s['area_um2'] / 1e6:.4f} mm^2")
    lines += [
        f"  SRAM macros          {a['sram_mm2']:9.4f} mm^2  ({c['macros']} macros)",
        f"  total (cells+macros) {a['total_mm2']:9.4f} mm^2   chip target <= {r['targets']['total_area_mm2_max']} mm^2: "
        f"{'met' if r['targets']['area_met'] else 'MISSED'}",
        f"  utilization          {a['utilization_pct']:8.1f} %     of OpenFrame's user area ({a['openframe_mm2']} mm^2)",
        "",
        f"Timing (pre-layout, ideal clock, no wires) at {t['clock_period_ns']} ns "
        f"({1000 / t['clock_period_ns']:.1f} MHz)",
        f"  worst setup slack {t['worst_slack_ns']:.3f} ns   WNS {t['wns_ns']:.3f} ns   TNS {t['tns_ns']:.3f} ns   "
        f"worst hold slack {t['hold_worst_slack_ns']:.3f} ns",
        f"  fmax {t['fmax_mhz']:.1f} MHz (min period {t['min_period_ns']:.2f} ns)   chip target >= "
        f"{r['targets']['fmax_mhz_min']} MHz: {'met' if r['targets']['fmax_met'] else 'MISSED'}",
        f"  critical path: {t['critical_path']['startpoint']}",
        f"              -> {t['critical_path']['endpoint']}, arrival {t['critical_path']['arrival_ns']} ns",
        "",
        f"Power at {1000 / p['clock_period_ns']:.1f} MHz, activity {p['activity']} (OpenSTA report_power)",
    ]
    for group, row in p["groups_w"].items():
        if group != "total" and not row["total"]:
            continue  # OpenSTA's "macro" and "pad" groups stay empty: the SRAMs count as cells
        lines.append(f"  {group:13s} internal {row['internal'] * 1e3:8.3f} mW  switching {row['switching'] * 1e3:8.3f} mW  "
                     f"leakage {row['leakage'] * 1e3:8.4f} mW  total {row['total'] * 1e3:8.3f} mW")
    lines.append(f"  of which the {sum(s['count'] for s in r['sram_macros'].values())} SRAM macros "
                 f"{p['sram_macros_w'] * 1e3:.3f} mW")
    for bname, b in r.get("blocks", {}).items():
        what = {"cpu": "PicoRV32 alone (picorv32_wb, the SoC's parameters)", "rom": "boot ROM alone (firmware/)"}
        lines += ["", f"{what.get(bname, bname)}: {b['cells']:,} cells, {b['flops']:,} flops, {b['area_mm2']:.4f} mm^2, "
                      f"fmax {b['fmax_mhz']:.1f} MHz (min period {b['min_period_ns']:.2f} ns, same SDC)",
                  f"  critical path: {b['critical_path']['startpoint']} -> {b['critical_path']['endpoint']}"]
    lines += ["", "Cells by type (top 15)"]
    for name, n in list(c["by_type"].items())[:15]:
        lines.append(f"  {n:8,d}  {name}")
    o = r["openspike"]
    lines += [
        "",
        "Next to OpenSpike (shared/docs/reference-figures.md)",
        f"  {'':28s}{'SkySpike':>14s}{'OpenSpike':>14s}",
        f"  {'std-cell area (synthesis)':28s}{a['std_cell_mm2']:>10.3f} mm2{o['std_cell_area_mm2']:>10.3f} mm2",
        f"  {'cells (synthesis)':28s}{c['std_cells']:>14,d}{o['cells']:>14,d}",
        f"  {'flops':28s}{c['flops']:>14,d}{o['flops']:>14,d}",
        f"  {'fmax':28s}{t['fmax_mhz']:>10.1f} MHz{o['openlane_fmax_mhz']:>10.1f} MHz"
        "  (SkySpike pre-layout; OpenSpike post-route)",
        f"  {'area incl. SRAM':28s}{a['total_mm2']:>10.2f} mm2{o['openlane_core_area_mm2']:>10.1f} mm2"
        "  (SkySpike cells+macros; OpenSpike OpenLane core area)",
        "",
        f"Runtime: synthesis {r['runtime']['synth_s']:.0f} s, STA {r['runtime']['sta_s']:.0f} s",
    ]
    return "\n".join(lines) + "\n"
