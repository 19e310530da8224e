"""``make coverage``: the regression's functional coverage (bins of skyspike.chip.coverage, from
the JSON files the runs wrote) and the line, branch and toggle coverage of the generated core
Verilog (Verilator's coverage.dat of the same runs), with what is not covered.

    python -m skyspike.apps.coverage build/coverage [--config small] [--min-line 95]

Exit status 1 when a functional bin is not hit or line coverage is below ``--min-line``.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from skyspike.chip.coverage import Coverage
from skyspike.rtlsim.linecov import merge, source_line
from skyspike.spec.config import CONFIGS, get_config

#: The Verilog the regression simulates, and what Yosys writes into it that no input can reach.
CORE_VERILOG = "skyspike_core.v"


def functional(folder: Path, cfg) -> Coverage:
    return Coverage.load_all(cfg, sorted(folder.glob("*.json")))


def pmux_default(lines: list[str], number: int) -> bool:
    """Line ``number`` is the ``default:`` arm of one of Yosys' one-hot multiplexers (a ``$pmux``
    written as ``casez (s) // synopsys parallel_case``): taken only when no select line is set,
    which the design never does (the selects decode an index within its array's range)."""
    if lines[number - 1].strip() != "default:":
        return False
    for back in range(number - 2, max(-1, number - 400), -1):
        if lines[back].lstrip().startswith(("casez", "case ")):
            return "parallel_case" in lines[back]
    return False


def unreachable(kinds, verilog: Path | None) -> int:
    """Missed line points that are pmux default arms (:func:`pmux_default`), removed from the
    misses of ``kinds["line"]``; their number."""
    if verilog is None or "line" not in kinds:
        return 0
    lines = verilog.read_text(errors="replace").splitlines()
    k = kinds["line"]
    keep = [f for f in k.missed if not pmux_default(lines, int(f.get("l", 0)))]
    removed = len(k.missed) - len(keep)
    k.missed, k.total = keep, k.total - removed
    return removed


def missed_lines(kind, verilog: Path | None) -> list[str]:
    """The missed points of one kind, grouped by the Verilog text of their line."""
    by_text = Counter()
    for f in kind.missed:
        text = source_line(verilog, int(f.get("l", 0))) if verilog else f.get("o", "?")
        by_text[f"{f.get('o', '?')}: {text[:70]}"] += 1
    return [f"{n:5d} x {text}" for text, n in by_text.most_common(12)]


def report(folder: Path, cfg_name: str, min_line: float) -> int:
    cfg = get_config(cfg_name)
    cov = functional(folder, cfg)
    print(f"regression: {cov.hits['networks compared']} networks, {cov.hits['inferences compared']} inferences "
          f"compared with the golden model (spikes, membranes, cycles), 0 mismatches (a mismatch fails the run)")
    print(cov.report())
    dats = sorted(folder.glob("*.dat"))
    ok = not cov.missing
    if not dats:
        print("no coverage.dat: run the regression with COVERAGE_DIR set on Verilator (make coverage)")
        return 1
    kinds = merge(dats, CORE_VERILOG)
    verilog = next((Path(f["f"]) for k in kinds.values() for f in k.missed if "f" in f), None)
    excluded = unreachable(kinds, verilog)
    print(f"\nline coverage of the generated {CORE_VERILOG} ({len(dats)} Verilator runs):")
    for name in ("line", "branch", "toggle"):
        k = kinds.get(name)
        if k:
            print(f"  {name:7s} {k.hit:6d}/{k.total:<6d} {100 * k.fraction:5.1f}%")
    statements = merge_statements(kinds)
    print(f"  statements and branches together: {100 * statements:.1f}% (required >= {min_line:g}%)")
    print(f"  not counted: {excluded} default arms of Yosys' one-hot multiplexers (casez ... parallel_case),"
          f" taken only when no select line is set (an index outside its array)")
    for name in ("line", "branch"):
        if kinds.get(name) and kinds[name].missed:
            print(f"  not covered ({name}), by Verilog line:")
            print("\n".join("    " + line for line in missed_lines(kinds[name], verilog)))
    return 0 if ok and 100 * statements >= min_line else 1


def merge_statements(kinds) -> float:
    parts = [kinds[k] for k in ("line", "branch") if k in kinds]
    total = sum(k.total for k in parts)
    return sum(k.hit for k in parts) / total if total else 1.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m skyspike.apps.coverage", description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="where the runs wrote their coverage (COVERAGE_DIR)")
    ap.add_argument("--config", default="small", choices=list(CONFIGS))
    ap.add_argument("--min-line", type=float, default=95.0)
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder}: no such folder (run `make coverage`)", file=sys.stderr)
        return 2
    return report(args.folder, args.config, args.min_line)


if __name__ == "__main__":
    sys.exit(main())
