"""The OpenFrame floorplan of the chip, as data: where every SRAM macro stands, computed.

The chip top (``openframe_project_wrapper``) fills OpenFrame's user area, 3166.63 x 4766.63 um
(the die of its LEF and DEF template). :func:`plan` stands the macros in columns, two on each
side, every macro edge facing a routing channel of at least :attr:`Rules.min_channel` (the
macros' pins sit on met3/met4 at all four edges and nothing routes over a macro); the region
between the inner columns is the standard-cell region of the logic (CPU, boot ROM, UART, the
SNN core's datapath), and the macros listed in :attr:`Rules.center` (the CPU's data RAM) stand
in it. :func:`check` verifies any floorplan against those rules; :func:`openlane_config`
writes the placement into OpenLane 2's configuration: ``openlane/base.json`` (the hand-written
settings) plus what this module computes is ``openlane/config.json`` (generated, committed;
``make floorplan`` rewrites it and a test checks that it is up to date).

``python -m skyspike_hw.flow.floorplan`` (``make floorplan``) plans, checks, writes the
configuration, validates it against OpenLane's variable definitions (:mod:`.olcheck`), prints
a summary with the utilization and draws ``build/floorplan/floorplan.png`` (:mod:`.fpdraw`).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from skyspike.spec.config import SRAM_MACROS

from .. import pins
from . import synth

__all__ = ["OPENFRAME_DIE", "GPIO_SIDES", "SITE", "BASE_CONFIG", "CONFIG", "FloorplanError", "Rect", "Rules",
           "Placement", "Floorplan", "chip_macros", "macro_size", "plan", "check", "pdn_connections",
           "openlane_config", "config_text", "utilization"]

#: OpenFrame's user area (die) in um: ``DIEAREA`` of ``openframe_project_wrapper.def``
#: (openframe_user_project, openlane/openframe_project_wrapper/fixed_dont_change/).
OPENFRAME_DIE = (0.0, 0.0, 3166.63, 4766.63)
#: The die edge of each GPIO's pins in that DEF (the padframe's sides): east 0-14 (bottom to top),
#: north 15-23 (right to left), west 24-37 (top to bottom), south 38-43 (the former
#: management pads: clock, reset, flash, ...).
GPIO_SIDES = {"E": range(0, 15), "N": range(15, 24), "W": range(24, 38), "S": range(38, 44)}
#: sky130_fd_sc_hd's placement site (um): macro origins snap to it (x to its width, y to rows).
SITE = (0.46, 2.72)
BASE_CONFIG = synth.REPO / "openlane" / "base.json"
CONFIG = synth.REPO / "openlane" / "config.json"


class FloorplanError(ValueError):
    """The macros do not fit the die under the rules, or a floorplan breaks them (overlap,
    outside the die, a channel narrower than the minimum, a macro without power). The message
    is one line naming the instance(s) and the numbers."""


def chip_macros(config="chip") -> dict[str, str]:
    """{instance name in the flattened chip-top netlist: macro name}
    (:func:`.synth.chip_macro_instances`)."""
    return dict(synth.chip_macro_instances(config))


def macro_size(name: str) -> tuple[float, float]:
    """(width, height) in um of the OpenRAM macro ``name`` (its LEF ``SIZE``, as in
    :data:`skyspike.spec.config.SRAM_MACROS`); ValueError for an unknown macro."""
    for m in SRAM_MACROS.values():
        if m.name == name:
            return m.width_um, m.height_um
    raise ValueError(f"unknown SRAM macro {name!r}: not one of {[m.name for m in SRAM_MACROS.values()]}")


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in um, ``x0 <= x1``, ``y0 <= y1``."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self):
        if not (self.x0 <= self.x1 and self.y0 <= self.y1):
            raise ValueError(f"not a rectangle: {self}")

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return self.w * self.h

    def intersection(self, other: Rect) -> float:
        """The area (um^2) the two rectangles share."""
        return max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0)) * \
            max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))

    def grown(self, d: float) -> Rect:
        """This rectangle with ``d`` um added on every side."""
        return Rect(self.x0 - d, self.y0 - d, self.x1 + d, self.y1 + d)

    def inside(self, other: Rect) -> bool:
        return other.x0 <= self.x0 and other.y0 <= self.y0 and self.x1 <= other.x1 and self.y1 <= other.y1

    def overlaps(self, other: Rect) -> bool:
        """True when the interiors meet (touching edges do not overlap)."""
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def gap(self, other: Rect) -> tuple[str, float] | None:
        """The channel between two rectangles that face each other: ("x", width) when they
        share a stretch of y (side by side), ("y", height) when they share a stretch of x
        (one above the other); None when they are only diagonal neighbours or overlap."""
        if self.overlaps(other):
            return None
        if self.y0 < other.y1 and other.y0 < self.y1:
            return "x", max(other.x0 - self.x1, self.x0 - other.x1)
        if self.x0 < other.x1 and other.x0 < self.x1:
            return "y", max(other.y0 - self.y1, self.y0 - other.y1)
        return None


@dataclass(frozen=True)
class Rules:
    """What the floorplan promises, in um.

    ``min_channel``: the least distance between facing macro edges (routing channels: the
    macros' pins are on met3/met4 on all four edges and block routing over them);
    ``edge_margin``: macro to die edge (the ring where the padframe's pins and the power
    straps enter); ``column_channel``: between the two macro columns of a side;
    ``halo``: standard-cell keep-out around every macro (OpenLane's FP_MACRO_*_HALO);
    ``pdn_halo``: power-grid keep-out (FP_PDN_*_HALO); ``columns_per_side``: macro columns
    left and right of the cell region; ``center``: instances that stand in the cell region
    (at its top); ``center_min``: least width of the cell region; ``target_density``: the
    placement density (PL_TARGET_DENSITY_PCT / 100)."""

    min_channel: float = 100.0
    edge_margin: float = 100.0
    column_channel: float = 120.0
    halo: float = 20.0
    pdn_halo: float = 10.0
    columns_per_side: int = 2
    center: tuple[str, ...] = ("ram_macro",)
    center_min: float = 700.0
    target_density: float = 0.50

    def __post_init__(self):
        for name in ("min_channel", "edge_margin", "column_channel", "halo", "pdn_halo", "center_min"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"Rules.{name} must be a finite number >= 0, not {v!r}")
        if isinstance(self.columns_per_side, bool) or not isinstance(self.columns_per_side, int) \
                or self.columns_per_side < 1:
            raise ValueError(f"Rules.columns_per_side must be an int >= 1, not {self.columns_per_side!r}")
        if not 0 < self.target_density <= 1:
            raise ValueError(f"Rules.target_density must be in (0, 1], not {self.target_density!r}")
        if self.column_channel < self.min_channel or self.edge_margin < self.min_channel:
            raise ValueError(f"Rules: column_channel ({self.column_channel}) and edge_margin "
                             f"({self.edge_margin}) must be >= min_channel ({self.min_channel})")
        if 2 * self.halo > self.min_channel:
            raise ValueError(f"Rules: two halos ({2 * self.halo}) exceed min_channel ({self.min_channel})")


#: OpenLane orientation -> (mirror x, mirror y) of the macro's own view (N).
ORIENTATIONS = {"N": (False, False), "FN": (True, False), "FS": (False, True), "S": (True, True)}


@dataclass(frozen=True)
class Placement:
    """One macro instance: its box on the die (the origin is OpenLane's ``location``) and its
    OpenLane orientation (N, FN: mirrored east-west, FS: mirrored north-south, S: both)."""

    name: str
    macro: str
    box: Rect
    orientation: str

    def side(self, own: str) -> str:
        """Where the macro's own edge ``own`` (N/S/E/W of its LEF) lies once placed."""
        fx, fy = ORIENTATIONS[self.orientation]
        flip = {"E": "W", "W": "E", "N": "S", "S": "N"}
        return flip[own] if (own in "EW" and fx) or (own in "NS" and fy) else own


@dataclass(frozen=True)
class Floorplan:
    """The die, the placed macros, the standard-cell region, the channels (for the picture)
    and the rules it was made under."""

    die: Rect
    placements: tuple[Placement, ...]
    cell_region: Rect
    rules: Rules
    channels: tuple[Rect, ...] = field(default=())

    def __getitem__(self, name: str) -> Placement:
        for p in self.placements:
            if p.name == name:
                return p
        raise KeyError(name)


def _snap(v: float, grid: float, up: bool) -> float:
    """``v`` on the ``grid``: the next point up (``up``) or down, to 1 nm."""
    k = v / grid
    return round((math.ceil(k - 1e-9) if up else math.floor(k + 1e-9)) * grid, 3)


def _check_instances(instances) -> dict[str, str]:
    if not isinstance(instances, dict) or not instances:
        raise TypeError(f"instances must be a non-empty dict {{instance: macro}}, not {instances!r}"[:200])
    for inst, macro in instances.items():
        if not isinstance(inst, str) or not re.fullmatch(r"[A-Za-z_][\w.\[\]$]*", inst):
            raise ValueError(f"bad instance name {inst!r}")
        macro_size(macro)
    return instances


def plan(instances: dict[str, str], rules: Rules = Rules(), die: tuple = OPENFRAME_DIE) -> Floorplan:
    """Place ``instances`` ({instance: macro}) on ``die`` (x0, y0, x1, y1 in um).

    The instances of ``rules.center`` stand centred at the top of the cell region; the others
    fill ``2 * rules.columns_per_side`` columns, column by column from the left, bottom to top
    in the order given, rows spread evenly over the height. Left columns are ``N`` (the
    macro's east edge, port 1's control pins, faces the cell region), right columns mirrored
    ``FN``; every other row is also mirrored north-south (``FS``/``S``), so that two rows share
    a channel of port-1 pins (``dout1``, the engine's reads) and the next a channel of port-0
    pins (``din0``/``dout0``, the bus side). Origins snap to :data:`SITE`, away from the die's
    edges (left columns and lower rows up, the others down).

    Raises :exc:`FloorplanError` when the macros do not fit with the rules' channels,
    TypeError/ValueError for bad arguments. The result passes :func:`check`."""
    instances = _check_instances(instances)
    if not isinstance(rules, Rules):
        raise TypeError(f"rules must be a Rules, not {type(rules).__name__}")
    die_r = Rect(*(float(v) for v in die))
    center = [n for n in instances if n in rules.center]
    columned = [n for n in instances if n not in rules.center]
    if not columned:
        raise FloorplanError("no macros to place in columns")
    w = max(macro_size(instances[n])[0] for n in columned)
    h = max(macro_size(instances[n])[1] for n in columned)
    cols = 2 * rules.columns_per_side
    rows = math.ceil(len(columned) / cols)
    side_w = rules.columns_per_side * w + (rules.columns_per_side - 1) * rules.column_channel
    center_w = die_r.w - 2 * rules.edge_margin - 2 * side_w
    if center_w < rules.center_min:
        raise FloorplanError(f"{len(columned)} macros of {w} um in {cols} columns leave a cell region "
                             f"{center_w:.1f} um wide, less than center_min {rules.center_min} um "
                             f"(die {die_r.w} um wide)")
    free_h = die_r.h - 2 * rules.edge_margin - rows * h
    row_ch = free_h / (rows - 1) if rows > 1 else 0.0
    if rows > 1 and row_ch < rules.min_channel:
        raise FloorplanError(f"{len(columned)} macros need {rows} rows of {h} um per column: the channels "
                             f"between rows would be {row_ch:.1f} um, less than min_channel "
                             f"{rules.min_channel} um (die {die_r.h} um tall)")
    if free_h < 0:
        raise FloorplanError(f"one row of {h} um does not fit the die ({die_r.h} um tall)")
    xs = []
    for c in range(cols):
        side, k = divmod(c, rules.columns_per_side)
        x = die_r.x0 + rules.edge_margin + k * (w + rules.column_channel)
        xs.append(x if side == 0 else x + side_w + center_w)
    placements = []
    for i, name in enumerate(columned):
        c, r = divmod(i, rows)
        left = c < rules.columns_per_side
        orient = ("N" if left else "FN") if r % 2 == 0 else ("FS" if left else "S")
        mw, mh = macro_size(instances[name])
        x = _snap(xs[c], SITE[0], up=left)
        y = _snap(die_r.y0 + rules.edge_margin + r * (h + row_ch), SITE[1], up=2 * r < rows)
        placements.append(Placement(name, instances[name], Rect(x, y, round(x + mw, 3), round(y + mh, 3)), orient))
    cell_region = Rect(max(p.box.x1 for p in placements if p.box.x0 < die_r.x0 + die_r.w / 2),
                       die_r.y0 + rules.edge_margin,
                       min(p.box.x0 for p in placements if p.box.x0 >= die_r.x0 + die_r.w / 2),
                       die_r.y1 - rules.edge_margin)
    top = cell_region.y1
    for name in center:
        mw, mh = macro_size(instances[name])
        x = _snap(cell_region.x0 + (cell_region.w - mw) / 2, SITE[0], up=True)
        y = _snap(top - mh, SITE[1], up=False)
        if y - mh < cell_region.y0:
            raise FloorplanError(f"the cell region has no room left for {name}")
        placements.append(Placement(name, instances[name], Rect(x, y, round(x + mw, 3), round(y + mh, 3)), "N"))
        top = y - rules.min_channel
    channels = tuple(_channels(xs, w, rows, h, row_ch, die_r, rules))
    fp = Floorplan(die_r, tuple(placements), cell_region, rules, channels)
    check(fp)
    return fp


def _channels(xs, w, rows, h, row_ch, die, rules):
    """The routing channels of a column layout, for the picture: between columns of a side
    and between rows."""
    y0, y1 = die.y0 + rules.edge_margin, die.y1 - rules.edge_margin
    for c in range(len(xs) - 1):
        if (c + 1) % rules.columns_per_side:
            yield Rect(xs[c] + w, y0, xs[c + 1], y1)
    for x in xs:
        for r in range(rows - 1):
            ry = y0 + r * (h + row_ch) + h
            yield Rect(x, ry, x + w, ry + row_ch)


def check(fp: Floorplan, pdn: list[str] | None = None) -> None:
    """Raise :exc:`FloorplanError` (one line) unless every macro, grown by the halo, is inside
    the die with ``edge_margin`` to spare; no two macros overlap, halos included; every pair
    of facing macros is at least ``min_channel`` apart; orientations are OpenLane's; and,
    given ``pdn`` (PDN_MACRO_CONNECTIONS), every instance is powered by exactly one entry and
    every entry matches an instance (as OpenLane applies them: :func:`pdn_unmatched`)."""
    if not isinstance(fp, Floorplan):
        raise TypeError(f"fp must be a Floorplan, not {type(fp).__name__}")
    r = fp.rules
    inner = Rect(fp.die.x0 + r.edge_margin, fp.die.y0 + r.edge_margin,
                 fp.die.x1 - r.edge_margin, fp.die.y1 - r.edge_margin)
    names = [p.name for p in fp.placements]
    if len(set(names)) != len(names):
        raise FloorplanError(f"instances placed twice: {sorted({n for n in names if names.count(n) > 1})}")
    eps = 1e-6
    for p in fp.placements:
        if p.orientation not in ORIENTATIONS:
            raise FloorplanError(f"{p.name}: orientation {p.orientation!r} is not one of {list(ORIENTATIONS)}")
        mw, mh = macro_size(p.macro)
        if abs(p.box.w - mw) > 1e-3 or abs(p.box.h - mh) > 1e-3:
            raise FloorplanError(f"{p.name}: box {p.box.w:.2f} x {p.box.h:.2f} um is not the size of {p.macro}")
        if not p.box.grown(-eps).inside(inner):
            raise FloorplanError(f"{p.name} at ({p.box.x0}, {p.box.y0}) leaves the die less its "
                                 f"{r.edge_margin} um margin ({inner.x0}, {inner.y0}, {inner.x1}, {inner.y1})")
    for i, a in enumerate(fp.placements):
        for b in fp.placements[i + 1:]:
            if a.box.grown(r.halo).overlaps(b.box.grown(r.halo)):
                raise FloorplanError(f"{a.name} and {b.name} overlap (halos of {r.halo} um included)")
            g = a.box.gap(b.box)
            if g and g[1] < r.min_channel - eps:
                raise FloorplanError(f"the channel between {a.name} and {b.name} is {g[1]:.2f} um "
                                     f"({g[0]}), less than min_channel {r.min_channel} um")
    if pdn is not None:
        unpowered, unused = pdn_unmatched(names, pdn)
        if unpowered:
            raise FloorplanError(f"no PDN_MACRO_CONNECTIONS entry powers {', '.join(unpowered)}")
        if unused:
            raise FloorplanError(f"PDN_MACRO_CONNECTIONS entries match no instance (OpenLane stops): {unused}")


def pdn_connections(fp: Floorplan, vdd: str = "vccd1", gnd: str = "vssd1") -> list[str]:
    """PDN_MACRO_CONNECTIONS: one entry per instance, ``<name> <vdd net> <gnd net> <vdd pin>
    <gnd pin>`` (the OpenRAM macros' power pins are vccd1/vssd1)."""
    return [f"{re.escape(p.name)} {vdd} {gnd} vccd1 vssd1" for p in fp.placements]


def pdn_unmatched(instances, entries) -> tuple[list[str], list[str]]:
    """(instances no entry matches, entries matching no instance), matching as OpenLane's
    ``set_global_connections.tcl`` does: the entry's first word as a regular expression
    anchored at both ends (``regexp "^$rx$" name``). Entries with fewer than five words
    count as unmatched (OpenLane stops on them)."""
    hit = {n: 0 for n in instances}
    unused = []
    for entry in entries:
        words = entry.split()
        if len(words) < 5:
            unused.append(entry)
            continue
        matched = [n for n in hit if re.fullmatch(words[0], n)]
        for n in matched:
            hit[n] += 1
        if not matched:
            unused.append(entry)
    return [n for n, k in hit.items() if k == 0], unused


def openlane_config(fp: Floorplan, base: dict) -> dict:
    """The OpenLane 2 configuration: ``base`` (``openlane/base.json``) with the floorplan's
    variables: DIE_AREA, FP_SIZING, PL_TARGET_DENSITY_PCT, the halos, MACROS (views from the
    PDK, black boxes from ``src/``, every instance's location and orientation) and
    PDN_MACRO_CONNECTIONS. ValueError if ``base`` sets one of those itself (one place each)."""
    if not isinstance(base, dict):
        raise TypeError(f"base must be a dict, not {type(base).__name__}")
    macros: dict[str, dict] = {}
    for p in fp.placements:
        m = macros.setdefault(p.macro, {
            "gds": [f"pdk_dir::libs.ref/sky130_sram_macros/gds/{p.macro}.gds"],
            "lef": [f"pdk_dir::libs.ref/sky130_sram_macros/lef/{p.macro}.lef"],
            "lib": {"*": [f"pdk_dir::libs.ref/sky130_sram_macros/lib/{p.macro}_TT_1p8V_25C.lib"]},
            "vh": [f"dir::src/{p.macro}.bb.v"],
            "instances": {}})
        m["instances"][p.name] = {"location": [p.box.x0, p.box.y0], "orientation": p.orientation}
    r = fp.rules
    computed = {
        "CLOCK_PORT": f"gpio_in[{pins.pin('clk').gpio}]",   # the chip's one clock pad
        "FP_SIZING": "absolute",
        "DIE_AREA": [fp.die.x0, fp.die.y0, fp.die.x1, fp.die.y1],
        "PL_TARGET_DENSITY_PCT": round(100 * r.target_density),
        "FP_MACRO_HORIZONTAL_HALO": r.halo, "FP_MACRO_VERTICAL_HALO": r.halo,
        "FP_PDN_HORIZONTAL_HALO": r.pdn_halo, "FP_PDN_VERTICAL_HALO": r.pdn_halo,
        "PDN_MACRO_CONNECTIONS": pdn_connections(fp),
        "MACROS": macros,
    }
    clash = sorted(set(base) & set(computed))
    if clash:
        raise ValueError(f"openlane/base.json sets {clash}: the floorplan computes them (floorplan.py)")
    return {**base, **computed}


def config_text(config: dict) -> str:
    """The configuration as the committed file holds it: 2-space JSON with short lists and
    each macro instance on one line."""
    def one_line(m: re.Match) -> str:
        flat = re.sub(r"\s*\n\s*", " ", m.group(0)).replace("[ ", "[").replace(" ]", "]")
        flat = flat.replace("{ ", "{").replace(" }", "}")
        return flat if len(flat) <= 100 else m.group(0)

    text = json.dumps(config, indent=2) + "\n"
    text = re.sub(r"\[[^\[\]{}]*\]", one_line, text)          # lists of scalars
    return re.sub(r"\{[^{}]*\}", one_line, text)               # innermost dicts (instances)


def load_base(path: Path = BASE_CONFIG) -> dict:
    """``openlane/base.json``: the hand-written part of the configuration."""
    return json.loads(Path(path).read_text())


def utilization(fp: Floorplan, cell_mm2: float | None = None) -> dict:
    """Areas in mm^2: die, macros (and with halos), the cell region net of the macros in it
    (with halos), what that region holds at the target density, the free area of the whole
    die (outside macros and halos) and, given ``cell_mm2`` (standard-cell area from
    synthesis), the fractions it needs of the cell region and of the free area."""
    r = fp.rules
    um2 = 1e-6
    macro = sum(p.box.area for p in fp.placements) * um2
    macro_halo = sum(p.box.grown(r.halo).area for p in fp.placements) * um2
    in_region = sum(p.box.grown(r.halo).intersection(fp.cell_region) for p in fp.placements) * um2
    region_net = fp.cell_region.area * um2 - in_region
    free = fp.die.area * um2 - macro_halo
    u = {"die_mm2": fp.die.area * um2, "macros": len(fp.placements), "macro_mm2": macro,
         "macro_fraction": macro / (fp.die.area * um2), "macro_with_halo_mm2": macro_halo,
         "cell_region_mm2": fp.cell_region.area * um2, "cell_region_net_mm2": region_net,
         "cell_region_capacity_mm2": region_net * r.target_density, "free_mm2": free,
         "free_capacity_mm2": free * r.target_density, "target_density": r.target_density,
         "cell_mm2": cell_mm2}
    if cell_mm2 is not None:
        u["cell_fraction_of_region"] = cell_mm2 / region_net
        u["cell_fraction_of_free"] = cell_mm2 / free
        u["total_fraction"] = (macro + cell_mm2) / (fp.die.area * um2)
    return u


def channel_widths(fp: Floorplan) -> dict[str, float]:
    """The narrowest gap between facing macros in x and in y, and to the die edge (um)."""
    out = {"x": math.inf, "y": math.inf}
    for i, a in enumerate(fp.placements):
        for b in fp.placements[i + 1:]:
            g = a.box.gap(b.box)
            if g:
                out[g[0]] = min(out[g[0]], g[1])
    out["edge"] = min(min(p.box.x0 - fp.die.x0, p.box.y0 - fp.die.y0, fp.die.x1 - p.box.x1, fp.die.y1 - p.box.y1)
                      for p in fp.placements)
    return out


# -- make floorplan -----------------------------------------------------------------------------

OUT = synth.REPO / "build" / "floorplan"
OL_PYTHON = synth.REPO / ".venv-openlane" / "bin" / "python"
OLCHECK = Path(__file__).with_name("olcheck.py")


def generate(instances: dict[str, str] | None = None, rules: Rules = Rules(),
             base: dict | None = None) -> tuple[Floorplan, dict]:
    """Plan the chip's macros (default :func:`chip_macros`) and build the OpenLane
    configuration; both checked (:func:`check`, PDN entries included)."""
    fp = plan(chip_macros() if instances is None else instances, rules)
    config = openlane_config(fp, load_base() if base is None else base)
    check(fp, config["PDN_MACRO_CONNECTIONS"])
    return fp, config


def config_is_current(config: dict, path: Path | None = None) -> bool:
    """True when ``path`` (default the committed ``openlane/config.json``) is what
    :func:`generate` makes."""
    path = CONFIG if path is None else path
    return Path(path).is_file() and Path(path).read_text() == config_text(config)


def standin_pdk(pdk_root: Path, out: Path) -> Path:
    """A PDK root for OpenLane's path checks: ``pdk_root``'s ``sky130A/libs.ref`` linked view by
    view, with empty stand-ins for the SRAM macros' GDS where it has none (the synthesis subset
    in ../shared/pdk has no GDS). Returns ``out``; a full PDK is returned as it is."""
    src = Path(pdk_root) / "sky130A" / "libs.ref"
    if not src.is_dir():
        raise ValueError(f"no sky130A/libs.ref under {pdk_root}")
    gds = src / "sky130_sram_macros" / "gds"
    if gds.is_dir():
        return Path(pdk_root)
    out = Path(out)
    for lib in src.iterdir():
        for view in lib.iterdir():
            dst = out / "sky130A" / "libs.ref" / lib.name / view.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.is_symlink():
                dst.symlink_to(view.resolve())
    stand_in = out / "sky130A" / "libs.ref" / "sky130_sram_macros" / "gds"
    stand_in.mkdir(parents=True, exist_ok=True)
    for m in SRAM_MACROS.values():
        (stand_in / f"{m.name}.gds").touch()
    return out


def design_folder(config: dict, out: Path) -> Path:
    """A design folder for OpenLane's checks of ``config``: the file, the SDC and pin order
    beside it, and an empty stand-in for every ``dir::src/`` file it names (the real Verilog is
    staged by :mod:`.gds`). Returns the folder's ``config.json``."""
    import shutil

    out = Path(out)
    (out / "src").mkdir(parents=True, exist_ok=True)
    for name in ("skyspike.sdc", "pin_order.cfg"):
        shutil.copyfile(synth.REPO / "openlane" / name, out / name)
    for ref in re.findall(r'"dir::(src/[^"]+)"', json.dumps(config)):
        (out / ref).touch()
    (out / "config.json").write_text(config_text(config))
    return out / "config.json"


def olcheck(config_path: Path, pdk_root: Path):
    """Run :mod:`.olcheck` on ``config_path`` with OpenLane's own Python; the finished
    process (stdout: the verdict and every problem). FileNotFoundError without .venv-openlane."""
    import subprocess

    if not OL_PYTHON.is_file():
        raise FileNotFoundError(f"{OL_PYTHON} missing: `make setup` creates it")
    return subprocess.run([str(OL_PYTHON), str(OLCHECK), str(config_path), "--pdk-root", str(pdk_root)],
                          capture_output=True, text=True, cwd=Path(config_path).parent, timeout=300)


def synth_cell_area(path: Path = synth.REPO / "build" / "synth" / "top_chip" / "report.json") -> tuple[float | None, str]:
    """(standard-cell mm^2, where it came from) of the chip top's ``make synth`` report, or (None, why)."""
    try:
        report = json.loads(Path(path).read_text())
        return float(report["area"]["std_cell_mm2"]), f"{_rel(path)} ({report.get('config')})"
    except FileNotFoundError:
        return None, f"no {_rel(path)}: run `make synth` for the cell area"
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"unreadable {path}: {exc}"


def _rel(path: Path) -> Path:
    path = Path(path)
    return path.relative_to(synth.REPO) if path.is_relative_to(synth.REPO) else path


def main(argv=None) -> int:
    """``make floorplan``: plan, check, write openlane/config.json, validate it with OpenLane's
    variable definitions, print the summary, draw the picture. Exit 1 (one line) on a broken
    floorplan or an invalid configuration."""
    import argparse
    import os
    import sys

    from . import fpdraw
    from .pdk import PDKNotFound, Sky130

    ap = argparse.ArgumentParser(description="The OpenFrame floorplan: place, check, write openlane/config.json.")
    ap.add_argument("-o", "--out", type=Path, default=OUT, help="picture, summary, scratch (default build/floorplan)")
    ap.add_argument("--check-only", action="store_true", help="do not rewrite openlane/config.json; fail if stale")
    ap.add_argument("--no-olcheck", action="store_true", help="skip OpenLane's variable checks")
    args = ap.parse_args(argv)
    try:
        fp, config = generate()
    except FloorplanError as exc:
        print(f"make floorplan: {exc}", file=sys.stderr)
        return 1
    if config_is_current(config):
        print(f"{_rel(CONFIG)}: up to date")
    elif args.check_only:
        print(f"make floorplan: {_rel(CONFIG)} is stale; run `make floorplan`", file=sys.stderr)
        return 1
    else:
        CONFIG.write_text(config_text(config))
        print(f"{_rel(CONFIG)}: written")
    sides = {}
    try:
        pdk = Sky130()
        for macro in {p.macro for p in fp.placements}:
            if pdk.sram(macro).lef.is_file():
                sides[macro] = fpdraw.pin_sides(pdk.sram(macro).lef)
    except PDKNotFound:
        pdk = None
    if not args.no_olcheck:
        if pdk is None:
            print("make floorplan: no sky130 PDK for OpenLane's checks (set PDK_ROOT)", file=sys.stderr)
            return 1
        root = standin_pdk(pdk.root, args.out / "pdk")
        result = olcheck(design_folder(config, args.out / "design"), root)
        print(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr.strip()[-300:])
        if result.returncode != 0:
            problems = [line for line in result.stdout.splitlines() if line.startswith("error:")]
            print(f"make floorplan: OpenLane rejects the configuration: {problems[0] if problems else result.stderr[-300:]}"
                  + (f" (+{len(problems) - 1} more above)" if len(problems) > 1 else ""), file=sys.stderr)
            return 1
    cell_mm2, source = synth_cell_area()
    util, widths = utilization(fp, cell_mm2), channel_widths(fp)
    text = fpdraw.summary(fp, util, widths, cell_source=source, color=sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    print(text, end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.txt").write_text(fpdraw.summary(fp, util, widths, cell_source=source, color=False))
    (args.out / "floorplan.json").write_text(json.dumps({
        "utilization": util, "channels_um": widths,
        "placements": {p.name: {"macro": p.macro, "box": [p.box.x0, p.box.y0, p.box.x1, p.box.y1],
                                "orientation": p.orientation} for p in fp.placements},
        "cell_region": [fp.cell_region.x0, fp.cell_region.y0, fp.cell_region.x1, fp.cell_region.y1]}, indent=2) + "\n")
    png = fpdraw.draw(fp, args.out / "floorplan.png", sides, GPIO_SIDES)
    print(f"picture: {_rel(png)}; summary: {_rel(args.out / 'summary.txt')}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
