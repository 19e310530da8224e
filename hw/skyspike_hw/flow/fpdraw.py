"""The floorplan as a picture and as a summary (``make floorplan``).

:func:`pin_sides` reads which edge of an OpenRAM macro each pin sits on (its LEF);
:func:`draw` writes the PNG (matplotlib): die, GPIO pad sides, channels, standard-cell
region, macros labelled with their orientation and pin edges; :func:`summary` is the text
(a rich table: coloured in a terminal, plain in a log). The floorplan is a
:class:`.floorplan.Floorplan` (not imported here: :mod:`.floorplan`'s CLI imports this module).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

__all__ = ["pin_sides", "draw", "summary"]

_PIN_RE = re.compile(r"^\s*PIN\s+(\S+)(.*?)^\s*END\s+\1(?=\s)", re.M | re.S)
_RECT_RE = re.compile(r"RECT\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)")
_PORT1_RE = re.compile(r"^[a-z]+1(\[|$)")  # clk1, csb1, addr1[..], dout1[..]
_SIZE_RE = re.compile(r"^\s*SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", re.M)


def pin_sides(lef: Path) -> dict[str, list[str]]:
    """{edge N/S/E/W of the macro's own view: signal pins touching it} from a LEF file (first
    macro; power pins and pins off the boundary left out). ValueError if it has no SIZE."""
    text = Path(lef).read_text()
    size = _SIZE_RE.search(text)
    if not size:
        raise ValueError(f"no SIZE in {lef}")
    w, h = float(size.group(1)), float(size.group(2))
    sides: dict[str, list[str]] = {"N": [], "S": [], "E": [], "W": []}
    for m in _PIN_RE.finditer(text):
        name, body = m.group(1), m.group(2)
        if "USE POWER" in body or "USE GROUND" in body:
            continue
        for x0, y0, x1, y1 in (tuple(map(float, r)) for r in _RECT_RE.findall(body)):
            side = "W" if x0 <= 0 else "E" if x1 >= w else "S" if y0 <= 0 else "N" if y1 >= h else None
            if side:
                sides[side].append(name)
                break
    return sides


def _edge(box, side):
    """The segment ((x0, x1), (y0, y1)) of a box's edge."""
    return {"N": ((box.x0, box.x1), (box.y1, box.y1)), "S": ((box.x0, box.x1), (box.y0, box.y0)),
            "E": ((box.x1, box.x1), (box.y0, box.y1)), "W": ((box.x0, box.x0), (box.y0, box.y1))}[side]


