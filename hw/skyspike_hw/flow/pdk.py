"""Where the sky130 files are: an open_pdks installation (ciel or volare) under ``$PDK_ROOT``.

Only ``libs.ref`` is read: the ``sky130_fd_sc_hd`` standard cells and the OpenRAM
``sky130_sram_macros``. Nothing else of the PDK is needed before place and route.
"""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PDK", "SCL", "CORNER", "PDKNotFound", "Sky130", "filter_liberty", "read_liberty_cells",
           "EXCLUDED_CELLS"]

PDK = "sky130A"
SCL = "sky130_fd_sc_hd"
#: The one corner characterised in this flow: typical process, 25 C, 1.80 V.
CORNER = "tt_025C_1v80"
#: The open_pdks version that OpenLane 2.3.10 expects (its ``open_pdks_rev``).
OPEN_PDKS_REV = "0fe599b2afb6708d281543108caf8310912f54af"

#: Cells kept out of synthesis, as OpenLane does for sky130_fd_sc_hd (its ``no_synth.cells``
#: and DRC exclusions): low-power cells for other power domains, probes, and cells that are
#: slow, weak or hard to route. Yosys 0.23 has no ``-dont_use``, so they are removed from a
#: copy of the Liberty file (:func:`filter_liberty`).
EXCLUDED_CELLS = (
    "*__lpflow_*", "*__probe_p_*", "*__probec_p_*",
    "*__a2111oi_0", "*__a21boi_0", "*__and2_0", "*__buf_16", "*__clkdlybuf4s15_1",
    "*__clkdlybuf4s18_1", "*__fa_4", "*__mux4_4", "*__o21ai_0", "*__o311ai_0", "*__or2_0",
    "*__xor3_*", "*__xnor3_*",
)

INSTALL_HELP = f"""\
A sky130 PDK is needed. Install one with ciel (or volare, the same commands) and point PDK_ROOT at it:

    pip install ciel
    ciel enable --pdk-family sky130 {OPEN_PDKS_REV}
    export PDK_ROOT=~/.ciel

(the open_pdks version OpenLane 2.3.10 uses). In a SkySpike development checkout the Makefile
uses ../shared/pdk, a subset with everything `make synth` needs, when PDK_ROOT is not set."""


class PDKNotFound(RuntimeError):
    """No usable sky130A under the PDK root; the message says how to install one."""


@dataclass(frozen=True)
class SRAMMacroFiles:
    """The views of one OpenRAM macro under ``libs.ref/sky130_sram_macros``."""

    name: str
    lib: Path
    lef: Path
    gds: Path
    verilog: Path


class Sky130:
    """The sky130A files of an open_pdks installation.

    Parameters
    ----------
    root : :class:`str` or :class:`~pathlib.Path` or :py:`None`
        The PDK root (the folder that holds ``sky130A/``). :py:`None`: ``$PDK_ROOT``, else
        ciel's and volare's default homes (``~/.ciel``, ``~/.volare``).

    Raises
    ------
    :exc:`PDKNotFound`
        If no candidate holds the standard-cell Liberty file.
    """

    def __init__(self, root=None):
        if root is None and os.environ.get("PDK_ROOT"):
            root = os.environ["PDK_ROOT"]
        candidates = [Path(root)] if root is not None else [Path.home() / ".ciel", Path.home() / ".volare"]
        for cand in candidates:
            self.root = cand.expanduser().resolve()
            if self.liberty.is_file():
                return
        raise PDKNotFound(f"no {PDK} standard-cell library at {self.liberty}\n\n{INSTALL_HELP}")

    @property
    def path(self) -> Path:
        return self.root / PDK

    @property
    def scl_dir(self) -> Path:
        return self.path / "libs.ref" / SCL

    @property
    def liberty(self) -> Path:
        return self.scl_dir / "lib" / f"{SCL}__{CORNER}.lib"

    @property
    def tech_lef(self) -> Path:
        return self.scl_dir / "techlef" / f"{SCL}__nom.tlef"

    @property
    def cell_lef(self) -> Path:
        return self.scl_dir / "lef" / f"{SCL}.lef"

    def sram(self, name: str) -> SRAMMacroFiles:
        """The files of the OpenRAM macro ``name`` (they need not all exist; see :meth:`need`)."""
        base = self.path / "libs.ref" / "sky130_sram_macros"
        return SRAMMacroFiles(
            name=name,
            lib=base / "lib" / f"{name}_TT_1p8V_25C.lib",
            lef=base / "lef" / f"{name}.lef",
            gds=base / "gds" / f"{name}.gds",
            verilog=base / "verilog" / f"{name}.v",
        )

    def need(self, *paths: Path) -> None:
        """Raise :exc:`PDKNotFound` naming every one of ``paths`` that is missing."""
        missing = [str(p) for p in paths if not Path(p).is_file()]
        if missing:
            raise PDKNotFound("missing from the PDK at " + str(self.root) + ":\n  "
                              + "\n  ".join(missing) + "\n\n" + INSTALL_HELP)