def draw(fp, path: Path, sides: dict[str, dict[str, list[str]]] | None = None,
         gpio_sides: dict[str, range] | None = None, title: str = "") -> Path:
    """Write the floorplan picture to ``path`` (PNG). ``sides``: {macro: :func:`pin_sides`}
    to mark the pin edges (port 0: the bus side; port 1: the engine's reads); ``gpio_sides``:
    {die edge N/S/E/W: GPIO numbers} of the padframe."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    die = fp.die
    fig, ax = plt.subplots(figsize=(8.5, 12), dpi=110)
    ax.add_patch(Rectangle((die.x0, die.y0), die.w, die.h, fill=False, lw=2, ec="black"))
    m = fp.rules.edge_margin
    ax.add_patch(Rectangle((die.x0 + m, die.y0 + m), die.w - 2 * m, die.h - 2 * m, fill=False, lw=0.6,
                           ls="--", ec="grey"))
    for ch in fp.channels:
        ax.add_patch(Rectangle((ch.x0, ch.y0), ch.w, ch.h, fc="#dbe9ff", ec="none"))
    cr = fp.cell_region
    ax.add_patch(Rectangle((cr.x0, cr.y0), cr.w, cr.h, fc="#dff5d8", ec="#5a9e4b", lw=1))
    ax.text(cr.x0 + cr.w / 2, cr.y0 + cr.h * 0.45, f"standard cells\n{cr.w:.0f} x {cr.h:.0f} um\n"
            "CPU, boot ROM, UART,\nSNN datapath", ha="center", va="center", fontsize=9, color="#2d6a1f")
    colors = {"0": "#d62728", "1": "#1f5fd6"}
    for p in fp.placements:
        b, hb = p.box, p.box.grown(fp.rules.halo)
        ax.add_patch(Rectangle((hb.x0, hb.y0), hb.w, hb.h, fill=False, ec="#999999", lw=0.5, ls=":"))
        ax.add_patch(Rectangle((b.x0, b.y0), b.w, b.h, fc="#c8c8c8", ec="black", lw=0.8))
        ax.text(b.x0 + b.w / 2, b.y0 + b.h / 2, f"{p.name.removesuffix('_macro')}\n{p.orientation}",
                ha="center", va="center", fontsize=6.5)
        for own, pins in (sides or {}).get(p.macro, {}).items():
            if not pins:
                continue
            port = "1" if sum(bool(_PORT1_RE.match(pin)) for pin in pins) * 2 > len(pins) else "0"
            xs, ys = _edge(b, p.side(own))
            ax.plot(xs, ys, color=colors[port], lw=0.6 + min(len(pins), 70) / 25)
    for side, gpios in (gpio_sides or {}).items():
        label = f"GPIO {gpios.start}-{gpios.stop - 1}"
        pos = {"E": (die.x1 + 40, die.y0 + die.h / 2, 270), "W": (die.x0 - 40, die.y0 + die.h / 2, 90),
               "N": (die.x0 + die.w / 2, die.y1 + 40, 0), "S": (die.x0 + die.w / 2, die.y0 - 40, 0)}[side]
        ax.text(pos[0], pos[1], f"pads: {label}", rotation=pos[2], ha="center", va="center", fontsize=9,
                color="#7a4b00")
    ax.plot([], [], color=colors["0"], lw=2, label="port-0 pins (bus side: din0/dout0, addr0, csb0/web0)")
    ax.plot([], [], color=colors["1"], lw=2, label="port-1 pins (engine reads: dout1, addr1, csb1)")
    ax.add_patch(Rectangle((0, 0), 0, 0, fc="#dbe9ff", label=f"routing channels (>= {fp.rules.min_channel:g} um)"))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.05), fontsize=8, ncol=1, frameon=False)
    ax.set_xlim(die.x0 - 150, die.x1 + 150)
    ax.set_ylim(die.y0 - 150, die.y1 + 150)
    ax.set_aspect("equal")
    ax.set_xlabel("um")
    ax.set_title(title or f"OpenFrame user area {die.w:g} x {die.h:g} um, {len(fp.placements)} SRAM macros",
                 fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def summary(fp, util: dict, widths: dict, *, cell_source: str = "", color: bool | None = None) -> str:
    """The floorplan's figures as text: a rich table (``color``: None decides by the terminal)."""
    from rich.console import Console
    from rich.table import Table

    r = fp.rules
    t = Table(title=f"floorplan: {len(fp.placements)} macros on the OpenFrame die "
                    f"{fp.die.w:g} x {fp.die.h:g} um", show_header=True)
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("rule / note")
    mm = "mm\N{SUPERSCRIPT TWO}"
    t.add_row("die", f"{util['die_mm2']:.2f} {mm}", "")
    t.add_row("SRAM macros", f"{util['macro_mm2']:.2f} {mm}", f"{util['macro_fraction']:.1%} of the die; "
              f"{util['macro_with_halo_mm2']:.2f} {mm} with {r.halo:g} um halos")
    t.add_row("narrowest channel, side by side", f"{widths['x']:.2f} um", f">= {r.min_channel:g} um")
    t.add_row("narrowest channel, above/below", f"{widths['y']:.2f} um", f">= {r.min_channel:g} um")
    t.add_row("macro to die edge", f"{widths['edge']:.2f} um", f">= {r.edge_margin:g} um")
    cr = fp.cell_region
    t.add_row("cell region", f"{util['cell_region_mm2']:.2f} {mm}",
              f"{cr.w:.0f} x {cr.h:.0f} um; {util['cell_region_net_mm2']:.2f} {mm} without macros/halos")
    t.add_row(f"cells it holds at {r.target_density:.0%}", f"{util['cell_region_capacity_mm2']:.2f} {mm}",
              f"whole die outside macros: {util['free_capacity_mm2']:.2f} {mm}")
    if util.get("cell_mm2") is not None:
        t.add_row("standard cells (synthesis)", f"{util['cell_mm2']:.2f} {mm}",
                  f"{util['cell_fraction_of_region']:.0%} of the cell region, "
                  f"{util['cell_fraction_of_free']:.0%} of the free area; {cell_source}")
        t.add_row("macros + cells", f"{util['total_fraction']:.1%}", "of the die")
    else:
        t.add_row("standard cells (synthesis)", "-", cell_source or "no `make synth` report")
    buf = io.StringIO()
    Console(file=buf, width=110, force_terminal=bool(color), no_color=not color,
            color_system="standard" if color else None).print(t)
    return buf.getvalue()