# -- Liberty ------------------------------------------------------------------------------------

_CELL_RE = re.compile(r'^[ \t]*cell\s*\(\s*"?([\w$]+)"?\s*\)\s*\{', re.M)


def _cell_groups(text: str):
    """Yield ``(name, start, end)`` of every top-level ``cell (...) { ... }`` group."""
    pos = 0
    for m in _CELL_RE.finditer(text):
        if m.start() < pos:
            continue  # a nested match inside the previous cell
        depth, j = 0, m.end() - 1
        while True:
            c = text[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            elif c == '"':  # skip strings: they never hold braces we should count
                j = text.index('"', j + 1)
            j += 1
        yield m.group(1), m.start(), j + 1
        pos = j + 1


def filter_liberty(src: Path, dst: Path, exclude=EXCLUDED_CELLS) -> list[str]:
    """Copy the Liberty file ``src`` to ``dst`` without the cells matching ``exclude``
    (glob patterns). Written atomically; returns the names removed."""
    text = Path(src).read_text()
    out, removed, pos = [], [], 0
    for name, start, end in _cell_groups(text):
        out.append(text[pos:start])
        if any(fnmatch.fnmatchcase(name, pat) for pat in exclude):
            removed.append(name)
        else:
            out.append(text[start:end])
        pos = end
    out.append(text[pos:])
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}")
    tmp.write_text("".join(out))
    os.replace(tmp, dst)
    return removed


@dataclass(frozen=True)
class LibCell:
    """What the report needs of one Liberty cell."""

    area: float            #: um^2
    sequential: bool       #: has an ``ff`` group (a flip-flop)
    latch: bool            #: has a ``latch`` group
    leakage: float         #: ``cell_leakage_power``, in the library's leakage unit


def read_liberty_cells(path: Path) -> dict[str, LibCell]:
    """Area, kind and leakage of every cell of a Liberty file."""
    text = Path(path).read_text()
    cells = {}
    for name, start, end in _cell_groups(text):
        body = text[start:end]
        area = re.search(r"\barea\s*:\s*([0-9.eE+-]+)", body)
        leak = re.search(r"\bcell_leakage_power\s*:\s*([0-9.eE+-]+)", body)
        cells[name] = LibCell(
            area=float(area.group(1)) if area else 0.0,
            sequential=re.search(r"^\s*ff\s*\(", body, re.M) is not None,
            latch=re.search(r"^\s*latch\s*\(", body, re.M) is not None,
            leakage=float(leak.group(1)) if leak else 0.0,
        )
    return cells


def lef_size(path: Path) -> tuple[float, float]:
    """``SIZE w BY h`` (um) of the first macro of a LEF file."""
    m = re.search(r"^\s*SIZE\s+([0-9.]+)\s+BY\s+([0-9.]+)", Path(path).read_text(), re.M)
    if not m:
        raise ValueError(f"no SIZE in {path}")
    return float(m.group(1)), float(m.group(2))
